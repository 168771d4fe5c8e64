//! Sessions and what every answer carries: the cookie's attributes over http
//! and https, the idle timeout, signing out everywhere, a password change
//! ending the other sessions, the security headers and the Origin check.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use server::service::SESSION_IDLE_TIMEOUT_MILLIS;

use crate::helpers::{
    age_sessions, cookie_from, create_token, session_cookie, set_password, sign_in, spawn_app,
    spawn_app_with, TestApp,
};

const PUBLIC_HTTPS: &str = "https://slipway.example.com";

/// Whether `cookie` opens a page (a signed-out one is sent to /login).
async fn opens_pages(app: &TestApp, cookie: &str) -> bool {
    let page = app
        .client
        .get(app.url("/projects"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    match page.status() {
        StatusCode::OK => true,
        status if status.is_redirection() => {
            assert_eq!(page.headers()["location"], "/login");
            false
        }
        other => panic!("unexpected answer {other}"),
    }
}

#[tokio::test]
async fn over_http_the_cookie_is_neither_secure_nor_prefixed() {
    let app = spawn_app().await;
    set_password(&app, "alice", "alice-password-1").await;
    let signed_in = sign_in(&app, "alice", "alice-password-1").await;
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("slipway_session="), "{cookie}");
    assert!(cookie.contains("; HttpOnly; SameSite=Lax;"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(signed_in
        .headers()
        .get("strict-transport-security")
        .is_none());
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_host_prefixed_and_hsts_is_sent() {
    // Arrange: browsers reach this server at an https address (a TLS proxy in front).
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.public_url = Some(PUBLIC_HTTPS.into());
    })
    .await;
    set_password(&app, "alice", "alice-password-1").await;

    // Act
    let signed_in = app
        .client
        .post(app.url("/api/sign_in"))
        .header("Origin", PUBLIC_HTTPS)
        .header("Accept", "application/json")
        .form(&[("username", "alice"), ("password", "alice-password-1")])
        .send()
        .await
        .unwrap();

    // Assert
    assert!(signed_in.status().is_success(), "{}", signed_in.status());
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.starts_with("__Host-slipway_session=")
            && set_cookie.contains("; Path=/; HttpOnly; SameSite=Lax; Secure;")
            && !set_cookie.contains("Domain"),
        "{set_cookie}"
    );
    assert_eq!(
        signed_in.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookie = cookie_from(&signed_in);
    assert!(opens_pages(&app, &cookie).await);
    // The same token under the unprefixed name (planted by a sibling
    // subdomain or over plain http) opens nothing.
    let token = cookie.split_once('=').unwrap().1;
    assert!(!opens_pages(&app, &format!("slipway_session={token}")).await);
}

#[tokio::test]
async fn pages_and_answers_carry_the_security_headers() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let first = app.get_signed_out("/login").await;
    let second = app.get_signed_out("/login").await;
    let api = app.get("/api/v1/me", &app.admin_token).await;
    let function = app.server_function("whoami").send().await.unwrap();
    let asset = app.get_signed_out("/pkg/slipway.css").await;
    let icon = app.get_signed_out("/favicon.svg").await;

    // Assert: the policy names the nonce of this answer's hydration script.
    let policy = first.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the policy carries a nonce")
        .to_string();
    assert!(
        policy.contains("script-src 'nonce-")
            && policy.contains("'wasm-unsafe-eval'")
            && policy.contains("frame-ancestors 'none'")
            && policy.contains("connect-src 'self'")
            && policy.contains("style-src 'self'")
            && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    for answer in [&first, &api, &function] {
        let headers = answer.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers.contains_key("content-security-policy"));
        assert!(!headers.contains_key("strict-transport-security"));
    }
    // The site's files are kept but asked for again: their names do not
    // change between builds.
    assert_eq!(asset.headers()["cache-control"], "no-cache");
    assert_eq!(icon.headers()["cache-control"], "no-cache");
    let second_policy = second.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(policy, second_policy, "a fresh nonce per answer");
    let html = first.text().await.unwrap();
    assert!(
        html.contains(&format!("<script type=\"module\" nonce=\"{nonce}\"")),
        "the hydration script carries the header's nonce"
    );
    assert!(
        !html.contains("<script>"),
        "no inline script without the nonce"
    );
    assert!(!html.contains("style=\""), "no inline style attribute");
}

#[tokio::test]
async fn browser_writes_must_come_from_the_public_origin() {
    // Arrange: the public URL differs from the address the test connects to.
    let app = spawn_app_with(tempfile::tempdir().unwrap(), |args| {
        args.public_url = Some(PUBLIC_HTTPS.into());
    })
    .await;
    let post = |origin: Option<(&'static str, String)>| {
        let mut request = app
            .client
            .post(app.url("/api/sign_in"))
            .header("Accept", "application/json")
            .form(&[("username", "nobody"), ("password", "guess")]);
        if let Some((name, value)) = origin {
            request = request.header(name, value);
        }
        request.send()
    };

    // Act + Assert: the request's own Host is not enough…
    let own_host = post(Some(("Origin", app.address.clone()))).await.unwrap();
    assert_eq!(own_host.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = own_host.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("https://slipway.example.com"));
    // …nor another site, nor saying nothing.
    let other = post(Some(("Origin", "https://evil.example".into())))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let silent = post(None).await.unwrap();
    assert_eq!(silent.status(), StatusCode::FORBIDDEN);
    // The public origin passes, as Origin or (left out) as Referer.
    let public = post(Some(("Origin", PUBLIC_HTTPS.into()))).await.unwrap();
    assert_eq!(public.status(), StatusCode::UNAUTHORIZED);
    let referred = post(Some(("Referer", format!("{PUBLIC_HTTPS}/login"))))
        .await
        .unwrap();
    assert_eq!(referred.status(), StatusCode::UNAUTHORIZED);
    // The bearer-token API is not a cookie door: no Origin needed.
    let api = app
        .post_json(
            "/api/v1/projects",
            &app.admin_token,
            &serde_json::json!({"name": "NoOrigin"}),
        )
        .await;
    assert_eq!(api.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_session_ends_after_the_idle_timeout_and_use_keeps_it_alive() {
    // Arrange
    let app = spawn_app().await;
    let idle = session_cookie(&app, "alice", "alice-password-1").await;
    let busy = session_cookie(&app, "bob", "bob-password-1").await;
    let just_within = SESSION_IDLE_TIMEOUT_MILLIS - 60_000;
    let just_past = SESSION_IDLE_TIMEOUT_MILLIS + 60_000;

    // Act: alice's session was last used just past the idle timeout, bob's just within it.
    age_sessions(&app, "alice", just_past).await;
    age_sessions(&app, "bob", just_within).await;

    // Assert: bob's use moved his idle clock forward, alice is signed out.
    assert!(!opens_pages(&app, &idle).await);
    assert!(opens_pages(&app, &busy).await);
    age_sessions(&app, "bob", just_within).await;
    assert!(opens_pages(&app, &busy).await, "the use was recorded");
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_user_only() {
    // Arrange: alice in two browsers, bob in one.
    let app = spawn_app().await;
    let laptop = session_cookie(&app, "alice", "alice-password-1").await;
    let phone = cookie_from(&sign_in(&app, "alice", "alice-password-1").await);
    let bob = session_cookie(&app, "bob", "bob-password-1").await;

    // Act
    let answer = app
        .server_function("sign_out_everywhere")
        .header("Cookie", &laptop)
        .send()
        .await
        .unwrap();

    // Assert
    assert!(answer.status().is_success(), "{}", answer.status());
    let cleared = answer.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(answer.text().await.unwrap(), "2", "two sessions ended");
    assert!(!opens_pages(&app, &laptop).await);
    assert!(!opens_pages(&app, &phone).await);
    assert!(opens_pages(&app, &bob).await, "other users stay signed in");
}

#[tokio::test]
async fn the_api_signs_a_user_out_everywhere() {
    let app = spawn_app().await;
    let browser = session_cookie(&app, "alice", "alice-password-1").await;
    let token = create_token(&app.store, "alice", false).await;

    let answer = app.delete("/api/v1/me/sessions", &token).await;

    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert!(!opens_pages(&app, &browser).await);
    assert_eq!(
        app.get("/api/v1/me", &token).await.status(),
        StatusCode::OK,
        "API tokens stay"
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    // Arrange
    let app = spawn_app().await;
    let here = session_cookie(&app, "alice", "alice-password-1").await;
    let elsewhere = cookie_from(&sign_in(&app, "alice", "alice-password-1").await);
    let change = |current: &str, new: &str| {
        app.server_function("account/password")
            .header("Cookie", &here)
            .form(&[("current_password", current), ("new_password", new)])
            .send()
    };

    // Act + Assert: a wrong current password or a short new one changes nothing.
    let wrong = change("not-it", "a-new-password-2").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().await.unwrap().contains("current_password"));
    let short = change("alice-password-1", "short").await.unwrap();
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().await.unwrap().contains("new_password"));
    assert!(opens_pages(&app, &elsewhere).await);

    let changed = change("alice-password-1", "a-new-password-2")
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());
    assert!(opens_pages(&app, &here).await, "this session stays");
    assert!(!opens_pages(&app, &elsewhere).await, "the other one ended");
    let old = sign_in(&app, "alice", "alice-password-1").await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = sign_in(&app, "alice", "a-new-password-2").await;
    assert!(new.status().is_success());
}

#[tokio::test]
async fn changing_the_password_through_the_api_ends_every_session() {
    let app = spawn_app().await;
    let browser = session_cookie(&app, "alice", "alice-password-1").await;
    let token = create_token(&app.store, "alice", false).await;

    let answer = app
        .put_json(
            "/api/v1/me/password",
            &token,
            &serde_json::json!({"current_password": "alice-password-1", "new_password": "a-new-password-2"}),
        )
        .await;

    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert!(!opens_pages(&app, &browser).await);
    assert!(sign_in(&app, "alice", "a-new-password-2")
        .await
        .status()
        .is_success());
}

#[tokio::test]
async fn the_cli_set_password_ends_every_session_of_the_user() {
    // Arrange
    let app = spawn_app().await;
    let alice = session_cookie(&app, "alice", "alice-password-1").await;
    let bob = session_cookie(&app, "bob", "bob-password-1").await;

    // Act: the operator resets alice's password on the server.
    let mut cli = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["user", "set-password", "--user", "alice", "--data-dir"])
        .arg(app.data_dir.path())
        .args(
            crate::helpers::postgres_database_of(app.data_dir.path())
                .await
                .map(|url| ["--database-url".to_string(), url])
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    cli.stdin
        .take()
        .unwrap()
        .write_all(b"a-new-password-2\n")
        .unwrap();
    let output = cli.wait_with_output().unwrap();

    // Assert
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{said}");
    assert!(said.contains("1 session(s) signed out"), "{said}");
    assert!(!opens_pages(&app, &alice).await);
    assert!(opens_pages(&app, &bob).await);
}
