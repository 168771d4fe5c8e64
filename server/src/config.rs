//! Server configuration: the `slipway` command line, each flag also an
//! environment variable (`SLIPWAY_…`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    about = "Continuous delivery from registry push to cluster"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, accepted without the word `serve` too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create the user if missing and print a new API token as the last line of stdout.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: Option<GlobalRole>,
        /// A name to recognise the token by in the token list.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token stops working (1 to 3650); without it the token never expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create the user if missing and set its password, read from stdin (one line).
    SetPassword {
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: Option<GlobalRole>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GlobalRole {
    Admin,
    User,
}

#[derive(Clone, Debug, Args)]
pub struct StorageArgs {
    /// Directory for the SQLite database and the keys.
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite:PATH`; defaults to `<data-dir>/slipway.db`.
    #[arg(long, env = "SLIPWAY_DATABASE_URL")]
    pub database_url: Option<UrlWithCredentials>,
}

impl StorageArgs {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite:{}", self.data_dir.join("slipway.db").display()),
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Base URL of this server as registries reach it (for hook URLs); defaults to http://<listen>.
    #[arg(long, env = "SLIPWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Base URL of the Docker Hub API.
    #[arg(
        long,
        env = "SLIPWAY_DOCKER_HUB_API_URL",
        default_value = "https://hub.docker.com"
    )]
    pub docker_hub_api_url: String,
    /// Hosts (`host` or `host:port`, comma-separated) Docker Hub callbacks may go to:
    /// when set, a run started by a Docker Hub push reports its end to the push's
    /// `callback_url` if that URL's host is listed. Unset: no callbacks (the default).
    #[arg(long, env = "SLIPWAY_DOCKER_HUB_CALLBACK_HOSTS", value_delimiter = ',')]
    pub docker_hub_callback_hosts: Vec<String>,
    /// HTTP(S) proxy for endpoints marked "cloud proxy" (registries reachable only from inside a network).
    #[arg(long, env = "SLIPWAY_CLOUD_PROXY_URL")]
    pub cloud_proxy_url: Option<UrlWithCredentials>,
    /// Refuse outbound calls (REST/Poll tasks, endpoint validation, Kubernetes
    /// tasks, Docker Hub, callbacks) to loopback, link-local, private and
    /// cloud-metadata addresses. Off by default: clusters and registries of a
    /// self-hosted install often live on private addresses.
    #[arg(long, env = "SLIPWAY_DENY_PRIVATE_EGRESS")]
    pub deny_private_egress: bool,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "SLIPWAY_LOG_JSON")]
    pub log_json: bool,
}

/// A URL that may carry a password (`postgres://user:password@host/db`, a
/// proxy's `http://user:password@proxy:3128`): debug output shows it with the
/// password replaced, so printing the configuration never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlWithCredentials(String);

impl UrlWithCredentials {
    /// The URL itself, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((user_info, host)) => {
                let user = user_info.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:<redacted>@{host}{path}")
            }
            None => self.0.clone(),
        }
    }
}

impl std::str::FromStr for UrlWithCredentials {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(UrlWithCredentials(url.to_string()))
    }
}

impl From<&str> for UrlWithCredentials {
    fn from(url: &str) -> Self {
        UrlWithCredentials(url.to_string())
    }
}

impl std::fmt::Debug for UrlWithCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::UrlWithCredentials;

    #[test]
    fn debug_output_hides_the_password_of_a_url() {
        let shown = |url: &str| format!("{:?}", UrlWithCredentials::from(url));
        assert_eq!(
            shown("postgres://slipway:hunter2@db:5432/slipway?sslmode=require"),
            "postgres://slipway:<redacted>@db:5432/slipway?sslmode=require"
        );
        assert_eq!(
            shown("http://u:p@ss@proxy:3128"),
            "http://u:<redacted>@proxy:3128"
        );
        assert_eq!(shown("sqlite:data/slipway.db"), "sqlite:data/slipway.db");
        assert_eq!(shown("http://proxy:3128"), "http://proxy:3128");
    }

    #[test]
    fn the_whole_configuration_debug_prints_without_secrets() {
        use clap::Parser;
        let cli = super::Cli::parse_from([
            "slipway",
            "--database-url",
            "postgres://slipway:db-secret@db/slipway",
            "--cloud-proxy-url",
            "http://u:proxy-secret@proxy:3128",
        ]);
        let printed = format!("{cli:?}");
        assert!(
            printed.contains("postgres://slipway:<redacted>@db/slipway"),
            "{printed}"
        );
        assert!(
            !printed.contains("db-secret") && !printed.contains("proxy-secret"),
            "{printed}"
        );
    }
}
