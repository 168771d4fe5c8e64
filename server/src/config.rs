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
    pub database_url: Option<String>,
}

impl StorageArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("slipway.db").display()))
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
    pub cloud_proxy_url: Option<String>,
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
