//! What reaches the server log: requests are logged, secrets are not. A test
//! binary of its own: the log is captured with a thread-local subscriber, and
//! no other test may run in this process meanwhile and log past it.

// The API tests' helpers; this binary uses a few of them.
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::spawn_app;

/// Captures everything logged, at every level, while the test runs: the
/// server's tasks run on this one thread, where the subscriber is installed.
fn capture_logs() -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || CapturedWriter(sink.clone()))
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

struct CapturedWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn secure_tokens_never_reach_the_request_log_at_any_level() {
    // Arrange
    let (captured, _guard) = capture_logs();
    let app = spawn_app().await;
    let secure_token = "swt_secret-in-the-query";

    // Act
    let delivery = app
        .client
        .post(app.url(&format!(
            "/pipelines/api/registry-webhooks?secureToken={secure_token}&probe=1"
        )))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let listed = app.get("/api/v1/projects", &app.admin_token).await;

    // Assert
    assert_eq!(
        (delivery.status().as_u16(), listed.status().as_u16()),
        (401, 200)
    );
    let log = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("/pipelines/api/registry-webhooks") && log.contains("probe=1"),
        "the request is logged: {log}"
    );
    assert!(log.contains("secureToken=<redacted>"), "{log}");
    assert!(!log.contains(secure_token), "the secure token was logged");
    assert!(!log.contains(&app.admin_token), "an API token was logged");
}
