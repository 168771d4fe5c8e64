//! `slipway backup` while the server serves, `slipway restore` into a fresh
//! data directory, and a server on the restored one that has everything:
//! projects, endpoints whose secrets still open, pipelines, the webhook's
//! hook URL, and the runs.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::spawn_app_with;
use crate::processes::storage_args;
use crate::webhooks::{push, run_result, seed, Seed};

/// Runs `slipway` with these arguments and the data directory's storage flags.
async fn slipway(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .args(storage_args(data_dir).await)
        .env("RUST_LOG", "warn")
        .env_remove("SLIPWAY_SECRET_KEY")
        .output()
        .expect("slipway runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn names(app: &crate::helpers::TestApp, path: &str) -> Vec<String> {
    let listed: Value = app.get(path, &app.admin_token).await.json().await.unwrap();
    let items = listed
        .as_array()
        .or_else(|| listed["items"].as_array())
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_backup_made_while_serving_restores_into_a_fresh_data_directory() {
    // Arrange: the manual's seed and one run from a push.
    // The cluster stand-in lives as long as its handle: kept to the end.
    let Seed {
        app,
        hub,
        webhook,
        cluster: _cluster,
    } = seed("docker-hub", "svendowideit/testhook").await;
    let hook_url = webhook["hook_url"].as_str().unwrap().to_string();
    let (status, answer) = push(&hub, &hook_url, "v1", 1_700_000_000.0).await;
    assert_eq!(status, 202, "{answer}");
    let first_run = run_result(&app, &answer["execution_id"]).await;
    assert_eq!(first_run["status"], "COMPLETED", "{first_run}");
    let backups = tempfile::tempdir().unwrap();
    let backup_file = backups.path().join("slipway-backup.db");
    let backup_path = backup_file.to_str().unwrap();

    if app.database_url.starts_with("postgres") {
        // PostgreSQL is pg_dump's: the command says so and writes nothing.
        let refused = slipway(&["backup", "--to", backup_path], app.data_dir.path()).await;
        assert!(!refused.status.success());
        assert!(text(&refused).contains("pg_dump"), "{}", text(&refused));
        assert!(!backup_file.exists());
        return;
    }

    // Act: back up while the server runs, then restore into a fresh directory
    // that has only the key kept with the backup.
    let made = slipway(&["backup", "--to", backup_path], app.data_dir.path()).await;
    assert!(made.status.success(), "{}", text(&made));
    assert!(text(&made).contains("1 projects"), "{}", text(&made));
    assert!(text(&made).contains("secret.key"), "{}", text(&made));
    let again = slipway(&["backup", "--to", backup_path], app.data_dir.path()).await;
    assert!(!again.status.success(), "a backup never overwrites");
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the backup is private");
    }
    let key = std::fs::read(app.data_dir.path().join("secret.key")).unwrap();
    let old_address = app.address.clone();
    app.stop().await;

    // A key that is not the server's opens nothing: refused, nothing written.
    let stranger = tempfile::tempdir().unwrap();
    std::fs::write(
        stranger.path().join("secret.key"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let refused = slipway(&["restore", "--from", backup_path], stranger.path()).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("does not open the backup's secrets"),
        "{}",
        text(&refused)
    );
    assert!(!stranger.path().join("slipway.db").exists());
    // No key at all: refused too, saying where the key goes.
    let keyless = tempfile::tempdir().unwrap();
    let refused = slipway(&["restore", "--from", backup_path], keyless.path()).await;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("secret.key"), "{}", text(&refused));
    assert!(!keyless.path().join("slipway.db").exists());

    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::write(restored_dir.path().join("secret.key"), &key).unwrap();
    let restored = slipway(&["restore", "--from", backup_path], restored_dir.path()).await;
    assert!(restored.status.success(), "{}", text(&restored));
    let over = slipway(&["restore", "--from", backup_path], restored_dir.path()).await;
    assert!(
        !over.status.success(),
        "a restore never overwrites a database"
    );
    assert!(text(&over).contains("already exists"), "{}", text(&over));

    // Assert: a server on the restored directory has it all.
    let hub_url = hub.url();
    let app = spawn_app_with(restored_dir, move |args| {
        args.docker_hub_api_url = hub_url.clone();
        args.docker_hub_registry_url = hub_url;
    })
    .await;
    assert_eq!(names(&app, "/api/v1/projects").await, ["Demo"]);
    let mut endpoints = names(&app, "/api/v1/endpoints").await;
    endpoints.sort();
    assert_eq!(endpoints, ["dev", "hub"]);
    assert_eq!(names(&app, "/api/v1/pipelines").await, ["deploy-testhook"]);
    assert_eq!(
        names(&app, "/api/v1/webhooks/docker").await,
        ["demo_webhook"]
    );
    let runs = app.executions().await;
    assert!(
        runs.iter()
            .any(|run| run["id"] == first_run["id"] && run["status"] == "COMPLETED"),
        "{runs:?}"
    );
    // The hook URL (its token, on the new server's address) still finds its
    // webhook, and the run it starts resolves the tag with the registry's
    // password and deploys with the cluster's token: both secrets open under
    // the kept key.
    let hook_url = hook_url.replacen(&old_address, &app.address, 1);
    let (status, answer) = push(&hub, &hook_url, "v2", 1_700_000_100.0).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "TRIGGERED", "{answer}");
    let second_run = run_result(&app, &answer["execution_id"]).await;
    assert_eq!(second_run["status"], "COMPLETED", "{second_run}");
    assert!(
        second_run["inputs"]["DOCKER_IMAGE_REF"]
            .as_str()
            .unwrap_or_default()
            .contains("@sha256:"),
        "{second_run}"
    );
}

#[tokio::test]
async fn restore_refuses_a_file_that_is_not_a_slipway_backup() {
    if std::env::var("SLIPWAY_TEST_BACKEND").as_deref() == Ok("postgres") {
        return; // restore is SQLite's; the PostgreSQL refusal is tested above
    }
    let directory = tempfile::tempdir().unwrap();
    let not_a_backup = directory.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database").unwrap();
    let data_dir = directory.path().join("data");
    let refused = slipway(
        &["restore", "--from", not_a_backup.to_str().unwrap()],
        &data_dir,
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("is not a Slipway database"),
        "{}",
        text(&refused)
    );
    assert!(!data_dir.join("slipway.db").exists());
}
