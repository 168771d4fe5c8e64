//! Server renders of the signed-in pages: each is built once, so each
//! answer it needs is fetched once and sent to the browser once, and the
//! browser hydrates the same page the HTML shows.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{finished, session_cookie, spawn_app, TestApp};
use crate::pipelines::{condition_task, create_pipeline, run};

/// Named in the pipeline, so in every answer about it or its runs.
const MARKER: &str = "rendered-once-pipeline";

/// The values a server render hands the browser for hydration: the
/// `__RESOLVED_RESOURCES[n] = "…";` assignments of its scripts.
fn resolved_values(html: &str) -> Vec<&str> {
    html.split("__RESOLVED_RESOURCES[")
        .skip(1)
        .filter_map(|assignment| {
            let (_, value) = assignment.split_once("] = ")?;
            value.split_once("\";").map(|(value, _)| value)
        })
        .collect()
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let answer = app
        .client
        .get(app.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer.text().await.unwrap()
}

#[tokio::test]
async fn a_signed_in_page_is_built_once_and_sends_each_answer_once() {
    // Arrange: a finished run of a pipeline, and an administrator's session.
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = create_pipeline(
        &app,
        json!({
            "project": "Demo", "name": MARKER,
            "stages": [{"name": "only", "tasks": [condition_task("check", "1 > 0")]}]
        }),
    )
    .await;
    let id = run(&app, &pipeline["id"], json!({})).await;
    assert_eq!(finished(&app, id).await["status"], "COMPLETED");
    let cookie = session_cookie(&app, "page-admin", "page-password-1").await;
    let user = app.store.user_by_name("page-admin").await.unwrap().unwrap();
    app.store.set_user_admin(user.id, true).await.unwrap();

    for path in [
        format!("/executions/{id}"),
        "/executions".to_string(),
        format!("/pipelines/{}", pipeline["id"]),
    ] {
        // Act
        let html = page(&app, &path, &cookie).await;

        // Assert: the page shows the run or pipeline, and no answer about
        // them went out twice (a page built three times sent each three times).
        assert!(html.contains(MARKER), "{path} shows {MARKER}");
        let carrying: Vec<&str> = resolved_values(&html)
            .into_iter()
            .filter(|value| value.contains(MARKER))
            .collect();
        let distinct: BTreeSet<&str> = carrying.iter().copied().collect();
        assert!(!carrying.is_empty(), "{path} sent its data");
        assert_eq!(distinct.len(), carrying.len(), "{path} sent {carrying:#?}");
    }
}
