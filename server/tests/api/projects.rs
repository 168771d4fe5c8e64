use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn projects_can_be_created_read_renamed_and_deleted() {
    // Arrange
    let app = spawn_app().await;

    // Act: create
    let created = app
        .post_json(
            "/api/v1/projects",
            &app.admin_token,
            &json!({"name": "Demo", "description": "first"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let project: Value = created.json().await.unwrap();
    let id = project["id"].as_i64().unwrap();
    assert_eq!(project["name"], "Demo");
    assert_eq!(project["my_role"], "administrator");

    // read by id and by name
    let by_id: Value = app
        .get(&format!("/api/v1/projects/{id}"), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let by_name: Value = app
        .get("/api/v1/projects/Demo", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_id, by_name);
    let listed: Vec<Value> = app
        .get("/api/v1/projects", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    // rename
    let renamed = app
        .client
        .put(app.url(&format!("/api/v1/projects/{id}")))
        .bearer_auth(&app.admin_token)
        .json(&json!({"name": "Demo 2", "description": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["name"], "Demo 2");
    assert_eq!(renamed["description"], "second");
    assert_eq!(
        app.get("/api/v1/projects/Demo", &app.admin_token)
            .await
            .status(),
        404
    );

    // delete
    let deleted = app
        .client
        .delete(app.url("/api/v1/projects/Demo%202"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.get(&format!("/api/v1/projects/{id}"), &app.admin_token)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_duplicate_name_is_a_409_and_changes_nothing() {
    let app = spawn_app().await;
    let first = app
        .post_json(
            "/api/v1/projects",
            &app.admin_token,
            &json!({"name": "Twin"}),
        )
        .await;
    assert_eq!(first.status(), 201);

    let second = app
        .post_json(
            "/api/v1/projects",
            &app.admin_token,
            &json!({"name": "Twin", "description": "other"}),
        )
        .await;

    assert_eq!(second.status(), 409);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"], "conflict");
    assert!(body["message"].as_str().unwrap().contains("already exists"));
    let listed: Vec<Value> = app
        .get("/api/v1/projects", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["description"], "");
}

#[tokio::test]
async fn invalid_input_names_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "12345"}), "name"),
        (json!({"name": "a/b"}), "name"),
        (
            json!({"name": "ok", "description": "x".repeat(1001)}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .post_json("/api/v1/projects", &app.admin_token, &body)
            .await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["field"], field);
        assert!(answer["message"].as_str().unwrap().starts_with(field));
    }
    let listed: Vec<Value> = app
        .get("/api/v1/projects", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn unreadable_bodies_are_400s() {
    let app = spawn_app().await;
    let malformed = app
        .client
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let missing_field = app
        .post_json(
            "/api/v1/projects",
            &app.admin_token,
            &json!({"description": "no name"}),
        )
        .await;
    let not_json = app
        .client
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&app.admin_token)
        .body("name=x")
        .send()
        .await
        .unwrap();

    assert_eq!(malformed.status(), 400);
    assert_eq!(missing_field.status(), 400);
    let reason: Value = missing_field.json().await.unwrap();
    assert!(reason["message"].as_str().unwrap().contains("name"));
    assert_eq!(not_json.status(), 400);
}

#[tokio::test]
async fn unknown_projects_are_404s() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/api/v1/projects/404", &app.admin_token)
            .await
            .status(),
        404
    );
    let delete = app
        .client
        .delete(app.url("/api/v1/projects/Nope"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
}
