//! What the benches share: the real server started in-process on port 0 with
//! its own SQLite data directory, an admin API token, a JSON client, and the
//! small statistics they print. `mod support;` in each bench (not a bench itself).

#![allow(dead_code)] // each bench uses a different part

use std::time::Duration;

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
            cloud_proxy_url: None,
            docker_hub_callback_hosts: Vec::new(),
            deny_private_egress: false,
            log_json: false,
            access: Default::default(),
        };
        adjust(&mut args);
        let application = Application::build(&args).await?;
        let base = format!("http://127.0.0.1:{}", application.port());
        let store = application.store.clone();
        tokio::spawn(application.run_until_stopped(std::future::pending()));
        let admin = store.ensure_user("bench", true, now_millis()).await?;
        let token = issue_api_token(&store, admin.id, "bench")
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
