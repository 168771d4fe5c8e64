//! What the benches share: the real server started in-process on port 0 with
//! its own SQLite data directory, an admin API token, a JSON client, the
//! `slipway` binary as a process of its own, and the small statistics they
//! print. `mod support;` in each bench (not a bench itself).

#![allow(dead_code)] // each bench uses a different part

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app::model::TokenRequest;
use serde_json::Value;
use server::clock::now_millis;
use server::config::{ServeArgs, StorageArgs};
use server::service::issue_api_token;
use server::startup::Application;
use server::store::SharedStore;

/// reqwest and kube need a process-wide rustls provider before their first client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The value at `fraction` (0.5 = median) of an ascending slice.
pub fn percentile<T: Copy>(sorted: &[T], fraction: f64) -> T {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `p50 … p95 … p99 … max …` of durations, in ms.
pub fn summary(durations: &mut [Duration]) -> String {
    durations.sort_unstable();
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        millis(percentile(durations, 0.5)),
        millis(percentile(durations, 0.95)),
        millis(percentile(durations, 0.99)),
        millis(durations[durations.len() - 1]),
    )
}

/// A `VmRSS:`/`VmHWM:`-style line of a `/proc/PID/status` text, in MiB.
pub fn status_mib(status: &str, key: &str) -> f64 {
    status
        .lines()
        .find(|line| line.starts_with(key))
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Peak resident set size of this process (the server runs in it), in MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib(
        &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
        "VmHWM:",
    )
}

/// The database the benches' servers use: `BACKEND=postgres` for PostgreSQL, else SQLite.
pub fn backend() -> &'static str {
    match std::env::var("BACKEND").as_deref() {
        Ok("postgres") => "PostgreSQL",
        _ => "SQLite",
    }
}

/// POSTs a JSON body with an API token.
pub fn send_post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: &Value,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    client.post(url).bearer_auth(token).json(body).send()
}

/// The server serving on `127.0.0.1:0` in this process, with an admin API token.
pub struct Bench {
    pub base: String,
    pub store: SharedStore,
    pub token: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
}

impl Bench {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts the server with adjusted arguments; `data_dir` may hold a database already.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeArgs)) -> anyhow::Result<Self> {
        Self::start_in(tempfile::tempdir()?, adjust).await
    }

    pub async fn start_in(
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServeArgs),
    ) -> anyhow::Result<Self> {
        install_crypto_provider();
        let mut args = ServeArgs {
            listen: "127.0.0.1:0".parse()?,
            storage: StorageArgs {
                data_dir: data_dir.path().to_path_buf(),
                database_url: None,
            },
            public_url: None,
            docker_hub_api_url: "http://127.0.0.1:9".into(),
            docker_hub_registry_url: "http://127.0.0.1:9".into(),
            cloud_proxy_url: None,
            docker_hub_callback_hosts: Vec::new(),
            deny_private_egress: false,
            log_json: false,
            site_root: ServeArgs::site_root_from_env(),
            access: Default::default(),
            replica: Default::default(),
            notifications: Default::default(),
            retention: Default::default(),
        };
        adjust(&mut args);
        let application = Application::build(&args).await?;
        let base = format!("http://127.0.0.1:{}", application.port());
        let store = application.store.clone();
        tokio::spawn(application.run_until_stopped(std::future::pending()));
        let admin = store.ensure_user("bench", true, now_millis()).await?;
        let token = issue_api_token(&store, admin.id, &TokenRequest::never_expiring("bench"))
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?
            .token;
        Ok(Bench {
            base,
            store,
            token,
            client: reqwest::Client::new(),
            data_dir,
        })
    }

    /// `REPLICAS` servers (default 1) in this process on one database, the
    /// key for stored secrets shared: with `BACKEND=postgres` a fresh
    /// PostgreSQL database on `SLIPWAY_TEST_POSTGRES_URL`'s cluster (several
    /// replicas need it), else SQLite in the first one's data directory.
    pub async fn start_replicas() -> anyhow::Result<Vec<Bench>> {
        let replicas = env_number("REPLICAS", 1).max(1);
        let database_url = match backend() {
            "PostgreSQL" => Some(server::test_support::fresh_postgres_database().await),
            _ => None,
        };
        anyhow::ensure!(
            replicas == 1 || database_url.is_some(),
            "REPLICAS={replicas} needs BACKEND=postgres: replicas share a PostgreSQL database"
        );
        let on_the_database = |args: &mut ServeArgs| {
            args.storage.database_url = database_url.as_deref().map(Into::into);
        };
        let first = Bench::start_with(on_the_database).await?;
        let key = first.data_dir.path().join(server::crypto::KEY_FILE);
        let mut all = vec![first];
        for _ in 1..replicas {
            let data_dir = tempfile::tempdir()?;
            std::fs::copy(&key, data_dir.path().join(server::crypto::KEY_FILE))?;
            all.push(Bench::start_in(data_dir, on_the_database).await?);
        }
        Ok(all)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A POST to the server function at `/api/{endpoint}` as a page of this
    /// server sends it (`Origin` is the server's address).
    pub fn server_function(&self, endpoint: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(&format!("/api/{endpoint}")))
            .header("Origin", &self.base)
            .header("Accept", "application/json")
    }

    /// POSTs JSON with the admin token; any answer but 2xx is an error.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = send_post(&self.client, self.url(path), &self.token, &body).await?;
        let status = answer.status();
        let text = answer.text().await?;
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a Docker webhook on `registry_endpoint` and answers (its id, the Docker Hub hook URL).
    pub async fn docker_hub_webhook(&self, body: Value) -> anyhow::Result<(i64, String)> {
        let webhook = self.post("/api/v1/webhooks/docker", body).await?;
        // A `registry` endpoint's hook URL names the registry receiver; the secure
        // token is the same for the Docker Hub one.
        let hook_url = webhook["hook_url"]
            .as_str()
            .unwrap_or_default()
            .replace("registry-webhooks", "docker-hub-webhooks");
        Ok((webhook["id"].as_i64().unwrap_or_default(), hook_url))
    }
}

/// The `slipway` binary cargo built for the benches (the `bench` profile is
/// `release`), or the one `SLIPWAY_BIN` names.
pub fn slipway_binary() -> String {
    std::env::var("SLIPWAY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_slipway").to_string())
}

/// Runs a `slipway` command to its end (`user set-password`, `token create`)
/// with `stdin` as its input; answers its standard output.
pub fn slipway_command(args: &[&str], stdin: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = Command::new(slipway_binary())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "slipway {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// `slipway serve` as a process of its own on `127.0.0.1:0`, killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl ServerProcess {
    /// Starts it on `data_dir` with `extra` flags, and waits until `/healthz` answers.
    pub async fn start(data_dir: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(slipway_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let server = ServerProcess {
            child,
            base: line
                .trim()
                .strip_prefix("Slipway is listening on ")
                .ok_or_else(|| anyhow::anyhow!("unexpected first line: {line}"))?
                .to_string(),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while !client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success())
        {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "no /healthz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    /// `kill -9`, and waits until it is gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// (VmRSS, VmHWM) of the process, in MiB.
    pub fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        (status_mib(&status, "VmRSS:"), status_mib(&status, "VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry for the benches' pushes: the Docker Hub stand-in's Registry
/// API, holding `svendowideit/testhook` (the fixture's repository) under each
/// of `tags`. Docker Hub's payload names no digest, so every triggering
/// delivery resolves its tag there (a HEAD; the token is cached).
pub async fn registry_with_tags(
    tags: impl IntoIterator<Item = String>,
) -> anyhow::Result<slipway_standins::hub::HubStandinHandle> {
    let registry = slipway_standins::hub::HubStandin::builder()
        .credentials("svendowideit", "bench-password")
        .start()
        .await?;
    for tag in tags {
        registry.store_image("svendowideit", "testhook", &tag, &[]);
    }
    Ok(registry)
}
