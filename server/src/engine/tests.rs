//! The engine on its own, without the HTTP server: a real SQLite store in a
//! temporary directory, runs queued straight into it, and for peers a small
//! HTTP server and the Kubernetes stand-in, both on 127.0.0.1:0.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::endpoint::EndpointKind;
use app::execution::{ExecutionStatus, TaskStatus};
use app::live::LiveEvent;
use app::pipeline::PipelineSpec;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use slipway_standins::kube::KubeStandin;
use tokio::sync::{watch, Barrier};

use super::*;
use crate::store::{
    CancelOutcome, EndpointWrite, ExecutionRecord, LeaseRelease, NewExecution, PipelineRecord,
    PipelineWrite, TaskRunRecord, TaskStart,
};
use crate::test_support::eventually;

/// The longest any awaited state may take.
const WAIT: Duration = Duration::from_secs(10);
const WORKERS: usize = 3;
const TEST_LEASE: Duration = Duration::from_secs(2);

/// An engine with its own store and project "demo"; workers start on [`Harness::start`].
struct Harness {
    context: EngineContext,
    engine: Arc<Engine>,
    project_id: i64,
    stop: EngineStop,
    workers: Vec<tokio::task::JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", data_dir.path().join("engine.db").display());
        let store = crate::store::open(&url).await.expect("the store opens");
        let project = store
            .create_project("demo", "", now_millis())
            .await
            .expect("the project is stored");
        let context = EngineContext {
            store,
            live: LiveBus::default(),
            signals: EngineSignals::default(),
            outbound: Outbound::default(),
            secret_box: SecretBox::from_key(&[7; 32]),
            public_url: "http://slipway.test".into(),
            metrics: Default::default(),
        };
        Harness {
            engine: Engine::new(context.clone(), settings("this-replica")),
            context,
            project_id: project.id,
            stop: EngineStop::default(),
            workers: Vec::new(),
            _data_dir: data_dir,
        }
    }

    /// Starts the workers, as the server does (with fewer of them).
    fn start(&mut self) {
        self.workers = self.engine.spawn(WORKERS, &self.stop);
    }

    /// Stops the workers as a server shutdown past its grace period does
    /// (runs in progress are handed back), and waits for them.
    async fn shut_down(&mut self) {
        self.stop.stop_claiming.cancel();
        self.stop.hand_back.cancel();
        for worker in self.workers.drain(..) {
            worker.await.expect("a worker ends cleanly");
        }
    }

    /// A pipeline of project "demo" with one run at a time (the default concurrency).
    async fn pipeline(&self, name: &str, stages: Value) -> PipelineRecord {
        let spec: PipelineSpec = serde_json::from_value(json!({
            "project": "demo", "name": name, "stages": stages
        }))
        .expect("the pipeline reads");
        self.context
            .store
            .create_pipeline(PipelineWrite {
                project_id: self.project_id,
                name,
                description: "",
                enabled: true,
                concurrency: spec.concurrency.into(),
                spec: &serde_json::to_string(&spec).expect("the pipeline writes"),
                endpoint_ids: &[],
                now: now_millis(),
            })
            .await
            .expect("the pipeline is stored")
    }

    /// Queues a run as the request side does: stored, then a worker woken.
    async fn queue(&self, pipeline: &PipelineRecord) -> i64 {
        let queued = self
            .context
            .store
            .queue_execution(NewExecution {
                pipeline_id: pipeline.id,
                project_id: pipeline.project_id,
                inputs: "{}",
                trigger: r#"{"kind":"manual"}"#,
                spec: &pipeline.spec,
                created_by: None,
                now: now_millis(),
            })
            .await
            .expect("the run is queued");
        self.context.signals.run_queued();
        queued.id
    }

    async fn execution(&self, id: i64) -> ExecutionRecord {
        self.context
            .store
            .execution_by_id(id)
            .await
            .expect("the store answers")
            .expect("the run exists")
    }

    async fn tasks(&self, id: i64) -> Vec<TaskRunRecord> {
        self.context
            .store
            .task_runs(id)
            .await
            .expect("the store answers")
    }

    async fn task(&self, id: i64, name: &str) -> TaskRunRecord {
        self.tasks(id)
            .await
            .into_iter()
            .find(|task| task.task_name == name)
            .unwrap_or_else(|| panic!("run {id} has no task {name}"))
    }

    /// Waits until the run's task `name` is in `status`.
    async fn task_reaches(&self, id: i64, name: &str, status: TaskStatus) -> TaskRunRecord {
        let what = format!("task {name} of run {id} to be {status:?}");
        eventually(&what, WAIT, || async move {
            let tasks = self.tasks(id).await;
            tasks
                .into_iter()
                .find(|task| task.task_name == name && task.status == status)
        })
        .await
    }

    /// Queues a run of a new pipeline, starts the workers and waits for the end.
    async fn run_to_end(&mut self, name: &str, stages: Value) -> (i64, ExecutionRecord) {
        let pipeline = self.pipeline(name, stages).await;
        let id = self.queue(&pipeline).await;
        self.start();
        (id, self.finished(id).await)
    }

    /// Waits until the run has ended, whichever way.
    async fn finished(&self, id: i64) -> ExecutionRecord {
        eventually(&format!("run {id} to end"), WAIT, || async move {
            let execution = self.execution(id).await;
            execution.status.is_final().then_some(execution)
        })
        .await
    }
}

/// A replica named `replica_id` with a short lease, so takeovers come quickly.
fn settings(replica_id: &str) -> EngineSettings {
    EngineSettings {
        replica_id: replica_id.into(),
        lease: TEST_LEASE,
    }
}

/// Asserts the run completed; if not, shows its error.
fn assert_completed(execution: &ExecutionRecord) {
    assert_eq!(
        execution.status,
        ExecutionStatus::Completed,
        "{:?}",
        execution.error
    );
}

/// A finished task's output.
fn output(task: &TaskRunRecord) -> Value {
    serde_json::from_str(task.output.as_deref().expect("an output")).expect("the output is JSON")
}

fn condition(name: &str, expression: &str) -> Value {
    json!({"name": name, "type": "condition", "expression": expression})
}

fn rest(name: &str, url: String) -> Value {
    json!({"name": name, "type": "rest", "url": url})
}

/// A small HTTP peer for REST and Poll tasks that notes every path asked for:
/// `/version` answers `{"version": "v7"}`, `/echo/X` answers `{"echo": "X"}`,
/// `/fail` answers 500, `/never` answers `{"ready": false}` (`/slow-never`
/// the same after 1.1 s), `/together`
/// answers only once two requests wait there at the same time, and `/gate`
/// answers once the test opens the gate.
struct Peer {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    gate: watch::Sender<bool>,
}

#[derive(Clone)]
struct PeerState {
    seen: Arc<Mutex<Vec<String>>>,
    together: Arc<Barrier>,
    gate: watch::Receiver<bool>,
}

impl PeerState {
    fn note(&self, what: &str) {
        self.seen
            .lock()
            .expect("the peer's notes")
            .push(what.to_string());
    }
}

impl Peer {
    async fn start() -> Peer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (gate, gate_open) = watch::channel(false);
        let state = PeerState {
            seen: Arc::clone(&seen),
            together: Arc::new(Barrier::new(2)),
            gate: gate_open,
        };
        let router = axum::Router::new().fallback(answer).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the peer listens");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Peer { url, seen, gate }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("the peer's notes").clone()
    }

    fn open_gate(&self) {
        self.gate.send_replace(true);
    }
}

async fn answer(State(peer): State<PeerState>, uri: Uri) -> Response {
    let path = uri.path();
    peer.note(path);
    match path {
        "/version" => Json(json!({"version": "v7"})).into_response(),
        "/fail" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "/never" => Json(json!({"ready": false})).into_response(),
        "/slow-never" => {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            Json(json!({"ready": false})).into_response()
        }
        "/together" => match tokio::time::timeout(WAIT / 2, peer.together.wait()).await {
            Ok(_) => {
                peer.note("answered /together");
                StatusCode::OK.into_response()
            }
            Err(_) => StatusCode::GATEWAY_TIMEOUT.into_response(),
        },
        "/gate" => {
            let mut gate = peer.gate.clone();
            let _ = gate.wait_for(|open| *open).await;
            StatusCode::OK.into_response()
        }
        other => match other.strip_prefix("/echo/") {
            Some(text) => Json(json!({"echo": text})).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    }
}

#[tokio::test]
async fn a_queued_run_runs_its_stages_in_order_and_the_tasks_of_a_stage_together() {
    // Arrange: /together answers only while both tasks of stage one wait there.
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;

    // Act
    let (id, execution) = harness
        .run_to_end(
            "ordered",
            json!([
                {"name": "one", "tasks": [rest("left", peer.url("/together")), rest("right", peer.url("/together"))]},
                {"name": "two", "tasks": [rest("after", peer.url("/echo/after"))]}
            ]),
        )
        .await;

    // Assert
    assert_completed(&execution);
    assert!(execution.started_at.is_some() && execution.finished_at.is_some());
    assert_eq!(
        peer.seen(),
        [
            "/together",
            "/together",
            "answered /together",
            "answered /together",
            "/echo/after"
        ],
        "stage two starts only after both tasks of stage one, which ran together"
    );
    let tasks = harness.tasks(id).await;
    assert!(tasks
        .iter()
        .all(|task| task.status == TaskStatus::Completed));
    assert_eq!(
        tasks
            .iter()
            .map(|task| (task.stage_index, task.task_name.as_str()))
            .collect::<Vec<_>>(),
        [(0, "left"), (0, "right"), (1, "after")]
    );
    harness.shut_down().await;
}

#[tokio::test]
async fn outputs_of_a_task_reach_later_stages_through_bindings() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;

    let (id, execution) = harness
        .run_to_end(
            "chained",
            json!([
                {"name": "build", "tasks": [rest("version", peer.url("/version"))]},
                {"name": "deploy", "tasks": [rest("announce", peer.url("/echo/${build.version.output.body.version}"))]},
                {"name": "verify", "tasks": [condition("echoed", "'${deploy.announce.output.body.echo}' == 'v7' && ${build.version.output.status} == 200")]}
            ]),
        )
        .await;

    assert_completed(&execution);
    assert!(peer.seen().contains(&"/echo/v7".to_string()));
    let announce = harness.task(id, "announce").await;
    assert!(
        announce
            .inputs
            .as_deref()
            .unwrap_or("")
            .contains("/echo/v7"),
        "the stored inputs are the resolved ones: {:?}",
        announce.inputs
    );
    assert_eq!(output(&announce)["body"]["echo"], "v7");
    harness.shut_down().await;
}

#[tokio::test]
async fn a_failing_task_fails_the_run_and_later_stages_do_not_run() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;

    let (id, execution) = harness
        .run_to_end(
            "breaks",
            json!([
                {"name": "first", "tasks": [condition("fine", "1 == 1"), rest("broken", peer.url("/fail"))]},
                {"name": "second", "tasks": [rest("never", peer.url("/echo/never"))]}
            ]),
        )
        .await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    let error = execution.error.unwrap_or_default();
    assert!(
        error.starts_with("first.broken: ") && error.contains("500"),
        "{error}"
    );
    let tasks = harness.tasks(id).await;
    let statuses: Vec<(&str, TaskStatus)> = tasks
        .iter()
        .map(|task| (task.task_name.as_str(), task.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("fine", TaskStatus::Completed),
            ("broken", TaskStatus::Failed)
        ]
    );
    assert!(!peer.seen().contains(&"/echo/never".to_string()));
    harness.shut_down().await;
}

#[tokio::test]
async fn a_failing_task_that_may_fail_lets_the_run_go_on() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let mut broken = rest("broken", peer.url("/fail"));
    broken["continue_on_failure"] = true.into();

    let (id, execution) = harness
        .run_to_end(
            "tolerant",
            json!([
                {"name": "first", "tasks": [broken]},
                {"name": "second", "tasks": [condition("later", "1 == 1")]}
            ]),
        )
        .await;

    assert_completed(&execution);
    assert_eq!(harness.task(id, "broken").await.status, TaskStatus::Failed);
    assert_eq!(
        harness.task(id, "later").await.status,
        TaskStatus::Completed
    );
    harness.shut_down().await;
}

#[tokio::test]
async fn a_false_precondition_skips_the_task_and_a_true_one_runs_it() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let mut skipped = rest("skipped", peer.url("/echo/skipped"));
    skipped["precondition"] = "${build.version.output.status} == 404".into();
    let mut runs = rest("runs", peer.url("/echo/runs"));
    runs["precondition"] = "${build.version.output.status} == 200".into();

    let (id, execution) = harness
        .run_to_end(
            "conditional",
            json!([
                {"name": "build", "tasks": [rest("version", peer.url("/version"))]},
                {"name": "deploy", "tasks": [skipped, runs]}
            ]),
        )
        .await;

    assert_completed(&execution);
    assert_eq!(
        harness.task(id, "skipped").await.status,
        TaskStatus::Skipped
    );
    assert_eq!(harness.task(id, "runs").await.status, TaskStatus::Completed);
    let seen = peer.seen();
    assert!(!seen.contains(&"/echo/skipped".to_string()), "{seen:?}");
    assert!(seen.contains(&"/echo/runs".to_string()), "{seen:?}");
    harness.shut_down().await;
}

/// A run whose only task polls a peer that never says ready.
async fn waiting_run(harness: &Harness, peer: &Peer) -> i64 {
    let pipeline = harness
        .pipeline(
            "waits",
            json!([{"name": "wait", "tasks": [{
                "name": "poll", "type": "poll", "url": peer.url("/never"),
                "condition": "$.ready == true", "interval_seconds": 1, "timeout_seconds": 120
            }]}]),
        )
        .await;
    harness.queue(&pipeline).await
}

#[tokio::test]
async fn a_cancel_signal_stops_a_running_run_at_once() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let id = waiting_run(&harness, &peer).await;
    harness.start();
    harness.task_reaches(id, "poll", TaskStatus::Running).await;

    // Act: only the in-process signal; the store knows of no cancel, so the
    // heartbeat cannot be what stops the run.
    harness.context.signals.cancel(id);
    let execution = harness.finished(id).await;

    // Assert
    assert_eq!(execution.status, ExecutionStatus::Canceled);
    assert_eq!(execution.error.as_deref(), Some("canceled by a user"));
    assert_eq!(harness.task(id, "poll").await.status, TaskStatus::Canceled);
    harness.shut_down().await;
}

#[tokio::test]
async fn a_cancel_recorded_in_the_store_reaches_the_run_through_its_heartbeat() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let id = waiting_run(&harness, &peer).await;
    harness.start();
    harness.task_reaches(id, "poll", TaskStatus::Running).await;

    // As another process would: recorded, no signal here.
    let outcome = harness
        .context
        .store
        .request_cancel(id, now_millis())
        .await
        .expect("the store answers");
    assert_eq!(outcome, CancelOutcome::Requested);
    let execution = harness.finished(id).await;

    assert_eq!(execution.status, ExecutionStatus::Canceled);
    assert_eq!(harness.task(id, "poll").await.status, TaskStatus::Canceled);
    harness.shut_down().await;
}

#[tokio::test]
async fn the_concurrency_limit_keeps_an_extra_run_queued_while_others_go_on() {
    // Arrange: runs of "gated" wait at the gate; "free" has no such wait.
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let gated = harness
        .pipeline(
            "gated",
            json!([{"name": "s", "tasks": [rest("wait", peer.url("/gate"))]}]),
        )
        .await;
    let free = harness
        .pipeline(
            "free",
            json!([{"name": "s", "tasks": [condition("quick", "1 == 1")]}]),
        )
        .await;
    let first = harness.queue(&gated).await;
    let second = harness.queue(&gated).await;

    // Act
    harness.start();
    harness
        .task_reaches(first, "wait", TaskStatus::Running)
        .await;
    // A later run of another pipeline is claimed past the older queued one:
    // the workers looked at the queue while the first run held the limit.
    let other = harness.queue(&free).await;
    let other = harness.finished(other).await;
    let held = harness.execution(second).await;
    peer.open_gate();
    let first = harness.finished(first).await;
    let second = harness.finished(second).await;

    // Assert
    assert_eq!(other.status, ExecutionStatus::Completed);
    assert_eq!(
        held.status,
        ExecutionStatus::Queued,
        "the second run waited its turn"
    );
    assert_completed(&first);
    assert_completed(&second);
    assert!(
        second.started_at >= first.finished_at,
        "the second run started after the first ended"
    );
    harness.shut_down().await;
}

#[tokio::test]
async fn a_run_whose_lease_ran_out_is_taken_over_keeping_its_finished_tasks() {
    // Arrange: a run of a replica that died after stage one's task finished
    // (its output is bound in stage two) while stage two's task was running.
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let pipeline = harness
        .pipeline(
            "cut-off",
            json!([
                {"name": "first", "tasks": [rest("version", peer.url("/version"))]},
                {"name": "second", "tasks": [rest(
                    "echo", peer.url("/echo/${first.version.output.body.version}")
                )]}
            ]),
        )
        .await;
    let waiting = harness
        .pipeline(
            "waiting",
            json!([{"name": "s", "tasks": [condition("t", "1 == 1")]}]),
        )
        .await;
    let cut_off = harness.queue(&pipeline).await;
    let store = harness.context.store.clone();
    let now = now_millis();
    let claimed = store
        .claim_execution("dead-replica#1234abcd", now - 10_000, now - 1)
        .await
        .expect("the store answers")
        .expect("the run is claimed");
    assert_eq!(claimed.id, cut_off);
    let task_start = |stage_index, stage_name, task_name| TaskStart {
        execution_id: cut_off,
        stage_index,
        stage_name,
        task_index: 0,
        task_name,
        task_type: "rest",
        inputs: None,
        now: now - 9_000,
    };
    let first = store
        .start_task(task_start(0, "first", "version"))
        .await
        .expect("the task is recorded");
    store
        .finish_task(
            first,
            TaskStatus::Completed,
            Some(r#"{"status": 200, "body": {"version": "v6"}}"#),
            None,
            now - 8_000,
        )
        .await
        .expect("the task's end is recorded");
    store
        .start_task(task_start(1, "second", "echo"))
        .await
        .expect("the task is recorded");
    let queued = harness.queue(&waiting).await;

    // Act
    harness.start();
    let execution = harness.finished(cut_off).await;

    // Assert: the finished task kept its output (v6, not the peer's v7) and
    // did not run again; the cut-off one ran again, saying so.
    assert_completed(&execution);
    assert_eq!(
        harness.task(cut_off, "version").await.finished_at,
        Some(now - 8_000)
    );
    assert_eq!(
        output(&harness.task(cut_off, "echo").await)["body"]["echo"],
        "v6"
    );
    assert_eq!(peer.seen(), ["/echo/v6"]);
    let echo = harness.task(cut_off, "echo").await.id;
    let logs = store.task_logs(cut_off).await.expect("the logs read");
    let first_line = logs
        .iter()
        .find(|line| line.task_run_id == echo)
        .expect("the restarted task logged");
    assert_eq!(
        first_line.line,
        "taken over from replica dead-replica: the task starts here"
    );
    assert_completed(&harness.finished(queued).await);
}

#[tokio::test]
async fn a_run_whose_lease_holds_is_left_to_its_replica() {
    let mut harness = Harness::new().await;
    let pipeline = harness
        .pipeline(
            "held",
            json!([{"name": "s", "tasks": [condition("t", "1 == 1")]}]),
        )
        .await;
    let held = harness.queue(&pipeline).await;
    let now = now_millis();
    harness
        .context
        .store
        .claim_execution("live-replica#1234abcd", now, now + 60_000)
        .await
        .expect("the store answers")
        .expect("the run is claimed");

    harness.start();
    tokio::time::sleep(TEST_LEASE).await;

    let execution = harness.execution(held).await;
    assert_eq!(execution.status, ExecutionStatus::Running);
    assert!(harness.tasks(held).await.is_empty(), "nothing ran");
}

#[tokio::test]
async fn a_replica_that_lost_its_lease_records_no_end() {
    // Arrange: this replica runs a task that waits at the gate.
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let pipeline = harness
        .pipeline(
            "lost",
            json!([{"name": "s", "tasks": [rest("wait", peer.url("/gate"))]}]),
        )
        .await;
    let id = harness.queue(&pipeline).await;
    harness.start();
    harness.task_reaches(id, "wait", TaskStatus::Running).await;

    // Act: another replica takes the run over (as after a long stall here).
    let store = &harness.context.store;
    store
        .release_leases(
            LeaseRelease::Run {
                id,
                owner: harness.engine.owner(),
            },
            now_millis(),
        )
        .await
        .expect("the lease ends");
    let now = now_millis();
    let taken = store
        .take_over_expired_execution("other-replica#5678abcd", now, now + 60_000)
        .await
        .expect("the store answers")
        .expect("the run is taken over");
    assert_eq!(taken.previous_owner, harness.engine.owner());
    eventually("this replica to let go of the run", WAIT, || async {
        (harness.engine.runs_in_progress() == 0).then_some(())
    })
    .await;

    // Assert: the run is the other replica's to end.
    let execution = harness.execution(id).await;
    assert_eq!(execution.status, ExecutionStatus::Running);
    assert_eq!(
        store
            .renew_lease(id, "other-replica#5678abcd", now + 60_000)
            .await
            .expect("the store answers"),
        Some(false)
    );
}

#[tokio::test]
async fn a_shutdown_hands_a_run_in_progress_back_to_be_continued() {
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let pipeline = harness
        .pipeline(
            "long",
            json!([{"name": "s", "tasks": [rest("wait", peer.url("/gate"))]}]),
        )
        .await;
    let id = harness.queue(&pipeline).await;
    harness.start();
    harness.task_reaches(id, "wait", TaskStatus::Running).await;
    // The task's call is under way (RUNNING is recorded before it is sent).
    eventually("the task to call the peer", WAIT, || {
        std::future::ready((peer.seen() == ["/gate"]).then_some(()))
    })
    .await;

    harness.shut_down().await;

    // Handed back: still running, its lease already over, nothing recorded as its end.
    let execution = harness.execution(id).await;
    assert_eq!(execution.status, ExecutionStatus::Running);
    assert_eq!(execution.error, None);
    // Another replica continues it at once, without waiting for the lease.
    let mut other = Harness {
        engine: Engine::new(harness.context.clone(), settings("next-replica")),
        context: harness.context.clone(),
        project_id: harness.project_id,
        stop: EngineStop::default(),
        workers: Vec::new(),
        _data_dir: tempfile::tempdir().expect("a temporary directory"),
    };
    peer.open_gate();
    let started = std::time::Instant::now();
    other.start();
    assert_completed(&other.finished(id).await);
    assert!(started.elapsed() < TEST_LEASE, "taken over at once");
    assert_eq!(peer.seen(), ["/gate", "/gate"]);
}

#[tokio::test]
async fn run_and_task_transitions_are_announced_on_the_live_bus() {
    let mut harness = Harness::new().await;
    let mut events = harness.context.live.subscribe();

    let (id, _) = harness
        .run_to_end(
            "announced",
            json!([{"name": "s", "tasks": [condition("check", "1 == 1")]}]),
        )
        .await;

    let mut seen: Vec<LiveEvent> = Vec::new();
    let run_ended = |event: &LiveEvent| match event {
        LiveEvent::Execution {
            id: run, status, ..
        } => *run == id && status.is_final(),
        _ => false,
    };
    let seen = eventually("the run's final event", WAIT, || {
        while let Ok(event) = events.try_recv() {
            seen.push((*event).clone());
        }
        std::future::ready(seen.iter().any(run_ended).then(|| seen.clone()))
    })
    .await;

    let task_run_id = harness.task(id, "check").await.id;
    let transitions: Vec<String> = seen
        .iter()
        .filter_map(|event| match event {
            LiveEvent::Execution {
                id: run, status, ..
            } if *run == id => Some(format!("run {}", status.as_str())),
            LiveEvent::Task {
                execution_id,
                task_run_id: task,
                status,
                ..
            } if *execution_id == id && *task == task_run_id => {
                Some(format!("task {}", status.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        [
            "run RUNNING",
            "task RUNNING",
            "task COMPLETED",
            "run COMPLETED"
        ]
    );
    assert!(
        seen.iter().any(|event| matches!(
            event,
            LiveEvent::Log { task_run_id: task, line, .. }
                if *task == task_run_id && line.line.contains("holds")
        )),
        "the task's log line is announced: {seen:?}"
    );
    harness.shut_down().await;
}

#[tokio::test]
async fn a_kubernetes_create_task_creates_the_deployment_in_the_cluster() {
    // Arrange: the stand-in cluster, and an endpoint for it as the service stores one.
    let cluster = KubeStandin::builder()
        .token("engine-test-token")
        .start()
        .await
        .expect("the stand-in starts");
    let mut harness = Harness::new().await;
    let settings = app::endpoint::EndpointSettings {
        auth: Some(app::endpoint::KubernetesAuth::Token),
        namespace: Some("default".into()),
        ..Default::default()
    };
    let secrets = app::endpoint::EndpointSecrets {
        token: Some("engine-test-token".into()),
        ..Default::default()
    };
    let sealed = harness
        .context
        .secret_box
        .seal(&serde_json::to_string(&secrets).expect("the secrets write"));
    harness
        .context
        .store
        .create_endpoint(EndpointWrite {
            project_id: harness.project_id,
            name: "dev",
            description: "",
            kind: EndpointKind::Kubernetes,
            url: &cluster.url(),
            settings: &serde_json::to_string(&settings).expect("the settings write"),
            sealed_secrets: Some(&sealed),
            now: now_millis(),
        })
        .await
        .expect("the endpoint is stored");
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: app\n          image: example/web:v1\n";

    // Act
    let (id, execution) = harness
        .run_to_end(
            "deploy",
            json!([{"name": "deploy", "tasks": [{
                "name": "web", "type": "kubernetes", "endpoint": "dev", "action": "CREATE", "yaml": yaml
            }]}]),
        )
        .await;

    // Assert
    assert_completed(&execution);
    let deployment = cluster
        .object("apps", "v1", "deployments", Some("default"), "web")
        .expect("the Deployment exists in the cluster");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "example/web:v1"
    );
    let output = output(&harness.task(id, "web").await);
    assert_eq!(output["objects"][0]["kind"], "Deployment", "{output:#}");
    harness.shut_down().await;
}

#[tokio::test]
async fn a_kubernetes_task_naming_no_endpoint_of_the_project_fails() {
    let mut harness = Harness::new().await;

    let (_, execution) = harness
        .run_to_end(
            "nowhere",
            json!([{"name": "deploy", "tasks": [{
                "name": "web", "type": "kubernetes", "endpoint": "missing", "action": "GET",
                "yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
            }]}]),
        )
        .await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(
        execution.error.as_deref(),
        Some("deploy.web: the project has no Kubernetes endpoint 'missing'")
    );
    harness.shut_down().await;
}

#[tokio::test]
async fn a_poll_interval_too_long_for_the_clock_fails_the_run_and_frees_its_slot() {
    // Arrange: stored as a bypass of the save checks would leave it; the first
    // answer takes over a second, so "elapsed + interval" no longer fits a Duration.
    let peer = Peer::start().await;
    let mut harness = Harness::new().await;
    let pipeline = harness
        .pipeline(
            "forever",
            json!([{"name": "wait", "tasks": [{
                "name": "poll", "type": "poll", "url": peer.url("/slow-never"),
                "condition": "$.ready == true",
                "interval_seconds": u64::MAX, "timeout_seconds": u64::MAX
            }]}]),
        )
        .await;
    let first = harness.queue(&pipeline).await;
    let second = harness.queue(&pipeline).await;

    // Act
    harness.start();
    let first = harness.finished(first).await;
    let second = harness.finished(second).await;

    // Assert: both ended, so the worker and the pipeline's one slot were freed.
    assert_eq!(first.status, ExecutionStatus::Failed, "{:?}", first.error);
    assert_eq!(
        first.error.as_deref(),
        Some("wait.poll: the condition did not hold within 18446744073709551615 s")
    );
    assert_eq!(second.status, ExecutionStatus::Failed, "{:?}", second.error);
    harness.shut_down().await;
}

#[tokio::test]
async fn a_panic_under_supervision_is_answered_as_none_and_the_caller_goes_on() {
    let fail = std::hint::black_box(true);
    let panicking = supervised("a test future", async move {
        if fail {
            panic!("on purpose");
        }
        7
    });
    assert_eq!(panicking.await, None);
    assert_eq!(supervised("a test future", async { 7 }).await, Some(7));
}
