//! Server configuration: the `slipway` command line, each flag also an
//! environment variable (`SLIPWAY_…`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::{default_replica_id, EngineSettings, DEFAULT_LEASE};
use crate::notify::{EmailSettings, RetryPolicy, DEFAULT_RETRY_BASE};
use crate::receive::cidr::Cidr;
use crate::retention::{RetentionPolicy, DEFAULT_KEEP_DAYS, DEFAULT_PRUNE_INTERVAL, MAX_KEEP_DAYS};
use crate::service::sign_in_guard::{
    DEFAULT_CONCURRENT_HASHES, DEFAULT_FAILURES_PER_ADDRESS, DEFAULT_FAILURES_PER_USER_NAME,
    FAILURE_WINDOW,
};
use crate::service::SignInLimits;
use crate::throttle::Budget;

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
    /// Run the server (the default). Boxed: it is much larger than the others.
    Serve(Box<ServeArgs>),
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
    /// Copy the SQLite database to a file, consistent, while the server runs.
    /// The key in secret.key (or SLIPWAY_SECRET_KEY) is not in the copy: keep
    /// it with the backup, stored apart.
    Backup {
        /// The file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Put a backup in place as the database of a data directory that has
    /// none yet; its key (secret.key or SLIPWAY_SECRET_KEY) must be the one
    /// kept with the backup.
    Restore {
        /// The backup file (made by `slipway backup`).
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
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
    /// Directory for the SQLite database and the key that seals stored secrets
    /// (secret.key, made at the first start; SLIPWAY_SECRET_KEY, 32 bytes in base64, instead).
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
    /// Where Docker Hub tags are resolved to the digest a run deploys (the Registry API).
    #[arg(
        long,
        env = "SLIPWAY_DOCKER_HUB_REGISTRY_URL",
        default_value = "https://registry-1.docker.io"
    )]
    pub docker_hub_registry_url: String,
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
    /// The built site the pages load (wasm, JS, CSS, icons): what `cargo leptos build`
    /// wrote to `target/site`. cargo-leptos and the scripts set the variable.
    #[arg(long, env = SITE_ROOT_VARIABLE, default_value = DEFAULT_SITE_ROOT)]
    pub site_root: PathBuf,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub replica: ReplicaArgs,
    #[command(flatten)]
    pub notifications: NotificationArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// The variable cargo-leptos sets to where it built the site.
const SITE_ROOT_VARIABLE: &str = "LEPTOS_SITE_ROOT";
const DEFAULT_SITE_ROOT: &str = "target/site";

impl ServeArgs {
    /// The site root `slipway serve` uses when no flag names one: for
    /// arguments built in code (tests, benches) rather than parsed.
    pub fn site_root_from_env() -> PathBuf {
        std::env::var_os(SITE_ROOT_VARIABLE)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SITE_ROOT))
    }
}

/// How long history is kept.
#[derive(Clone, Debug, Args)]
pub struct RetentionArgs {
    /// Days finished runs (with their task logs) and Activity rows are
    /// kept; older ones are pruned hourly, one replica at a time. Never
    /// pruned: a run queued, running or waiting, the last run of each
    /// pipeline, the audit trail. 0 keeps everything (pruning off).
    #[arg(
        long,
        env = "SLIPWAY_KEEP_DAYS",
        default_value_t = DEFAULT_KEEP_DAYS,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_KEEP_DAYS))
    )]
    pub keep_days: u32,
    /// Milliseconds between two retention passes of this replica (the first
    /// comes at most a minute after the start). For tests; hidden from --help.
    #[arg(
        long,
        env = "SLIPWAY_PRUNE_INTERVAL_MS",
        hide = true,
        default_value_t = DEFAULT_PRUNE_INTERVAL.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(10..=DEFAULT_PRUNE_INTERVAL.as_millis() as u64 * 24)
    )]
    pub prune_interval_ms: u64,
}

impl Default for RetentionArgs {
    fn default() -> Self {
        RetentionArgs {
            keep_days: DEFAULT_KEEP_DAYS,
            prune_interval_ms: DEFAULT_PRUNE_INTERVAL.as_millis() as u64,
        }
    }
}

impl RetentionArgs {
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy::days(
            self.keep_days,
            Duration::from_millis(self.prune_interval_ms),
        )
    }
}

/// How pipelines' notifications are sent.
#[derive(Clone, Debug, Args)]
pub struct NotificationArgs {
    /// Mail server for email notifications: `smtp://HOST:PORT` (plain),
    /// `smtp://HOST:PORT?tls=required` (STARTTLS) or `smtps://HOST:PORT`,
    /// optionally with `USER:PASSWORD@`. Unset: pipelines cannot notify by email.
    #[arg(long, env = "SLIPWAY_SMTP_URL")]
    pub smtp_url: Option<UrlWithCredentials>,
    /// Sender of email notifications, e.g. `Slipway <slipway@example.com>`; needed with --smtp-url.
    #[arg(long, env = "SLIPWAY_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Milliseconds before a failed notification's first retry (doubling
    /// after each attempt up to five minutes). For tests; hidden from --help.
    #[arg(
        long,
        env = "SLIPWAY_NOTIFICATION_RETRY_BASE_MS",
        hide = true,
        default_value_t = DEFAULT_RETRY_BASE.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(10..=300_000)
    )]
    pub notification_retry_base_ms: u64,
}

impl Default for NotificationArgs {
    fn default() -> Self {
        NotificationArgs {
            smtp_url: None,
            smtp_from: None,
            notification_retry_base_ms: DEFAULT_RETRY_BASE.as_millis() as u64,
        }
    }
}

impl NotificationArgs {
    /// The mail server and sender, when both are given; one without the
    /// other, or either unusable, is a configuration error naming the flag.
    pub fn email(&self) -> anyhow::Result<Option<EmailSettings>> {
        match (&self.smtp_url, &self.smtp_from) {
            (None, None) => Ok(None),
            (Some(url), Some(from)) => EmailSettings::new(url.clone(), from).map(Some),
            (Some(_), None) => anyhow::bail!(
                "--smtp-url needs --smtp-from: the address email notifications are sent from"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--smtp-from needs --smtp-url: the mail server email notifications go through"
            ),
        }
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(self.notification_retry_base_ms),
            ..RetryPolicy::default()
        }
    }
}

/// This process as one replica of several on one PostgreSQL database (and
/// the single server's own runs across a restart).
#[derive(Clone, Debug, Args)]
pub struct ReplicaArgs {
    /// This replica's name in run logs ("taken over from replica …"):
    /// letters, digits, `.`, `_`, `-`, `:`, at most 100. Default: host name and PID.
    #[arg(long, env = "SLIPWAY_REPLICA_ID", value_parser = parse_replica_id)]
    pub replica_id: Option<String>,
    /// Seconds a replica's claim on a run holds without renewal (renewed
    /// every second while it runs): a run of a replica that died is taken
    /// over this long after its last renewal.
    #[arg(
        long,
        env = "SLIPWAY_RUN_LEASE_SECONDS",
        default_value_t = DEFAULT_LEASE.as_secs(),
        value_parser = clap::value_parser!(u64).range(2..=3600)
    )]
    pub run_lease_seconds: u64,
    /// On SIGTERM, seconds running tasks may take to finish before the
    /// rest of their runs is handed to another replica.
    #[arg(
        long,
        env = "SLIPWAY_SHUTDOWN_GRACE_SECONDS",
        default_value_t = DEFAULT_SHUTDOWN_GRACE.as_secs(),
        value_parser = clap::value_parser!(u64).range(0..=3600)
    )]
    pub shutdown_grace_seconds: u64,
    /// Milliseconds a webhook read for a delivery answers for the next
    /// deliveries with its token. A change made on this replica applies at
    /// once; one made on another replica reaches this one within this time.
    /// 0 reads the webhook for every delivery.
    #[arg(
        long,
        env = "SLIPWAY_WEBHOOK_CACHE_MS",
        default_value_t = DEFAULT_WEBHOOK_CACHE.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(0..=60_000)
    )]
    pub webhook_cache_ms: u64,
}

/// How long a webhook read for a delivery answers for the next ones, unless
/// `--webhook-cache-ms` says otherwise.
pub const DEFAULT_WEBHOOK_CACHE: Duration = Duration::from_secs(2);

/// How long running tasks may take to finish on SIGTERM, unless `--shutdown-grace-seconds` says otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Default for ReplicaArgs {
    fn default() -> Self {
        ReplicaArgs {
            replica_id: None,
            run_lease_seconds: DEFAULT_LEASE.as_secs(),
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE.as_secs(),
            webhook_cache_ms: DEFAULT_WEBHOOK_CACHE.as_millis() as u64,
        }
    }
}

impl ReplicaArgs {
    pub fn engine_settings(&self) -> EngineSettings {
        EngineSettings {
            replica_id: self.replica_id.clone().unwrap_or_else(default_replica_id),
            lease: Duration::from_secs(self.run_lease_seconds),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    pub fn webhook_cache(&self) -> Duration {
        Duration::from_millis(self.webhook_cache_ms)
    }
}

fn parse_replica_id(id: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if id.is_empty() || id.len() > 100 || !id.chars().all(allowed) {
        return Err(
            "a replica id is 1 to 100 letters, digits, '.', '_', '-' or ':' (e.g. a pod name)"
                .into(),
        );
    }
    Ok(id.to_string())
}

/// Who may knock how often: sign-in limits and the client address behind a proxy.
#[derive(Clone, Debug, Args)]
pub struct AccessArgs {
    /// Password checks (argon2id: 19 MiB and tens of milliseconds of a core
    /// each) run at once; sign-ins beyond are answered 503 with Retry-After.
    #[arg(
        long,
        env = "SLIPWAY_MAX_CONCURRENT_PASSWORD_CHECKS",
        default_value_t = DEFAULT_CONCURRENT_HASHES as u32,
        value_parser = clap::value_parser!(u32).range(1..=1024)
    )]
    pub max_concurrent_password_checks: u32,
    /// Failed sign-ins a user name may have in 15 minutes (they drain
    /// evenly); more are answered 429 with Retry-After.
    #[arg(
        long,
        env = "SLIPWAY_SIGN_IN_FAILURES_PER_USER",
        default_value_t = DEFAULT_FAILURES_PER_USER_NAME,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub sign_in_failures_per_user: u32,
    /// Failed sign-ins a client address (an IPv6 /64) may have in 15 minutes.
    #[arg(
        long,
        env = "SLIPWAY_SIGN_IN_FAILURES_PER_ADDRESS",
        default_value_t = DEFAULT_FAILURES_PER_ADDRESS,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub sign_in_failures_per_address: u32,
    /// Reverse proxies (addresses or CIDRs, comma-separated) whose
    /// `X-Forwarded-For` names the client. Unset: the TCP peer is the
    /// client, so behind a proxy every client has the proxy's address.
    #[arg(long, env = "SLIPWAY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = Cidr::parse)]
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for AccessArgs {
    fn default() -> Self {
        AccessArgs {
            max_concurrent_password_checks: DEFAULT_CONCURRENT_HASHES as u32,
            sign_in_failures_per_user: DEFAULT_FAILURES_PER_USER_NAME,
            sign_in_failures_per_address: DEFAULT_FAILURES_PER_ADDRESS,
            trusted_proxies: Vec::new(),
        }
    }
}

impl AccessArgs {
    pub fn sign_in_limits(&self) -> SignInLimits {
        SignInLimits {
            concurrent_hashes: self.max_concurrent_password_checks as usize,
            per_user_name: Budget {
                burst: self.sign_in_failures_per_user,
                window: FAILURE_WINDOW,
            },
            per_address: Budget {
                burst: self.sign_in_failures_per_address,
                window: FAILURE_WINDOW,
            },
        }
    }
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
    fn replica_flags_are_checked() {
        use clap::Parser;
        let parsed = |args: &[&str]| {
            super::Cli::try_parse_from([&["slipway"], args].concat()).map(|cli| cli.serve.replica)
        };
        let defaults = parsed(&[]).unwrap();
        assert_eq!(
            (defaults.run_lease_seconds, defaults.shutdown_grace_seconds),
            (30, 30)
        );
        assert!(defaults.engine_settings().replica_id.contains('-'));
        let set = parsed(&["--replica-id", "slipway-0", "--run-lease-seconds", "5"]).unwrap();
        assert_eq!(set.engine_settings().replica_id, "slipway-0");
        assert_eq!(set.engine_settings().lease.as_secs(), 5);
        for refused in [
            &["--replica-id", ""][..],
            &["--replica-id", "a b"],
            &["--run-lease-seconds", "1"],
            &["--shutdown-grace-seconds", "3601"],
        ] {
            assert!(parsed(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn email_needs_both_smtp_flags_and_never_quotes_the_password() {
        use clap::Parser;
        let email = |args: &[&str]| {
            super::Cli::try_parse_from([&["slipway"], args].concat())
                .unwrap()
                .serve
                .notifications
                .email()
        };
        assert!(email(&[]).unwrap().is_none());
        let configured = email(&[
            "--smtp-url",
            "smtp://mailer:hunter2@127.0.0.1:2525",
            "--smtp-from",
            "Slipway <slipway@example.com>",
        ])
        .unwrap()
        .unwrap();
        let printed = format!("{configured:?}");
        assert!(
            printed.contains("127.0.0.1:2525") && !printed.contains("hunter2"),
            "{printed}"
        );
        for (args, flag) in [
            (
                &["--smtp-url", "smtp://127.0.0.1:25"][..],
                "--smtp-url needs --smtp-from",
            ),
            (
                &["--smtp-from", "a@example.com"],
                "--smtp-from needs --smtp-url",
            ),
            (
                &[
                    "--smtp-url",
                    "http://u:hunter2@mail",
                    "--smtp-from",
                    "a@example.com",
                ],
                "--smtp-url is not",
            ),
            (
                &[
                    "--smtp-url",
                    "smtp://127.0.0.1:25",
                    "--smtp-from",
                    "not an address",
                ],
                "--smtp-from is not",
            ),
        ] {
            let refused = email(args).unwrap_err().to_string();
            assert!(refused.starts_with(flag), "{refused}");
            assert!(!refused.contains("hunter2"), "{refused}");
        }
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
