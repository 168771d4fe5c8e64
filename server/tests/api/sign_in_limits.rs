//! Sign-in cannot be flooded: failure budgets per user name and per client
//! address (429 with Retry-After), a bound on password checks at once (503),
//! and the same answers for unknown names.

use reqwest::StatusCode;
use server::service::sign_in_guard::{
    BUSY_RETRY_AFTER_SECONDS, DEFAULT_FAILURES_PER_USER_NAME, FAILURE_WINDOW,
};

use crate::helpers::{set_password, sign_in, spawn_app, spawn_app_with, TestApp};

/// Signs in from the client named in `X-Forwarded-For` (believed only from a trusted proxy).
async fn sign_in_from(
    app: &TestApp,
    client: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    app.server_function("sign_in")
        .header("X-Forwarded-For", client)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

fn retry_after(answer: &reqwest::Response) -> u64 {
    answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds")
}

#[tokio::test]
async fn a_user_name_is_throttled_after_its_failures_and_others_still_sign_in() {
    // Arrange
    let app = spawn_app().await;
    set_password(&app, "alice", "alice-password-1").await;
    set_password(&app, "bob", "bob-password-1").await;
    for _ in 0..DEFAULT_FAILURES_PER_USER_NAME {
        let wrong = sign_in(&app, "alice", "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }

    // Act
    let throttled = sign_in(&app, "alice", "guess").await;
    let right_but_throttled = sign_in(&app, "alice", "alice-password-1").await;

    // Assert: 429 with the wait, even for the right password, until the budget drains.
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let per_failure = FAILURE_WINDOW.as_secs() / u64::from(DEFAULT_FAILURES_PER_USER_NAME);
    let wait = retry_after(&throttled);
    assert!(
        (per_failure - 2..=per_failure).contains(&wait),
        "Retry-After {wait}, one failure drains every {per_failure} s"
    );
    assert!(throttled.headers().get("set-cookie").is_none());
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("too many failed sign-in attempts for this user name")
            && message.contains(&format!("try again in {wait} seconds")),
        "{message}"
    );
    assert_eq!(right_but_throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let other_user = sign_in(&app, "bob", "bob-password-1").await;
    assert!(other_user.status().is_success(), "{}", other_user.status());
}

#[tokio::test]
async fn unknown_names_are_throttled_like_known_ones() {
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.access.sign_in_failures_per_user = 2;
    })
    .await;
    set_password(&app, "alice", "alice-password-1").await;
    let mut last = Vec::new();
    for user in ["alice", "nobody"] {
        let answers = [
            sign_in(&app, user, "guess").await.status(),
            sign_in(&app, user, "guess").await.status(),
            sign_in(&app, user, "guess").await.status(),
        ];
        last.push(answers);
    }
    assert_eq!(last[0], last[1], "an unknown name answers as a known one");
    assert_eq!(last[0][2], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_address_is_throttled_across_user_names() {
    // Arrange: the server trusts the local proxy, so clients are told apart
    // by X-Forwarded-For; five failures per address.
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.access.sign_in_failures_per_address = 5;
        args.access.trusted_proxies =
            vec![server::receive::cidr::Cidr::parse("127.0.0.1").unwrap()];
    })
    .await;
    set_password(&app, "carol", "carol-password-1").await;
    for n in 0..5 {
        let wrong = sign_in_from(&app, "203.0.113.7", &format!("user-{n}"), "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }

    // Act
    let throttled = sign_in_from(&app, "203.0.113.7", "carol", "carol-password-1").await;
    let elsewhere = sign_in_from(&app, "198.51.100.20", "carol", "carol-password-1").await;

    // Assert
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&throttled) >= 1);
    let message = throttled.text().await.unwrap();
    assert!(message.contains("from your network address"), "{message}");
    assert!(elsewhere.status().is_success(), "{}", elsewhere.status());
}

#[tokio::test]
async fn without_a_trusted_proxy_x_forwarded_for_changes_nothing() {
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.access.sign_in_failures_per_address = 3;
    })
    .await;
    for n in 0..3 {
        let claimed = format!("203.0.113.{n}");
        let wrong = sign_in_from(&app, &claimed, &format!("user-{n}"), "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let claimed_elsewhere = sign_in_from(&app, "198.51.100.1", "user-9", "guess").await;
    assert_eq!(claimed_elsewhere.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sign_in_answers_503_while_every_password_check_slot_is_busy() {
    // Arrange
    let app = spawn_app().await;
    set_password(&app, "alice", "alice-password-1").await;
    let busy = app
        .sign_in_guard
        .occupy_all_slots()
        .expect("the slots are free");

    // Act
    let refused = sign_in(&app, "alice", "alice-password-1").await;

    // Assert: 503 and Retry-After, and the refusal spent no failure.
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&refused), BUSY_RETRY_AFTER_SECONDS);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("too many sign-in attempts at once"));
    drop(busy);
    let signed_in = sign_in(&app, "alice", "alice-password-1").await;
    assert!(signed_in.status().is_success(), "{}", signed_in.status());
}

#[tokio::test]
async fn checking_the_current_password_is_throttled_like_a_sign_in() {
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.access.sign_in_failures_per_user = 2;
    })
    .await;
    let token = crate::helpers::create_token(&app.store, "alice", false).await;
    set_password(&app, "alice", "alice-password-1").await;
    let change = |current: &'static str| {
        let body =
            serde_json::json!({"current_password": current, "new_password": "a-new-password-2"});
        let (app, token) = (&app, &token);
        async move { app.put_json("/api/v1/me/password", token, &body).await }
    };
    for _ in 0..2 {
        let wrong = change("guess").await;
        assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: serde_json::Value = wrong.json().await.unwrap();
        assert_eq!(body["field"], "current_password");
    }
    let throttled = change("alice-password-1").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_throttled_name_is_one_audit_entry_per_window_with_the_client_address() {
    // Arrange: alice's budget spent.
    let app = spawn_app().await;
    set_password(&app, "alice", "alice-password-1").await;
    for _ in 0..DEFAULT_FAILURES_PER_USER_NAME {
        sign_in(&app, "alice", "guess").await;
    }

    // Act: five more guesses, each refused.
    for _ in 0..5 {
        assert_eq!(
            sign_in(&app, "alice", "guess").await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    // Assert: one throttled entry, and every sign-in entry names the client.
    let entries: Vec<serde_json::Value> = app
        .get("/api/v1/audit?limit=500", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let of = |action: &str| {
        entries
            .iter()
            .filter(|entry| entry["action"] == action)
            .collect::<Vec<_>>()
    };
    let throttled = of("session.sign_in_throttled");
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert_eq!(
        (&throttled[0]["actor"], &throttled[0]["outcome"]),
        (&serde_json::json!("alice"), &serde_json::json!("refused"))
    );
    let failed = of("session.sign_in_failed");
    assert_eq!(failed.len(), DEFAULT_FAILURES_PER_USER_NAME as usize);
    for entry in throttled.iter().chain(&failed) {
        assert_eq!(entry["client"], "127.0.0.1", "{entry}");
    }
}
