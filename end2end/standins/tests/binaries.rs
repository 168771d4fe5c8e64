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
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (running, url)
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
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
