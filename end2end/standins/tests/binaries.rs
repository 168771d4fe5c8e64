//! The two binaries start, print their one stdout line, and serve.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// A child process killed when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a binary and returns it with the URL from its `listening on URL` line.
fn start(binary: &str, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a line on stdout");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let local = url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:");
    assert!(local, "{url}");
    (running, url)
}

/// reqwest is built without a default crypto provider (see TOOLCHAIN.md).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn http() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

#[tokio::test]
async fn kube_standin_serves_with_the_given_token() {
    let (_process, url) = start(
        env!("CARGO_BIN_EXE_kube-standin"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--token",
            "T",
            "--readonly-token",
            "R",
            "--rollout-delay-ms",
            "0",
        ],
    );

    let with_token = http()
        .get(format!("{url}/api/v1/namespaces"))
        .bearer_auth("T")
        .send()
        .await
        .expect("list");
    let without = http()
        .get(format!("{url}/api/v1/namespaces"))
        .send()
        .await
        .expect("list");

    assert_eq!(with_token.status().as_u16(), 200);
    let list: Value = with_token.json().await.expect("JSON");
    assert_eq!(list["kind"], "NamespaceList");
    assert_eq!(without.status().as_u16(), 401);
}

#[tokio::test]
async fn hub_standin_logs_in_the_given_user() {
    let (_process, url) = start(
        env!("CARGO_BIN_EXE_hub-standin"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--username",
            "U",
            "--password",
            "P",
            "--namespace",
            "org",
        ],
    );

    let response = http()
        .post(format!("{url}/v2/users/login"))
        .json(&json!({"username": "U", "password": "P"}))
        .send()
        .await
        .expect("login");

    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn kube_standin_serves_https_with_the_ca_it_writes() {
    let ca_file = std::env::temp_dir().join(format!("kube-standin-ca-{}.pem", std::process::id()));
    let ca_path = ca_file.to_str().expect("a UTF-8 temp path");
    let (_process, url) = start(
        env!("CARGO_BIN_EXE_kube-standin"),
        &["--token", "T", "--tls", "--ca-file", ca_path],
    );
    let ca_pem = std::fs::read(&ca_file).expect("the CA file was written before the URL line");
    let _ = std::fs::remove_file(&ca_file);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    install_crypto_provider();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).expect("a PEM certificate"))
        .build()
        .expect("client");
    let response = trusting
        .get(format!("{url}/version"))
        .send()
        .await
        .expect("GET /version over TLS");

    assert_eq!(response.status().as_u16(), 200);
}
