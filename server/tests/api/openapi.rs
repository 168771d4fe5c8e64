//! `GET /api/v1/openapi.json` is true: it answers without a token, it is a
//! well-formed OpenAPI 3.1 document, it has every route the README's API
//! table names (and no other), each of its operations is routed on the
//! running server, and every request example it shows is accepted.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{create_token, run_when, set_password, spawn_app, TestApp};

/// The methods the API uses, as the document spells them.
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The prefixes of the routes the document describes.
const DESCRIBED: [&str; 2] = ["/api/v1/", "/pipelines/api/"];

/// One operation: an upper-case method and a path with its parameters as `{}`.
type Route = (String, String);

async fn fetch_document(app: &TestApp) -> Value {
    let answer = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(answer.status(), 200, "the document needs no token");
    let content_type = answer.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    answer.json().await.expect("the document is JSON")
}

/// `/projects/{reference}/members/{username}` → `/projects/{}/members/{}`.
fn normalised(path: &str) -> String {
    let mut out = String::new();
    let mut in_parameter = false;
    for character in path.chars() {
        match character {
            '{' => {
                in_parameter = true;
                out.push_str("{}");
            }
            '}' => in_parameter = false,
            _ if !in_parameter => out.push(character),
            _ => {}
        }
    }
    out
}

/// Every operation of the document, with its path as written there.
fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    found
}

fn documented_routes(document: &Value) -> BTreeSet<Route> {
    operations(document)
        .into_iter()
        .map(|(method, path, _)| (method, normalised(&path)))
        .collect()
}

/// The routes the README names in backticks, e.g. `` `GET/PUT/DELETE
/// /api/v1/endpoints/{id or name}[?project=P]` ``, `` `GET
/// /api/v1/webhooks/docker[/{ref}]` `` (both paths) and `` `POST
/// /api/v1/executions/{id}/approve`, `…/reject` `` (the last segment replaced).
fn readme_routes(readme: &str) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    let mut previous: Option<(Vec<String>, String)> = None;
    for (index, span) in readme.split('`').enumerate() {
        // Odd pieces are inside backticks.
        if index % 2 == 0 {
            continue;
        }
        let (methods, path) = if let Some(tail) = span.strip_prefix("…/") {
            let Some((methods, before)) = previous.clone() else {
                continue;
            };
            let parent = before.rsplit_once('/').map_or("", |(parent, _)| parent);
            (methods, format!("{parent}/{tail}"))
        } else {
            let Some((methods, path)) = span.split_once(' ') else {
                continue;
            };
            let methods: Vec<String> = methods.split('/').map(str::to_string).collect();
            let is_route = methods
                .iter()
                .all(|method| METHODS.contains(&method.to_lowercase().as_str()));
            if !is_route || !DESCRIBED.iter().any(|prefix| path.starts_with(prefix)) {
                previous = None;
                continue;
            }
            (methods, path.to_string())
        };
        previous = Some((methods.clone(), path.clone()));
        let without_query = path.split(['?', '[']).next().unwrap_or_default();
        let mut paths = vec![without_query.to_string()];
        // `[/{ref}]`: the path with and without the optional segment.
        if let Some(optional) = path
            .split_once("[/")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(segment, _)| segment)
        {
            paths.push(format!("{without_query}/{optional}"));
        }
        for method in &methods {
            for path in &paths {
                routes.insert((method.clone(), normalised(path)));
            }
        }
    }
    routes
}

#[test]
fn readme_spans_are_read_as_routes() {
    let readme = "| `GET/PUT /api/v1/endpoints/{id or name}[?project=P]` | \
                  `GET /api/v1/webhooks/docker[/{ref}]` `POST /api/v1/executions/{id}/approve`, \
                  `…/reject` `GET /api/live` `npm test` `POST /pipelines/api/x?secureToken=T`";
    let routes = readme_routes(readme);
    let expected: BTreeSet<Route> = [
        ("GET", "/api/v1/endpoints/{}"),
        ("PUT", "/api/v1/endpoints/{}"),
        ("GET", "/api/v1/webhooks/docker"),
        ("GET", "/api/v1/webhooks/docker/{}"),
        ("POST", "/api/v1/executions/{}/approve"),
        ("POST", "/api/v1/executions/{}/reject"),
        ("POST", "/pipelines/api/x"),
    ]
    .into_iter()
    .map(|(method, path)| (method.to_string(), path.to_string()))
    .collect();
    assert_eq!(routes, expected);
}

/// Follows a `$ref` (`#/components/schemas/X`) to what it names.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

fn check_references(document: &Value, value: &Value, broken: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                if resolve(document, reference).is_none() {
                    broken.push(reference.clone());
                }
            }
            for child in object.values() {
                check_references(document, child, broken);
            }
        }
        Value::Array(items) => {
            for child in items {
                check_references(document, child, broken);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_error_answer_is_the_error_body() {
    let app = spawn_app().await;
    let document = fetch_document(&app).await;

    let version = document["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1."), "openapi {version}");
    assert_eq!(document["info"]["title"], "Slipway");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

    let mut broken = Vec::new();
    check_references(&document, &document, &mut broken);
    assert!(broken.is_empty(), "unresolved $refs: {broken:?}");

    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let requirements = document["security"].as_array().into_iter().flatten();
    let operation_requirements = operations(&document)
        .into_iter()
        .flat_map(|(_, _, operation)| operation["security"].as_array().cloned())
        .flatten();
    for requirement in requirements.cloned().chain(operation_requirements) {
        for name in requirement.as_object().expect("a requirement").keys() {
            assert!(
                schemes.contains_key(name),
                "undefined security scheme {name}"
            );
        }
    }

    for (method, path, operation) in operations(&document) {
        let needs_bearer = operation.get("security").is_none();
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            !needs_bearer || responses.contains_key("401"),
            "{method} {path} needs a token but does not say it answers 401"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} answers {status} with another shape"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_route_of_the_readme_is_described_and_served() {
    let app = spawn_app().await;
    let document = fetch_document(&app).await;
    let documented = documented_routes(&document);

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README is read");
    let named = readme_routes(&readme);
    assert!(
        named.len() > 40,
        "the README's routes were not found: {named:?}"
    );
    let undocumented: Vec<_> = named.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "in the README, not in the document: {undocumented:?}"
    );
    let unnamed: Vec<_> = documented.difference(&named).collect();
    assert!(
        unnamed.is_empty(),
        "in the document, not in the README: {unnamed:?}"
    );

    // Each operation is routed: a missing object is the API's JSON 404 and
    // never axum's 404 (no route) or 405 (the path, not that method).
    for (method, path, _) in operations(&document) {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "999999"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let answer = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&concrete),
            )
            .bearer_auth(&app.admin_token)
            .json(&json!({}))
            .send()
            .await
            .expect("the request is sent");
        let status = answer.status();
        assert_ne!(status, 405, "{method} {concrete} is not routed");
        if status == 404 {
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            assert_eq!(
                body["error"], "not_found",
                "{method} {concrete}: a 404 without the API's error body is no route"
            );
        }
    }
}

/// The request example of an operation, and the record that it was sent.
struct Examples {
    document: Value,
    sent: BTreeSet<Route>,
}

impl Examples {
    /// Every operation showing a JSON request example.
    fn shown(&self) -> BTreeSet<Route> {
        operations(&self.document)
            .into_iter()
            .filter(|(_, _, operation)| json_example(operation).is_some())
            .map(|(method, path, _)| (method, path))
            .collect()
    }

    fn of(&self, method: &str, path: &str) -> Value {
        let operation = &self.document["paths"][path][method.to_lowercase()];
        json_example(operation)
            .unwrap_or_else(|| panic!("{method} {path} shows no example"))
            .clone()
    }

    /// Sends the example of `method path` to `concrete` (the path with real
    /// objects in it) and answers the reply's JSON; the reply must be a
    /// success the document lists for the operation.
    async fn send(
        &mut self,
        app: &TestApp,
        token: &str,
        method: &str,
        path: &str,
        concrete: &str,
    ) -> Value {
        let example = self.of(method, path);
        let answer = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(concrete),
            )
            .bearer_auth(token)
            .json(&example)
            .send()
            .await
            .expect("the request is sent");
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{method} {concrete} refused its example {example}: {status} {body}"
        );
        let responses = &self.document["paths"][path][method.to_lowercase()]["responses"];
        assert!(
            responses.get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which the document does not list"
        );
        self.sent.insert((method.to_string(), path.to_string()));
        body
    }
}

fn json_example(operation: &Value) -> Option<&Value> {
    operation["requestBody"]["content"]["application/json"]
        .get("example")
        .filter(|example| !example.is_null())
}

/// A path with its one parameter filled in.
fn with(path: &str, value: &Value) -> String {
    let value = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    let (before, rest) = path.split_once('{').expect("a parameter");
    let (_, after) = rest.split_once('}').expect("a closed parameter");
    format!("{before}{value}{after}")
}

#[tokio::test]
async fn every_request_example_of_the_document_is_accepted() {
    let app = spawn_app().await;
    let mut examples = Examples {
        document: fetch_document(&app).await,
        sent: BTreeSet::new(),
    };
    let admin = app.admin_token.clone();

    // People and the project.
    examples
        .send(&app, &admin, "POST", "/api/v1/users", "/api/v1/users")
        .await;
    let member = examples.of("POST", "/api/v1/users")["username"].clone();
    let member_token = create_token(&app.store, member.as_str().unwrap(), false).await;
    let project = examples
        .send(&app, &admin, "POST", "/api/v1/projects", "/api/v1/projects")
        .await["name"]
        .clone();
    let project_path = "/api/v1/projects/{reference}";
    examples
        .send(
            &app,
            &admin,
            "PUT",
            project_path,
            &with(project_path, &project),
        )
        .await;
    let membership = "/api/v1/projects/{reference}/members/{username}";
    let concrete = with(&with(membership, &project), &member);
    examples
        .send(&app, &admin, "PUT", membership, &concrete)
        .await;

    // The cluster of the example, and the registry the webhook example names.
    let endpoint = examples
        .send(
            &app,
            &admin,
            "POST",
            "/api/v1/endpoints",
            "/api/v1/endpoints",
        )
        .await["name"]
        .clone();
    let endpoint_path = "/api/v1/endpoints/{reference}";
    examples
        .send(
            &app,
            &admin,
            "PUT",
            endpoint_path,
            &with(endpoint_path, &endpoint),
        )
        .await;
    let webhook_example = examples.of("POST", "/api/v1/webhooks/docker");
    let registry = json!({"project": project, "name": webhook_example["endpoint"],
                          "kind": "docker-registry", "server_type": "registry",
                          "url": "http://127.0.0.1:9"});
    let created = app.post_json("/api/v1/endpoints", &admin, &registry).await;
    assert_eq!(created.status(), 201, "the webhook's registry is created");

    // The pipeline, and a run approved and one rejected by its approver.
    let pipeline = examples
        .send(
            &app,
            &admin,
            "POST",
            "/api/v1/pipelines",
            "/api/v1/pipelines",
        )
        .await["name"]
        .clone();
    let pipeline_path = "/api/v1/pipelines/{reference}";
    examples
        .send(
            &app,
            &admin,
            "PUT",
            pipeline_path,
            &with(pipeline_path, &pipeline),
        )
        .await;
    let runs = "/api/v1/pipelines/{reference}/executions";
    for decision in ["approve", "reject"] {
        let run = examples
            .send(&app, &admin, "POST", runs, &with(runs, &pipeline))
            .await["id"]
            .clone();
        run_when(&app, &run, "to wait for its approval", |execution| {
            execution["status"] == "WAITING"
        })
        .await;
        let decide = format!("/api/v1/executions/{{id}}/{decision}");
        examples
            .send(&app, &member_token, "POST", &decide, &with(&decide, &run))
            .await;
    }

    // A token, the webhook, its tag trial and changes, and deliveries to it.
    examples
        .send(&app, &admin, "POST", "/api/v1/tokens", "/api/v1/tokens")
        .await;
    let webhook = examples
        .send(
            &app,
            &admin,
            "POST",
            "/api/v1/webhooks/docker",
            "/api/v1/webhooks/docker",
        )
        .await;
    let hook_url = webhook["hook_url"].as_str().expect("the hook URL");
    let secure_token = hook_url
        .split_once("secureToken=")
        .expect("the hook URL carries the token")
        .1
        .to_string();
    let try_path = "/api/v1/webhooks/docker/try";
    examples
        .send(&app, &admin, "POST", try_path, try_path)
        .await;
    let webhook_path = "/api/v1/webhooks/docker/{reference}";
    let concrete = with(webhook_path, &webhook["name"]);
    examples
        .send(&app, &admin, "PUT", webhook_path, &concrete)
        .await;
    examples
        .send(&app, &admin, "PATCH", webhook_path, &concrete)
        .await;
    for receiver in [
        "/pipelines/api/docker-hub-webhooks",
        "/pipelines/api/registry-webhooks",
    ] {
        let concrete = format!("{receiver}?secureToken={secure_token}");
        let answer = examples.send(&app, "", "POST", receiver, &concrete).await;
        assert!(answer["status"].is_string(), "{receiver}: {answer}");
    }

    // Last: the password change ends the admin's browser sessions.
    let change = examples.of("PUT", "/api/v1/me/password");
    let current = change["current_password"].as_str().unwrap();
    set_password(&app, "test-admin", current).await;
    let password = "/api/v1/me/password";
    examples.send(&app, &admin, "PUT", password, password).await;

    let shown = examples.shown();
    let unsent: Vec<_> = shown.difference(&examples.sent).collect();
    assert!(
        unsent.is_empty(),
        "examples this test does not send yet: {unsent:?}"
    );
}
