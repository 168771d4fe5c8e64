use crate::helpers::{create_token, set_password, sign_in, spawn_app};

#[tokio::test]
async fn api_answers_401_without_or_with_an_unknown_token_alike() {
    let app = spawn_app().await;

    let missing = app
        .client
        .get(app.url("/api/v1/projects"))
        .send()
        .await
        .unwrap();
    let unknown = app.get("/api/v1/projects", "slw_not-a-real-token").await;

    assert_eq!(missing.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(missing.text().await.unwrap(), unknown.text().await.unwrap());
}

#[tokio::test]
async fn revoked_tokens_stop_working_and_tokens_list_last_use() {
    // Arrange
    let app = spawn_app().await;
    let created: serde_json::Value = app
        .post_json(
            "/api/v1/tokens",
            &app.admin_token,
            &serde_json::json!({"name": "short-lived"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &token).await.status(), 200);

    // Act
    let id = created["info"]["id"].as_i64().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.get("/api/v1/me", &token).await.status(), 401);
    let listed: Vec<serde_json::Value> = app
        .get("/api/v1/tokens", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let entry = listed.iter().find(|t| t["id"] == id).unwrap();
    assert!(entry["revoked_at"].is_i64());
    assert!(entry["last_used_at"].is_i64());
    assert!(entry.get("token").is_none(), "the secret is never listed");
    assert!(!listed.iter().any(|t| t.to_string().contains(&token)));
}

#[tokio::test]
async fn tokens_may_expire_and_stop_working_at_their_expiry() {
    // Arrange
    let app = spawn_app().await;
    let now = server::clock::now_millis();

    // Act
    let created = app
        .post_json(
            "/api/v1/tokens",
            &app.admin_token,
            &serde_json::json!({"name": "for-a-week", "expires_in_days": 7}),
        )
        .await;
    let out_of_range = app
        .post_json(
            "/api/v1/tokens",
            &app.admin_token,
            &serde_json::json!({"name": "forever-and-a-day", "expires_in_days": 0}),
        )
        .await;
    let bob = app.store.ensure_user("bob", false, now).await.unwrap();
    app.store
        .create_api_token(server::store::NewTokenRecord {
            user_id: bob.id,
            name: "expired",
            prefix: "slw_ex",
            token_hash: &server::secrets::token_hash("slw_expired-token"),
            created_at: now - 2_000,
            expires_at: Some(now - 1_000),
        })
        .await
        .unwrap();

    // Assert
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let expires_at = created["info"]["expires_at"].as_i64().unwrap();
    let week = 7 * 24 * 60 * 60 * 1000;
    assert!((now + week..now + week + 60_000).contains(&expires_at));
    let token = created["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", token).await.status(), 200);
    assert_eq!(out_of_range.status(), 422);
    let refusal = out_of_range.text().await.unwrap();
    assert!(refusal.contains("expires_in_days"), "{refusal}");
    assert!(refusal.contains("between 1 and 3650"), "{refusal}");
    let expired = app.get("/api/v1/me", "slw_expired-token").await;
    assert_eq!(expired.status(), 401);
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_sets_an_http_only_cookie() {
    // Arrange
    let app = spawn_app().await;
    set_password(&app, "alice", "wonderland-42").await;

    // Act + Assert: no session → sent to the sign-in page.
    let anonymous = app.client.get(app.url("/projects")).send().await.unwrap();
    assert!(anonymous.status().is_redirection());
    assert_eq!(anonymous.headers()["location"], "/login");
    let login_page = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login_page.status(), 200);

    let wrong = sign_in(&app, "alice", "not-her-password").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let unknown_user = sign_in(&app, "nobody", "not-her-password").await;
    assert_eq!(
        wrong.text().await.unwrap(),
        unknown_user.text().await.unwrap()
    );

    let signed_in = sign_in(&app, "alice", "wonderland-42").await;
    assert!(signed_in.status().is_success(), "{}", signed_in.status());
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    let session = cookie.split(';').next().unwrap().to_string();

    let page = app
        .client
        .get(app.url("/projects"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("alice"));

    // Signing out ends the session on the server, not just in the browser.
    let out = app
        .server_function("sign_out")
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success());
    let after = app
        .client
        .get(app.url("/projects"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(after.status().is_redirection());
}

#[tokio::test]
async fn server_functions_refuse_cross_origin_posts() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/sign_in"))
        .header("Origin", "http://evil.example")
        .form(&[("username", "admin"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn members_see_only_their_projects_and_cannot_create_any() {
    // Arrange
    let app = spawn_app().await;
    let member_token = create_token(&app.store, "bob", false).await;
    for name in ["Visible", "Hidden"] {
        let created = app
            .post_json(
                "/api/v1/projects",
                &app.admin_token,
                &serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    let visible = app.store.project_by_name("Visible").await.unwrap().unwrap();
    let bob = app.store.user_by_name("bob").await.unwrap().unwrap();
    app.store
        .set_membership(visible.id, bob.id, app::model::ProjectRole::Viewer)
        .await
        .unwrap();

    // Act
    let listed: Vec<serde_json::Value> = app
        .get("/api/v1/projects", &member_token)
        .await
        .json()
        .await
        .unwrap();
    let hidden = app.get("/api/v1/projects/Hidden", &member_token).await;
    let create = app
        .post_json(
            "/api/v1/projects",
            &member_token,
            &serde_json::json!({"name": "Mine"}),
        )
        .await;
    let rename = app
        .client
        .put(app.url("/api/v1/projects/Visible"))
        .bearer_auth(&member_token)
        .json(&serde_json::json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();

    // Assert
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Visible"]);
    assert_eq!(listed[0]["my_role"], "viewer");
    assert_eq!(hidden.status(), 404);
    assert_eq!(create.status(), 403);
    assert_eq!(rename.status(), 403);
}
