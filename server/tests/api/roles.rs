//! The role matrix: what each project role may do, through the API (the
//! server functions call the same checks).

use serde_json::{json, Value};

use crate::helpers::{create_token, spawn_app};

#[tokio::test]
async fn each_role_may_do_what_it_should_and_no_more() {
    // Arrange: one project, one endpoint, a member of every role and an outsider.
    let app = spawn_app().await;
    let project = app.create_project("Demo").await;
    let endpoint = json!({"project": project, "name": "registry", "kind": "docker-registry", "server_type": "registry", "url": "http://127.0.0.1:5000"});
    assert_eq!(
        app.post_json("/api/v1/endpoints", &app.admin_token, &endpoint)
            .await
            .status(),
        201
    );
    let outsider = create_token(&app.store, "outsider", false).await;

    // (role, may edit endpoints, may manage members)
    let matrix = [
        ("viewer", false, false),
        ("executor", false, false),
        ("developer", true, false),
        ("administrator", true, true),
    ];
    for (role, edits, manages) in matrix {
        let token = app
            .member_token(&project, &format!("user-{role}"), role)
            .await;

        // Everyone in the project reads.
        assert_eq!(
            app.get("/api/v1/endpoints/registry?project=Demo", &token)
                .await
                .status(),
            200,
            "{role} reads"
        );
        let listed: Vec<Value> = app
            .get("/api/v1/endpoints", &token)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            listed.iter().any(|e| e["name"] == "registry"),
            "{role} lists"
        );

        let mut renamed = endpoint.clone();
        renamed["name"] = json!(format!("by-{role}"));
        let create = app
            .post_json("/api/v1/endpoints", &token, &renamed)
            .await
            .status();
        let validate = app
            .post_json(
                "/api/v1/endpoints/registry/validate?project=Demo",
                &token,
                &json!({}),
            )
            .await
            .status();
        assert_eq!(
            create == 201,
            edits,
            "{role} creating an endpoint: {create}"
        );
        assert_eq!(validate == 200, edits, "{role} validating: {validate}");
        if !edits {
            assert_eq!(create, 403);
            assert_eq!(
                app.delete("/api/v1/endpoints/registry?project=Demo", &token)
                    .await
                    .status(),
                403
            );
        }

        let add = app
            .put_json(
                &format!("/api/v1/projects/{project}/members/outsider"),
                &token,
                &json!({"role": "viewer"}),
            )
            .await
            .status();
        assert_eq!(add == 200, manages, "{role} managing members: {add}");
        if manages {
            assert_eq!(
                app.delete(
                    &format!("/api/v1/projects/{project}/members/outsider"),
                    &token
                )
                .await
                .status(),
                204
            );
        }
        let users = app.get("/api/v1/users", &token).await.status();
        assert_eq!(users, 403, "only global admins list users");
    }

    // Outsiders see nothing of the project.
    assert_eq!(
        app.get("/api/v1/endpoints/registry?project=Demo", &outsider)
            .await
            .status(),
        404
    );
    let listed: Vec<Value> = app
        .get("/api/v1/endpoints", &outsider)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
    assert_eq!(
        app.get("/api/v1/projects/Demo/members", &outsider)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn admins_create_users_who_can_then_sign_in() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/api/v1/users",
            &app.admin_token,
            &json!({"username": "carol", "password": "carol-password"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let short = app
        .post_json(
            "/api/v1/users",
            &app.admin_token,
            &json!({"username": "dave", "password": "short"}),
        )
        .await;
    assert_eq!(short.status(), 422);
    let again = app
        .post_json(
            "/api/v1/users",
            &app.admin_token,
            &json!({"username": "carol", "password": "carol-password"}),
        )
        .await;
    assert_eq!(again.status(), 409);

    let sign_in = app
        .server_function("sign_in")
        .form(&[("username", "carol"), ("password", "carol-password")])
        .send()
        .await
        .unwrap();
    assert!(sign_in.status().is_success());
}
