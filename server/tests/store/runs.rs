//! Pipelines, runs (queue, claim, lease, cancel, finish), run numbers, tasks and logs.

use app::execution::{ExecutionStatus, TaskStatus};
use app::model::ProjectRole;
use server::store::*;

use crate::support::*;

pub async fn pipelines(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let other = project(&store, "Other").await;
    let hub = endpoint(&store, demo.id, "hub").await;
    let created = store
        .create_pipeline(PipelineWrite {
            description: "ships it",
            concurrency: 2,
            spec: r#"{"stages":[]}"#,
            now: 3,
            // The same endpoint twice is recorded once.
            ..pipeline_write(demo.id, "deploy", &[hub.id, hub.id])
        })
        .await
        .unwrap();
    assert_eq!(
        (
            created.project_name.as_str(),
            created.name.as_str(),
            created.description.as_str()
        ),
        ("Demo", "deploy", "ships it")
    );
    assert_eq!(
        (created.enabled, created.concurrency, created.spec.as_str()),
        (true, 2, r#"{"stages":[]}"#)
    );
    assert_eq!((created.created_at, created.updated_at), (3, 3));
    assert_eq!(store.endpoint_users(hub.id).await.unwrap().len(), 1);

    // An update rewrites the fields and the endpoints it uses.
    let updated = store
        .update_pipeline(
            created.id,
            PipelineWrite {
                enabled: false,
                now: 5,
                ..pipeline_write(demo.id, "deploy", &[])
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.enabled,
            updated.concurrency,
            updated.created_at,
            updated.updated_at
        ),
        (false, 1, 3, 5)
    );
    assert!(store.endpoint_users(hub.id).await.unwrap().is_empty());
    assert_eq!(
        store.pipeline_by_id(created.id).await.unwrap(),
        Some(updated.clone())
    );

    // Lists are by project, then name; a member sees their projects' only.
    let elsewhere = pipeline(&store, other.id, "deploy", &[]).await;
    let build = pipeline(&store, demo.id, "build", &[]).await;
    assert_eq!(store.pipelines_by_name("deploy").await.unwrap().len(), 2);
    let ids = |pipelines: Vec<PipelineRecord>| -> Vec<i64> {
        pipelines.iter().map(|pipeline| pipeline.id).collect()
    };
    assert_eq!(
        ids(store.list_pipelines(None).await.unwrap()),
        [build.id, created.id, elsewhere.id]
    );
    let member = user(&store, "member").await;
    assert!(store
        .list_pipelines(Some(member.id))
        .await
        .unwrap()
        .is_empty());
    store
        .set_membership(other.id, member.id, ProjectRole::Viewer)
        .await
        .unwrap();
    assert_eq!(
        ids(store.list_pipelines(Some(member.id)).await.unwrap()),
        [elsewhere.id]
    );

    assert_eq!(
        store.delete_pipeline(build.id, false).await.unwrap(),
        PipelineDeletion::Deleted
    );
    assert_eq!(store.pipeline_by_id(build.id).await.unwrap(), None);
}

pub async fn a_pipeline_keeps_its_runs_unless_their_deletion_is_asked_for(store: SharedStore) {
    let seed = seed(&store).await;
    let started_by_hook = seed.pipeline;
    let deploy = pipeline(&store, seed.project.id, "deploy-alone", &[]).await;

    // Started by a webhook: kept, whatever is asked.
    assert_eq!(
        store
            .delete_pipeline(started_by_hook.id, true)
            .await
            .unwrap(),
        PipelineDeletion::StartedByWebhooks(vec!["on-push".into()])
    );
    // A run not finished: kept, even with its runs' deletion asked for.
    let queued = store
        .queue_execution(run(&deploy, MANUAL, 10))
        .await
        .unwrap();
    assert_eq!(
        store.delete_pipeline(deploy.id, true).await.unwrap(),
        PipelineDeletion::HasActiveRuns(1)
    );
    // Finished runs: kept unless asked for; then the pipeline and its runs go.
    assert_eq!(
        store.request_cancel(queued.id, 20).await.unwrap(),
        CancelOutcome::CanceledInQueue
    );
    assert_eq!(
        store.delete_pipeline(deploy.id, false).await.unwrap(),
        PipelineDeletion::HasRuns(1)
    );
    assert!(store.execution_by_id(queued.id).await.unwrap().is_some());
    assert_eq!(
        store.delete_pipeline(deploy.id, true).await.unwrap(),
        PipelineDeletion::Deleted
    );
    assert_eq!(store.pipeline_by_id(deploy.id).await.unwrap(), None);
    assert_eq!(store.execution_by_id(queued.id).await.unwrap(), None);
}

pub async fn executions_queue_claim_renew_finish_cancel(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;

    let first = store
        .queue_execution(run(&deploy, MANUAL, 10))
        .await
        .unwrap();
    assert_eq!(
        (first.run_number, first.status, first.trigger.as_str()),
        (1, ExecutionStatus::Queued, MANUAL)
    );
    assert_eq!(
        (
            first.pipeline_name.as_str(),
            first.project_name.as_str(),
            first.project_id
        ),
        ("deploy", "Demo", demo.id)
    );
    assert_eq!(
        (
            first.created_at,
            first.started_at,
            first.finished_at,
            first.cancel_requested
        ),
        (10, None, None, false)
    );
    let second = store
        .queue_execution(run(&deploy, MANUAL, 11))
        .await
        .unwrap();
    assert_eq!(second.run_number, 2);

    // A claim takes the oldest run, and no more than the pipeline's concurrency.
    let claimed = store.claim_execution("w1", 20, 100).await.unwrap().unwrap();
    assert_eq!(
        (claimed.id, claimed.status, claimed.started_at),
        (first.id, ExecutionStatus::Running, Some(20))
    );
    assert_eq!(store.claim_execution("w2", 21, 100).await.unwrap(), None);

    // The holder renews its lease and learns of a cancel request.
    assert_eq!(
        store.renew_lease(first.id, "w1", 200).await.unwrap(),
        Some(false)
    );
    assert_eq!(store.renew_lease(first.id, "w2", 200).await.unwrap(), None);
    assert_eq!(
        store.request_cancel(first.id, 30).await.unwrap(),
        CancelOutcome::Requested
    );
    assert_eq!(
        store.renew_lease(first.id, "w1", 300).await.unwrap(),
        Some(true)
    );
    let running = store.execution_by_id(first.id).await.unwrap().unwrap();
    assert!(running.cancel_requested);

    // Only the lease holder records the end, and a finished run stays as it finished.
    let canceled_by_alice = RunEndRecord {
        status: ExecutionStatus::Canceled,
        error: Some("canceled by alice"),
        now: 40,
    };
    assert!(!store
        .finish_execution(first.id, "w2", canceled_by_alice)
        .await
        .unwrap());
    assert!(store
        .finish_execution(first.id, "w1", canceled_by_alice)
        .await
        .unwrap());
    let completed = RunEndRecord {
        status: ExecutionStatus::Completed,
        error: None,
        now: 41,
    };
    assert!(!store
        .finish_execution(first.id, "w1", completed)
        .await
        .unwrap());
    let finished = store.execution_by_id(first.id).await.unwrap().unwrap();
    assert_eq!(
        (
            finished.status,
            finished.error.as_deref(),
            finished.finished_at
        ),
        (
            ExecutionStatus::Canceled,
            Some("canceled by alice"),
            Some(40)
        )
    );
    assert_eq!(store.renew_lease(first.id, "w1", 400).await.unwrap(), None);
    assert_eq!(
        store.request_cancel(first.id, 42).await.unwrap(),
        CancelOutcome::AlreadyFinished
    );

    // A queued run is canceled where it waits.
    let third = store
        .queue_execution(run(&deploy, MANUAL, 12))
        .await
        .unwrap();
    assert_eq!(
        store.request_cancel(third.id, 43).await.unwrap(),
        CancelOutcome::CanceledInQueue
    );
    let canceled = store.execution_by_id(third.id).await.unwrap().unwrap();
    assert_eq!(
        (
            canceled.status,
            canceled.error.as_deref(),
            canceled.finished_at
        ),
        (
            ExecutionStatus::Canceled,
            Some("canceled before it started"),
            Some(43)
        )
    );

    // A run whose lease ran out is taken over, once; one whose lease holds is not.
    let claimed = store.claim_execution("w2", 50, 60).await.unwrap().unwrap();
    assert_eq!(claimed.id, second.id);
    let task = store.start_task(task_start(second.id, 51)).await.unwrap();
    assert_eq!(
        store
            .take_over_expired_execution("w3", 59, 200)
            .await
            .unwrap(),
        None
    );
    let taken = store
        .take_over_expired_execution("w3", 61, 200)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            taken.execution.id,
            taken.execution.status,
            taken.previous_owner.as_str()
        ),
        (second.id, ExecutionStatus::Running, "w2")
    );
    assert_eq!(
        store
            .take_over_expired_execution("w4", 62, 300)
            .await
            .unwrap(),
        None
    );
    // The old holder lost it: no renewal, no end; the new one holds it.
    assert_eq!(store.renew_lease(second.id, "w2", 300).await.unwrap(), None);
    assert_eq!(
        store.renew_lease(second.id, "w3", 300).await.unwrap(),
        Some(false)
    );
    // Its tasks are as they were, for the new holder to continue.
    let tasks = store.task_runs(second.id).await.unwrap();
    assert_eq!((tasks[0].id, tasks[0].status), (task, TaskStatus::Running));

    // Released leases are taken over at once: one run's by its holder, or every one.
    assert_eq!(
        store
            .release_leases(
                LeaseRelease::Run {
                    id: second.id,
                    owner: "w2"
                },
                70
            )
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .release_leases(
                LeaseRelease::Run {
                    id: second.id,
                    owner: "w3"
                },
                70
            )
            .await
            .unwrap(),
        1
    );
    let taken = store
        .take_over_expired_execution("w4", 70, 400)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.previous_owner, "w3");
    assert_eq!(
        store.release_leases(LeaseRelease::Every, 71).await.unwrap(),
        1
    );
    assert!(store
        .take_over_expired_execution("w5", 71, 500)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.execution_by_id(second.id + 100).await.unwrap(), None);
}

/// Replicas racing for one expired run: exactly one takes it.
pub async fn an_expired_run_is_taken_over_by_one_of_racing_replicas(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let queued = store
        .queue_execution(run(&deploy, MANUAL, 1))
        .await
        .unwrap();
    store.claim_execution("dead", 2, 3).await.unwrap().unwrap();
    let racers = (0..8).map(|n| {
        let store = store.clone();
        async move {
            store
                .take_over_expired_execution(&format!("replica-{n}"), 10, 1_000)
                .await
                .unwrap()
        }
    });
    let taken: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].execution.id, queued.id);
}

pub async fn executions_list_by_filter_newest_first(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let other = project(&store, "Other").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let elsewhere = pipeline(&store, other.id, "deploy", &[]).await;
    let a = store
        .queue_execution(run(&deploy, MANUAL, 1))
        .await
        .unwrap();
    let b = store
        .queue_execution(run(&elsewhere, DOCKER, 2))
        .await
        .unwrap();
    let c = store
        .queue_execution(run(&deploy, DOCKER, 3))
        .await
        .unwrap();
    // `a` and `b` run (one per pipeline); `c` waits behind `a`.
    store.claim_execution("w", 4, 100).await.unwrap().unwrap();
    store.claim_execution("w", 4, 100).await.unwrap().unwrap();
    assert_eq!(store.claim_execution("w", 4, 100).await.unwrap(), None);

    let member = user(&store, "member").await;
    store
        .set_membership(other.id, member.id, ProjectRole::Viewer)
        .await
        .unwrap();
    let everything = ExecutionQuery {
        limit: 50,
        ..ExecutionQuery::default()
    };
    let cases = [
        (everything.clone(), vec![c.id, b.id, a.id]),
        (
            ExecutionQuery {
                project_id: Some(demo.id),
                ..everything.clone()
            },
            vec![c.id, a.id],
        ),
        (
            ExecutionQuery {
                pipeline_id: Some(elsewhere.id),
                ..everything.clone()
            },
            vec![b.id],
        ),
        (
            ExecutionQuery {
                status: Some(ExecutionStatus::Queued),
                ..everything.clone()
            },
            vec![c.id],
        ),
        (
            ExecutionQuery {
                trigger: Some("docker".into()),
                ..everything.clone()
            },
            vec![c.id, b.id],
        ),
        (
            ExecutionQuery {
                before_id: Some(c.id),
                ..everything.clone()
            },
            vec![b.id, a.id],
        ),
        (
            ExecutionQuery {
                limit: 1,
                ..everything.clone()
            },
            vec![c.id],
        ),
        (
            ExecutionQuery {
                member: Some(member.id),
                ..everything.clone()
            },
            vec![b.id],
        ),
    ];
    for (query, expected) in cases {
        let listed: Vec<i64> = store
            .list_executions(&query)
            .await
            .unwrap()
            .iter()
            .map(|execution| execution.id)
            .collect();
        assert_eq!(listed, expected, "{query:?}");
    }
}

pub async fn run_numbers_stay_distinct_under_concurrency(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let build = pipeline(&store, demo.id, "build", &[]).await;

    let mut queued = tokio::task::JoinSet::new();
    for now in 0..20 {
        let store = store.clone();
        let deploy = deploy.clone();
        queued.spawn(async move { store.queue_execution(run(&deploy, MANUAL, now)).await });
    }
    let mut numbers = Vec::new();
    while let Some(done) = queued.join_next().await {
        numbers.push(done.unwrap().expect("every run is queued").run_number);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<i64>>());

    // Each pipeline counts its own runs.
    let other = store
        .queue_execution(run(&build, MANUAL, 30))
        .await
        .unwrap();
    assert_eq!(other.run_number, 1);
    let next = store
        .queue_execution(run(&deploy, MANUAL, 31))
        .await
        .unwrap();
    assert_eq!(next.run_number, 21);
}

pub async fn tasks_and_logs(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let deploy = pipeline(&store, demo.id, "deploy", &[]).await;
    let execution = store
        .queue_execution(run(&deploy, MANUAL, 1))
        .await
        .unwrap();
    let task = |stage_index, task_index, task_name, now| TaskStart {
        execution_id: execution.id,
        stage_index,
        stage_name: "build",
        task_index,
        task_name,
        task_type: "condition",
        inputs: Some(r#"{"x":"1"}"#),
        now,
    };
    let second = store.start_task(task(0, 1, "second", 10)).await.unwrap();
    let first = store.start_task(task(0, 0, "first", 11)).await.unwrap();
    store
        .finish_task(first, TaskStatus::Failed, Some("out"), Some("boom"), 12)
        .await
        .unwrap();
    let finished = &store.task_runs(execution.id).await.unwrap()[0];
    assert_eq!(
        (
            finished.status,
            finished.output.as_deref(),
            finished.error.as_deref()
        ),
        (TaskStatus::Failed, Some("out"), Some("boom"))
    );
    assert_eq!(finished.finished_at, Some(12));

    // Starting a task again reuses its row and clears its result.
    assert_eq!(
        store.start_task(task(0, 0, "first", 13)).await.unwrap(),
        first
    );
    let tasks = store.task_runs(execution.id).await.unwrap();
    let ids: Vec<i64> = tasks.iter().map(|task| task.id).collect();
    assert_eq!(ids, [first, second], "in stage and task order");
    assert_eq!(
        (
            tasks[0].status,
            tasks[0].output.as_deref(),
            tasks[0].error.as_deref()
        ),
        (TaskStatus::Running, None, None)
    );
    assert_eq!(
        (tasks[0].started_at, tasks[0].finished_at),
        (Some(13), None)
    );
    assert_eq!(
        (
            tasks[0].stage_name.as_str(),
            tasks[0].task_name.as_str(),
            tasks[0].task_type.as_str()
        ),
        ("build", "first", "condition")
    );
    assert_eq!(tasks[0].inputs.as_deref(), Some(r#"{"x":"1"}"#));

    // Log lines: ids grow with every line, across the run's tasks and
    // within one call, in the order given.
    let [one] = appended(&store, second, &[(20, "one")]).await;
    let [two] = appended(&store, first, &[(21, "two")]).await;
    let [three] = appended(&store, second, &[(22, "three")]).await;
    assert!(one < two && two < three);
    let logs = store.task_logs(execution.id).await.unwrap();
    assert_eq!(
        logs,
        [
            LogRecord {
                id: one,
                task_run_id: second,
                at: 20,
                line: "one".into()
            },
            LogRecord {
                id: two,
                task_run_id: first,
                at: 21,
                line: "two".into()
            },
            LogRecord {
                id: three,
                task_run_id: second,
                at: 22,
                line: "three".into()
            },
        ]
    );

    // A burst longer than one INSERT takes: every line, in order, ids after
    // the earlier ones and increasing.
    let burst: Vec<String> = (0..300).map(|index| format!("line {index}")).collect();
    let appends: Vec<LogAppend<'_>> = burst
        .iter()
        .map(|line| LogAppend { at: 30, line })
        .collect();
    let ids = store.append_logs(first, &appends).await.unwrap();
    assert_eq!(ids.len(), burst.len());
    assert!(ids[0] > three && ids.windows(2).all(|pair| pair[0] < pair[1]));
    let stored = store.task_logs(execution.id).await.unwrap();
    let stored_burst: Vec<(i64, &str)> = stored[3..]
        .iter()
        .map(|log| (log.id, log.line.as_str()))
        .collect();
    let expected: Vec<(i64, &str)> = ids
        .iter()
        .copied()
        .zip(burst.iter().map(String::as_str))
        .collect();
    assert_eq!(stored_burst, expected);
}

/// Appends lines (at, text) to a task run's log; answers their ids.
async fn appended<const N: usize>(
    store: &SharedStore,
    task_run_id: i64,
    lines: &[(i64, &str); N],
) -> [i64; N] {
    let appends: Vec<LogAppend<'_>> = lines
        .iter()
        .map(|&(at, line)| LogAppend { at, line })
        .collect();
    let ids = store.append_logs(task_run_id, &appends).await.unwrap();
    ids.try_into().expect("one id per line")
}

pub async fn approvals_park_a_run_and_decisions_resume_it(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let release = pipeline(&store, demo.id, "release", &[]).await;
    let queued = store
        .queue_execution(run(&release, MANUAL, 1))
        .await
        .unwrap();
    let claimed = store.claim_execution("w1", 2, 100).await.unwrap().unwrap();
    assert_eq!(claimed.id, queued.id);
    let gate = |task_index, task_name| TaskStart {
        execution_id: queued.id,
        stage_index: 0,
        stage_name: "gate",
        task_index,
        task_name,
        task_type: "approval",
        inputs: Some(r#"{"type":"approval","approvers":["alice"]}"#),
        now: 3,
    };
    let first = store.start_task(gate(0, "first")).await.unwrap();
    let second = store.start_task(gate(1, "second")).await.unwrap();
    let waiting = [
        WaitingTask {
            task_run_id: first,
            expires_at: 50,
        },
        WaitingTask {
            task_run_id: second,
            expires_at: 500,
        },
    ];

    // Only the lease holder parks the run; parked, it holds no lease and
    // nobody takes it over.
    assert_eq!(
        store
            .park_execution(queued.id, "w2", &waiting, None, 20)
            .await
            .unwrap(),
        ParkOutcome::NotOwner
    );
    assert_eq!(
        store
            .park_execution(queued.id, "w1", &waiting, Some(r#"{"preview":[]}"#), 20)
            .await
            .unwrap(),
        ParkOutcome::Parked
    );
    let parked = store.execution_by_id(queued.id).await.unwrap().unwrap();
    assert_eq!(
        (parked.status, parked.lease_owner),
        (ExecutionStatus::Waiting, None)
    );
    let tasks = store.task_runs(queued.id).await.unwrap();
    assert_eq!(
        tasks
            .iter()
            .map(|task| (task.status, task.expires_at))
            .collect::<Vec<_>>(),
        [
            (TaskStatus::Waiting, Some(50)),
            (TaskStatus::Waiting, Some(500))
        ]
    );
    assert!(store
        .take_over_expired_execution("w3", 10_000, 20_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.waiting_approvals(None).await.unwrap().len(), 2);

    // Expiry finds the first only; its end is a decision like any other.
    assert_eq!(
        store.expired_approvals(60, 10).await.unwrap(),
        [(queued.id, first)]
    );
    let expired = ApprovalDecision {
        status: TaskStatus::Failed,
        output: r#"{"decision":"expired"}"#,
        error: Some("approval expired"),
        now: 60,
    };
    assert!(store
        .decide_approval(queued.id, first, expired)
        .await
        .unwrap());
    assert!(
        !store
            .decide_approval(queued.id, first, expired)
            .await
            .unwrap(),
        "a task is decided once"
    );
    let still = store.execution_by_id(queued.id).await.unwrap().unwrap();
    assert_eq!(
        still.status,
        ExecutionStatus::Waiting,
        "one approval still waits"
    );

    // The last decision makes the run RUNNING with no owner: a takeover resumes it.
    let approved = ApprovalDecision {
        status: TaskStatus::Completed,
        output: r#"{"decision":"approved"}"#,
        error: None,
        now: 70,
    };
    assert!(store
        .decide_approval(queued.id, second, approved)
        .await
        .unwrap());
    let resumed = store
        .take_over_expired_execution("w3", 80, 200)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            resumed.execution.id,
            resumed.execution.status,
            resumed.previous_owner.as_str()
        ),
        (queued.id, ExecutionStatus::Running, "")
    );
    assert!(store.waiting_approvals(None).await.unwrap().is_empty());
}

pub async fn a_waiting_run_is_canceled_with_its_approvals(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let release = pipeline(&store, demo.id, "release", &[]).await;
    let queued = store
        .queue_execution(run(&release, MANUAL, 1))
        .await
        .unwrap();
    store.claim_execution("w1", 2, 100).await.unwrap().unwrap();
    let gate = store
        .start_task(TaskStart {
            execution_id: queued.id,
            stage_index: 0,
            stage_name: "gate",
            task_index: 0,
            task_name: "approve",
            task_type: "approval",
            inputs: None,
            now: 3,
        })
        .await
        .unwrap();
    // A cancel asked for before the park keeps the run from waiting.
    assert_eq!(
        store.request_cancel(queued.id, 4).await.unwrap(),
        CancelOutcome::Requested
    );
    let waiting = [WaitingTask {
        task_run_id: gate,
        expires_at: 1_000,
    }];
    assert_eq!(
        store
            .park_execution(queued.id, "w1", &waiting, None, 20)
            .await
            .unwrap(),
        ParkOutcome::CancelRequested
    );

    let other = store
        .queue_execution(run(&release, MANUAL, 5))
        .await
        .unwrap();
    store
        .finish_execution(
            queued.id,
            "w1",
            RunEndRecord {
                status: ExecutionStatus::Canceled,
                error: Some("canceled"),
                now: 6,
            },
        )
        .await
        .unwrap();
    store.claim_execution("w1", 7, 100).await.unwrap().unwrap();
    let other_gate = store
        .start_task(TaskStart {
            execution_id: other.id,
            stage_index: 0,
            stage_name: "gate",
            task_index: 0,
            task_name: "approve",
            task_type: "approval",
            inputs: None,
            now: 8,
        })
        .await
        .unwrap();
    let waiting = [WaitingTask {
        task_run_id: other_gate,
        expires_at: 1_000,
    }];
    assert_eq!(
        store
            .park_execution(other.id, "w1", &waiting, None, 20)
            .await
            .unwrap(),
        ParkOutcome::Parked
    );
    assert_eq!(
        store.request_cancel(other.id, 9).await.unwrap(),
        CancelOutcome::CanceledWhileWaiting
    );
    let canceled = store.execution_by_id(other.id).await.unwrap().unwrap();
    assert_eq!(
        (canceled.status, canceled.finished_at),
        (ExecutionStatus::Canceled, Some(9))
    );
    let task = &store.task_runs(other.id).await.unwrap()[0];
    assert_eq!(task.status, TaskStatus::Canceled);
    assert_eq!(
        store.request_cancel(other.id, 10).await.unwrap(),
        CancelOutcome::AlreadyFinished
    );
}

/// Hundreds of runs waiting behind one pipeline's limit hide no other
/// pipeline's run from a claim, and its own runs still start oldest first.
pub async fn a_backlog_behind_one_pipelines_limit_holds_up_no_other(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let held = pipeline(&store, demo.id, "held", &[]).await;
    let free = pipeline(&store, demo.id, "free", &[]).await;
    let mut backlog = Vec::new();
    for now in 0..200 {
        let queued = store.queue_execution(run(&held, MANUAL, now)).await;
        backlog.push(queued.unwrap().id);
    }
    let later = store
        .queue_execution(run(&free, MANUAL, 300))
        .await
        .unwrap();

    let first = store.claim_execution("w1", 400, 1_000).await.unwrap();
    assert_eq!(first.map(|run| run.id), Some(backlog[0]));
    let next = store.claim_execution("w1", 401, 1_000).await.unwrap();
    assert_eq!(
        next.map(|run| run.id),
        Some(later.id),
        "the other pipeline's run starts"
    );
    assert_eq!(store.claim_execution("w1", 402, 1_000).await.unwrap(), None);

    let ended = RunEndRecord {
        status: ExecutionStatus::Completed,
        error: None,
        now: 403,
    };
    assert!(store
        .finish_execution(backlog[0], "w1", ended)
        .await
        .unwrap());
    let after = store.claim_execution("w1", 404, 1_000).await.unwrap();
    assert_eq!(after.map(|run| run.id), Some(backlog[1]));
}

/// Claimers racing over several pipelines' backlogs start exactly each
/// pipeline's limit of runs, never more.
pub async fn racing_claimers_start_each_pipelines_limit_and_no_more(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let mut pipelines = Vec::new();
    for name in ["a", "b", "c"] {
        let write = PipelineWrite {
            concurrency: 2,
            ..pipeline_write(demo.id, name, &[])
        };
        let created = store.create_pipeline(write).await.unwrap();
        for now in 0..10 {
            store
                .queue_execution(run(&created, MANUAL, now))
                .await
                .unwrap();
        }
        pipelines.push(created.id);
    }

    let mut claimers = tokio::task::JoinSet::new();
    for claimer in 0..8 {
        let store = store.clone();
        claimers.spawn(async move {
            let owner = format!("w{claimer}");
            let mut claimed = Vec::new();
            while let Some(run) = store.claim_execution(&owner, 20, 1_000).await.unwrap() {
                claimed.push(run.pipeline_id);
            }
            claimed
        });
    }
    let mut started = Vec::new();
    while let Some(claimed) = claimers.join_next().await {
        started.extend(claimed.unwrap());
    }
    started.sort_unstable();
    let expected: Vec<i64> = pipelines.iter().flat_map(|id| [*id, *id]).collect();
    assert_eq!(started, expected);
}
