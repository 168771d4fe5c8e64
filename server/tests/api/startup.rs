use std::process::Command;

use crate::helpers::{spawn_app, spawn_app_in};

#[tokio::test]
async fn health_check_answers_ok_once_started() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn migrations_run_on_an_empty_directory_and_again_on_restart() {
    // Arrange: a fresh directory that does not exist yet.
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("nested").join("data");
    let args = crate::helpers::serve_args(&data_dir);
    let first = server::startup::Application::build(&args)
        .await
        .expect("first start");
    assert!(data_dir.join("slipway.db").exists());
    drop(first);
    let again = server::startup::Application::build(&args).await;
    assert!(again.is_ok(), "a second start on the same directory works");
    drop(again);

    // Act: a second start on the same database, with data in it.
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/api/v1/projects",
            &app.admin_token,
            &serde_json::json!({"name": "Survivor"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let token = app.admin_token.clone();
    let data_dir = app.stop().await;
    let restarted = spawn_app_in(data_dir).await;

    // Assert: the data and the old token are still there.
    let response = restarted.get("/api/v1/projects/Survivor", &token).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn first_start_writes_the_admin_password_to_a_private_file() {
    let app = spawn_app().await;
    let file = app
        .data_dir
        .path()
        .join(server::startup::INITIAL_PASSWORD_FILE);
    let password = std::fs::read_to_string(&file).expect("the password file exists");
    assert!(password.trim().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn token_create_bootstraps_a_user_and_prints_the_token_last() {
    // Arrange: the server's database, where the server of this data dir will find it.
    let data_dir = tempfile::tempdir().unwrap();
    let database = crate::helpers::postgres_database_of(data_dir.path()).await;

    // Act: the non-interactive bootstrap of DESIGN.md.
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "token",
            "create",
            "--user",
            "ci-bot",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data_dir.path())
        .args(
            database
                .map(|url| ["--database-url".to_string(), url])
                .into_iter()
                .flatten(),
        )
        .output()
        .expect("the slipway binary runs");

    // Assert
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().last().expect("a line of output").to_string();
    assert!(token.starts_with("slw_"));
    let app = spawn_app_in(data_dir).await;
    let me: serde_json::Value = app.get("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["username"], "ci-bot");
    assert_eq!(me["is_admin"], true);
}

#[tokio::test]
async fn token_create_refuses_an_invalid_user_name() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["token", "create", "--user", "", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("user"));
}

/// The data directory holds the key that seals stored secrets and the
/// database: only the server's own user may read them.
#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_and_the_database_are_private_to_the_servers_user() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;

    let app = crate::helpers::spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.storage.data_dir = data_dir.clone();
        // The database file's mode is SQLite's matter, whichever backend the run tests.
        args.storage.database_url = None;
    })
    .await;

    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    for file in ["slipway.db", "slipway.db-wal", "slipway.db-shm"] {
        let path = data_dir.join(file);
        if path.exists() || file == "slipway.db" {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    app.stop().await;
}
