//! The state of a run, a task or a Docker event as a badge, on Executions,
//! Docker triggers and Activity, and how an audit entry ended. The state is always written out beside its
//! mark, so colour is never the only cue.

use leptos::prelude::*;

use crate::audit::AuditOutcome;
use crate::execution::{ExecutionStatus, TaskStatus};
use crate::webhook::{DockerEvent, EventStatus};

/// A badge: `class` colours it, `mark` is for the eye only and `children`
/// are the words screen readers read. Each caller adds the data attribute
/// the page's tests find it by (`{..} data-status=…`).
#[component]
fn MarkedBadge(class: &'static str, mark: &'static str, children: Children) -> impl IntoView {
    view! {
        <span class=class>
            <span aria-hidden="true" class="mr-1">{mark}</span>
            {children()}
        </span>
    }
}

/// Badge classes and a mark for each state of a run.
fn execution_look(status: ExecutionStatus) -> (&'static str, &'static str) {
    match status {
        ExecutionStatus::Completed => ("badge badge-green", "✓"),
        ExecutionStatus::Failed => ("badge badge-red", "✗"),
        ExecutionStatus::Running => ("badge bg-sky-100 text-sky-800", "●"),
        ExecutionStatus::Queued => ("badge bg-slate-200 text-slate-700", "◷"),
        ExecutionStatus::Waiting => ("badge bg-slate-200 text-slate-700", "‖"),
        ExecutionStatus::Canceled => ("badge bg-amber-100 text-amber-900", "⊘"),
    }
}

/// A run as the Docker pages show it: as on Executions, but for a queued
/// and a waiting run, which they tell apart by colour.
fn run_look(status: ExecutionStatus) -> (&'static str, &'static str) {
    match status {
        ExecutionStatus::Queued => ("badge bg-slate-100 text-slate-600", "○"),
        ExecutionStatus::Waiting => ("badge bg-violet-100 text-violet-800", "‖"),
        other => execution_look(other),
    }
}

/// Badge classes, a mark and the word for each state of a task or stage;
/// none is one that has not started.
fn task_look(status: Option<TaskStatus>) -> (&'static str, &'static str, &'static str) {
    match status {
        Some(TaskStatus::Completed) => ("badge badge-green", "✓", "COMPLETED"),
        Some(TaskStatus::Failed) => ("badge badge-red", "✗", "FAILED"),
        Some(TaskStatus::Running) => ("badge bg-sky-100 text-sky-800", "●", "RUNNING"),
        Some(TaskStatus::Waiting) => ("badge bg-violet-100 text-violet-800", "‖", "WAITING"),
        Some(TaskStatus::Skipped) => ("badge bg-slate-200 text-slate-700", "↷", "SKIPPED"),
        Some(TaskStatus::Canceled) => ("badge bg-amber-100 text-amber-900", "⊘", "CANCELED"),
        None => ("badge bg-slate-100 text-slate-500", "○", "PENDING"),
    }
}

fn event_look(status: EventStatus) -> (&'static str, &'static str) {
    match status {
        EventStatus::Triggered => ("badge bg-sky-100 text-sky-800", "▶"),
        EventStatus::Ignored => ("badge bg-slate-200 text-slate-700", "–"),
        EventStatus::Rejected => ("badge badge-red", "✗"),
        EventStatus::Duplicate => ("badge bg-amber-100 text-amber-900", "≡"),
    }
}

fn outcome_look(outcome: AuditOutcome) -> (&'static str, &'static str) {
    match outcome {
        AuditOutcome::Success => ("badge badge-green", "✓"),
        AuditOutcome::Failure => ("badge badge-red", "✗"),
        AuditOutcome::Refused => ("badge bg-amber-100 text-amber-900", "⊘"),
    }
}

/// How an audit entry ended: success, failure or refused.
#[component]
pub fn AuditOutcomeBadge(outcome: AuditOutcome) -> impl IntoView {
    let (class, mark) = outcome_look(outcome);
    view! {
        <MarkedBadge class mark {..} data-outcome=outcome.as_str()>
            {outcome.as_str()}
        </MarkedBadge>
    }
}

/// The state of a run, on the Executions pages.
#[component]
pub fn ExecutionStatusBadge(status: ExecutionStatus) -> impl IntoView {
    let (class, mark) = execution_look(status);
    view! {
        <MarkedBadge class mark {..} data-status=status.as_str()>
            {status.as_str()}
        </MarkedBadge>
    }
}

/// The state of a task or a stage.
#[component]
pub fn TaskStatusBadge(status: Option<TaskStatus>) -> impl IntoView {
    let (class, mark, word) = task_look(status);
    view! {
        <MarkedBadge class mark {..} data-status=word>
            {word}
        </MarkedBadge>
    }
}

/// What became of an event: TRIGGERED, IGNORED, REJECTED or DUPLICATE.
#[component]
pub fn EventStatusBadge(status: EventStatus) -> impl IntoView {
    let (class, mark) = event_look(status);
    view! {
        <MarkedBadge class mark {..} data-event-status=status.as_str()>
            {status.as_str()}
        </MarkedBadge>
    }
}

/// The state of the run an event started.
#[component]
pub fn RunStatusBadge(status: ExecutionStatus) -> impl IntoView {
    let (class, mark) = run_look(status);
    view! {
        <MarkedBadge class mark {..} data-execution-status=status.as_str()>
            <span class="sr-only">"run "</span>
            {status.as_str()}
        </MarkedBadge>
    }
}

/// A run's state when the event started one; "starting" while it has none yet.
pub fn run_state_view(event: &DockerEvent) -> AnyView {
    match (event.execution_id, event.execution_status) {
        (_, Some(status)) => view! { <RunStatusBadge status /> }.into_any(),
        (Some(_), None) => {
            view! { <span class="text-xs text-slate-500">"starting…"</span> }.into_any()
        }
        (None, None) => ().into_any(),
    }
}
