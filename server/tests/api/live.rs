//! `GET /api/live`: the server-sent-events stream the pages follow.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use server::live::LiveLimits;

use server::clock::now_millis;
use server::service::SESSION_IDLE_TIMEOUT_MILLIS;

use crate::helpers::{age_sessions, database, finished, session_cookie, spawn_app, TestApp};
use crate::pipelines::{create_pipeline, run, slow_peer};

/// Reads a live stream's `data:` lines as JSON events.
pub(crate) struct LiveStream {
    chunks: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    pending: String,
}

impl LiveStream {
    pub(crate) async fn open(app: &TestApp, query: &str, token: &str) -> LiveStream {
        let request = app
            .client
            .get(app.url(&format!("/api/live{query}")))
            .bearer_auth(token);
        Self::open_with(request).await
    }

    async fn open_with(request: reqwest::RequestBuilder) -> LiveStream {
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        LiveStream {
            chunks: response.bytes_stream().boxed(),
            pending: String::new(),
        }
    }

    /// The next event, or None when none comes within `wait` (or the stream ended).
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, self.next()).await.ok().flatten()
    }

    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let message: String = self.pending.drain(..end + 2).collect();
                let data: String = message
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return Some(serde_json::from_str(&data).expect("events are JSON"));
                }
                continue;
            }
            let chunk = self.chunks.next().await?.ok()?;
            self.pending.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until `done` holds for one (included), bounded in time.
    pub(crate) async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .next_within(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("the awaited event never came; saw {seen:#?}"));
            let last = done(&event);
            seen.push(event);
            if last {
                return seen;
            }
        }
    }
}

pub(crate) fn is_final_state_of(id: i64) -> impl Fn(&Value) -> bool {
    move |event| {
        event["kind"] == "execution"
            && event["id"] == id
            && ["COMPLETED", "FAILED", "CANCELED"].contains(&event["status"].as_str().unwrap_or(""))
    }
}

pub(crate) async fn slow_pipeline(app: &TestApp, project: &str, name: &str) -> Value {
    let peer = slow_peer().await;
    create_pipeline(
        app,
        json!({
            "project": project, "name": name,
            "stages": [{"name": "call", "tasks": [{"name": "slow", "type": "rest", "url": format!("{peer}/slow")}]}]
        }),
    )
    .await
}

#[tokio::test]
async fn a_run_is_followed_live_from_queued_to_completed_with_its_log() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let pipeline = slow_pipeline(&app, "Demo", "slow").await;
    let mut everything = LiveStream::open(&app, "", &app.admin_token).await;

    // Act
    let id = run(&app, &pipeline["id"], json!({})).await;
    let mut this_run = LiveStream::open(&app, &format!("?execution={id}"), &app.admin_token).await;
    let run_events = this_run.until(is_final_state_of(id)).await;
    let list_events = everything.until(is_final_state_of(id)).await;

    // Assert: the list stream saw each state, in order, and no log lines.
    let states: Vec<&str> = list_events
        .iter()
        .filter(|event| event["kind"] == "execution" && event["id"] == id)
        .map(|event| event["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["QUEUED", "RUNNING", "COMPLETED"]);
    assert!(list_events
        .iter()
        .all(|event| event["kind"] != "log" && event["kind"] != "task"));
    // The run's stream carries its task's end and its log lines, the same as stored.
    assert!(run_events
        .iter()
        .any(|event| event["kind"] == "task" && event["status"] == "COMPLETED"));
    let streamed: Vec<(i64, String)> = run_events
        .iter()
        .filter(|event| event["kind"] == "log")
        .map(|event| {
            assert_eq!(event["execution_id"], id);
            (
                event["line"]["id"].as_i64().unwrap(),
                event["line"]["line"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let stored: Vec<(i64, String)> = finished(&app, id).await["stages"][0]["tasks"][0]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["id"].as_i64().unwrap(),
                line["line"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!stored.is_empty());
    // The stream opened after the run was queued, so it may have missed the first lines.
    assert!(stored.ends_with(&streamed), "{stored:?} vs {streamed:?}");
    assert!(streamed.windows(2).all(|pair| pair[0].0 < pair[1].0));
}

#[tokio::test]
async fn a_live_stream_shows_only_what_its_reader_may_see() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Mine").await;
    app.create_project("Theirs").await;
    let viewer = app.member_token("Mine", "vera", "viewer").await;
    let mine = slow_pipeline(&app, "Mine", "mine").await;
    let theirs = slow_pipeline(&app, "Theirs", "theirs").await;
    let mut stream = LiveStream::open(&app, "", &viewer).await;

    // Act: their run first, so its events come before ours if they leak.
    let their_run = run(&app, &theirs["id"], json!({})).await;
    finished(&app, their_run).await;
    let my_run = run(&app, &mine["id"], json!({})).await;
    let seen = stream.until(is_final_state_of(my_run)).await;

    // Assert
    assert!(
        seen.iter()
            .all(|event| event["project_id"] != theirs["project_id"] && event["id"] != their_run),
        "{seen:#?}"
    );
    let their_stream = app
        .client
        .get(app.url(&format!("/api/live?execution={their_run}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(their_stream.status(), 404);
}

#[tokio::test]
async fn a_live_stream_needs_a_session_or_a_token() {
    let app = spawn_app().await;

    let anonymous = app.client.get(app.url("/api/live")).send().await.unwrap();
    let bad_token = app
        .client
        .get(app.url("/api/live"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    let bad_scope = app
        .client
        .get(app.url("/api/live?execution=abc"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status(), 401);
    assert_eq!(bad_token.status(), 401);
    assert_eq!(bad_scope.status(), 400);
}

#[tokio::test]
async fn open_streams_end_when_the_server_stops() {
    let app = spawn_app().await;
    let mut stream = LiveStream::open(&app, "", &app.admin_token).await;

    // Stopping waits for open connections: it must not wait for this one.
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.stop()).await;

    assert!(
        stopped.is_ok(),
        "the server did not stop with a stream open"
    );
    assert_eq!(stream.next_within(Duration::from_secs(2)).await, None);
}

#[tokio::test]
async fn an_accepted_push_is_announced_as_activity_and_its_run_follows() {
    // Arrange
    let crate::webhooks::Seed { app, webhook, .. } =
        crate::webhooks::seed("docker-hub", "svendowideit/testhook").await;
    let mut stream = LiveStream::open(&app, "", &app.admin_token).await;

    // Act: the Docker Hub payload of the fixture, straight to the receiver.
    let fixture = include_str!("../fixtures/docker-hub-push.json");
    let answer = crate::webhooks::deliver(&app, &webhook, fixture.to_string()).await;
    let run = answer["execution_id"]
        .as_i64()
        .expect("the push triggered a run");
    let seen = stream.until(is_final_state_of(run)).await;

    // Assert: the Activity row is announced once it is committed with its
    // run, before the run changes: a page reading the row on that
    // announcement finds the run to follow.
    assert_eq!(seen[0]["kind"], "activity", "{seen:#?}");
    assert_eq!(seen[0]["event_id"], answer["event_id"]);
    assert_eq!(seen[0]["webhook_id"], webhook["id"]);
    assert!(
        seen.iter().any(|event| event["kind"] == "execution"
            && event["id"] == run
            && event["status"] == "QUEUED"),
        "the run is announced as queued: {seen:#?}"
    );
}

#[tokio::test]
async fn a_run_says_whether_its_reader_may_cancel_or_rerun_it() {
    // Arrange
    let app = spawn_app().await;
    app.create_project("Demo").await;
    let viewer = app.member_token("Demo", "vera", "viewer").await;
    let executor = app.member_token("Demo", "eddie", "executor").await;
    let pipeline = slow_pipeline(&app, "Demo", "slow").await;
    let id = run(&app, &pipeline["id"], json!({})).await;

    // Act
    let as_viewer: Value = app
        .get(&format!("/api/v1/executions/{id}"), &viewer)
        .await
        .json()
        .await
        .unwrap();
    let as_executor: Value = app
        .get(&format!("/api/v1/executions/{id}"), &executor)
        .await
        .json()
        .await
        .unwrap();

    // Assert: the runtime view shows Cancel and Run again only when this is true.
    assert_eq!(as_viewer["can_execute"], false);
    assert_eq!(as_executor["can_execute"], true);
    let cancel = app
        .post_json(
            &format!("/api/v1/executions/{id}/cancel"),
            &viewer,
            &json!({}),
        )
        .await;
    assert_eq!(cancel.status(), 403);
}

/// A test server whose streams check their credential every 200 ms.
async fn app_rechecking_often() -> TestApp {
    let app = spawn_app().await;
    app.live.set_limits(LiveLimits {
        credential_recheck: Duration::from_millis(200),
        ..LiveLimits::default()
    });
    app
}

/// Whether the stream ends (rather than merely staying quiet) within `wait`.
async fn ends_within(stream: &mut LiveStream, wait: Duration) -> bool {
    tokio::time::timeout(wait, async { while stream.next().await.is_some() {} })
        .await
        .is_ok()
}

#[tokio::test]
async fn a_stream_ends_when_its_api_token_is_revoked() {
    // Arrange
    let app = app_rechecking_often().await;
    let created: Value = app
        .post_json(
            "/api/v1/tokens",
            &app.admin_token,
            &json!({"name": "watcher"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    let mut stream = LiveStream::open(&app, "", token).await;

    // Act
    let id = &created["info"]["id"];
    let revoked = app
        .delete(&format!("/api/v1/tokens/{id}"), &app.admin_token)
        .await;

    // Assert
    assert_eq!(revoked.status(), 204);
    assert!(
        ends_within(&mut stream, Duration::from_secs(5)).await,
        "the stream of a revoked token stayed open"
    );
}

#[tokio::test]
async fn a_stream_ends_when_its_session_signs_out() {
    // Arrange
    let app = app_rechecking_often().await;
    let session = session_cookie(&app, "alice", "correct horse battery").await;
    let request = app
        .client
        .get(app.url("/api/live"))
        .header("Cookie", &session);
    let mut stream = LiveStream::open_with(request).await;

    // Act
    let out = app
        .server_function("sign_out")
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();

    // Assert
    assert!(out.status().is_success());
    assert!(
        ends_within(&mut stream, Duration::from_secs(5)).await,
        "the stream of a signed-out session stayed open"
    );
}

#[tokio::test]
async fn an_open_stream_does_not_keep_its_session_from_idling_out() {
    // Arrange: a stream on a session last used long ago (but within the idle timeout).
    let app = app_rechecking_often().await;
    let session = session_cookie(&app, "alice", "correct horse battery").await;
    let request = app
        .client
        .get(app.url("/api/live"))
        .header("Cookie", &session);
    let mut stream = LiveStream::open_with(request).await;
    let long_ago = SESSION_IDLE_TIMEOUT_MILLIS - 10 * 60_000;
    age_sessions(&app, "alice", long_ago).await;

    // Act: the stream re-checks its session several times.
    assert!(
        !ends_within(&mut stream, Duration::from_secs(1)).await,
        "the session is still valid"
    );

    // Assert: none of the re-checks counted as a use.
    let last_seen = database(&app)
        .await
        .number(
            "SELECT MAX(last_seen_at) FROM sessions \
             WHERE user_id = (SELECT id FROM users WHERE username = 'alice')",
        )
        .await;
    assert!(
        last_seen < now_millis() - long_ago + 60_000,
        "an open stream recorded a use of its session"
    );
}

#[tokio::test]
async fn open_streams_are_capped_per_user_and_in_total() {
    // Arrange
    let app = spawn_app().await;
    app.live.set_limits(LiveLimits {
        per_user: 2,
        total: 3,
        ..LiveLimits::default()
    });
    let other = crate::helpers::create_token(&app.store, "bob", false).await;
    let mut open = vec![
        LiveStream::open(&app, "", &app.admin_token).await,
        LiveStream::open(&app, "", &app.admin_token).await,
    ];

    // Act
    let third_of_one_user = app.get("/api/live", &app.admin_token).await;
    open.push(LiveStream::open(&app, "", &other).await);
    let beyond_the_total = app.get("/api/live", &other).await;
    drop(open.pop());
    let after_one_closed = crate::helpers::eventually(
        "a closed stream frees its place",
        Duration::from_secs(5),
        || async {
            let response = app.get("/api/live", &other).await;
            (response.status() == 200).then_some(response)
        },
    )
    .await;

    // Assert
    assert_eq!(third_of_one_user.status(), 429);
    let body: Value = third_of_one_user.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("2 live streams"),
        "{body}"
    );
    assert_eq!(beyond_the_total.status(), 503);
    assert_eq!(after_one_closed.status(), 200);
}
