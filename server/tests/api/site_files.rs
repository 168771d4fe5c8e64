//! The site's built files (`/pkg/…`) are answered on their own: whatever
//! another request's render left behind on the worker thread, a file keeps
//! its `200`, its body and no one else's headers.

use leptos::prelude::{provide_context, Owner};
use leptos_axum::ResponseOptions;
use reqwest::header::{HeaderValue, IF_MODIFIED_SINCE, LAST_MODIFIED, SET_COOKIE};
use reqwest::StatusCode;

use crate::helpers::spawn_app_with;

const STYLESHEET: &str = "body { color: black }";

#[tokio::test]
async fn a_file_keeps_its_own_answer_whatever_render_the_thread_was_left_with() {
    // Arrange: a site with one file, and a reactive owner left current on
    // this thread — the test's server runs on it too — whose page answered
    // 403 and set a cookie, as a render can leave one behind.
    let site = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(site.path().join("pkg")).expect("pkg/ is created");
    std::fs::write(site.path().join("pkg/app.css"), STYLESHEET).expect("the file is written");
    let site_root = site.path().to_path_buf();
    let app = spawn_app_with(
        tempfile::tempdir().expect("a temporary directory"),
        move |args| args.site_root = site_root,
    )
    .await;
    let left_behind = Owner::new();
    left_behind.with(|| {
        let answer = ResponseOptions::default();
        answer.set_status(StatusCode::FORBIDDEN);
        answer.insert_header(
            SET_COOKIE,
            HeaderValue::from_static("slipway_session=someone-else"),
        );
        provide_context(answer);
    });
    left_behind.set();

    // Act
    let file = app.get_signed_out("/pkg/app.css").await;
    let missing = app.get_signed_out("/pkg/not-built.css").await;
    left_behind.unset();

    // Assert
    assert_eq!(file.status(), StatusCode::OK);
    assert!(
        file.headers().get(SET_COOKIE).is_none(),
        "no other answer's cookie"
    );
    let modified = file.headers()[LAST_MODIFIED].clone();
    assert_eq!(file.text().await.expect("a body"), STYLESHEET);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // The browser asks again each time (`no-cache`): an unchanged file is a 304.
    let again = app
        .client
        .get(app.url("/pkg/app.css"))
        .header(IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}
