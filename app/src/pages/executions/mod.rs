//! Executions: every run of a pipeline (`list`, with its `filters`), and one
//! run (`execution`) with its stages (`stages`), the chosen task's inputs and
//! output (`task`) and its log (`log`). Both pages follow the server's live
//! stream: new runs, state changes and log lines appear as they happen.
//!
//! Here: the texts both pages show of a run (its trigger, how long it ran,
//! times of day) and the box that shows why a run or a task failed.

mod approval;
mod diff;
mod execution;
mod filters;
mod list;
mod log;
mod notifications;
mod stages;
mod task;

use leptos::prelude::*;

use crate::execution::{TaskRun, TaskStatus, Trigger};

pub use execution::ExecutionPage;
pub use list::ExecutionsPage;

/// What started a run, in words: `docker repo:tag`, `manual by ann`.
fn trigger_text(trigger: &Trigger) -> String {
    match trigger.kind.as_str() {
        "docker" => {
            let repository = trigger.repository.as_deref().unwrap_or("?");
            match trigger.tag.as_deref() {
                Some(tag) => format!("docker {repository}:{tag}"),
                None => format!("docker {repository}"),
            }
        }
        "manual" => match trigger.user.as_deref() {
            Some(user) => format!("manual by {user}"),
            None => "manual".to_string(),
        },
        other => match trigger.user.as_deref() {
            Some(user) => format!("{other} by {user}"),
            None => other.to_string(),
        },
    }
}

/// `850 ms`, `12.4 s`, `3 m 05 s`, `1 h 02 m`.
fn format_duration(millis: i64) -> String {
    let millis = millis.max(0);
    if millis < 1000 {
        return format!("{millis} ms");
    }
    if millis < 60_000 {
        return format!("{:.1} s", millis as f64 / 1000.0);
    }
    let seconds = millis / 1000;
    if seconds < 3600 {
        return format!("{} m {:02} s", seconds / 60, seconds % 60);
    }
    format!("{} h {:02} m", seconds / 3600, (seconds % 3600) / 60)
}

/// How long something ran, or has been running by the clock `now`.
fn duration_text(started: Option<i64>, finished: Option<i64>, now: Option<i64>) -> String {
    match (started, finished.or(now)) {
        (Some(started), Some(end)) => format_duration(end - started),
        (Some(_), None) => "running…".to_string(),
        (None, _) => "—".to_string(),
    }
}

/// The time of day of a timestamp, to the second, in UTC.
fn time_of_day(millis: i64) -> String {
    let seconds = millis.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds % 3600) / 60,
        seconds % 60
    )
}

/// When a task ran: what its duration is made of.
#[derive(Clone, Copy)]
struct Timing {
    running: bool,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl Timing {
    fn of(task: &TaskRun) -> Self {
        Timing {
            running: matches!(task.status, TaskStatus::Running | TaskStatus::Waiting),
            started_at: task.started_at,
            finished_at: task.finished_at,
        }
    }

    /// The duration, ticking with `clock` while the task runs.
    fn text(self, clock: ReadSignal<Option<i64>>) -> String {
        let now = self.running.then(|| clock.get()).flatten();
        duration_text(self.started_at, self.finished_at, now)
    }
}

/// Why a run or a task failed, in a red box.
#[component]
fn FailureBox(error: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" data-testid=testid>
            <span class="font-semibold">"Error: "</span>
            {error}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_units_that_matter() {
        assert_eq!(format_duration(-5), "0 ms");
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(12_400), "12.4 s");
        assert_eq!(format_duration(185_000), "3 m 05 s");
        assert_eq!(format_duration(3_720_000), "1 h 02 m");
        assert_eq!(duration_text(None, None, Some(5)), "—");
        assert_eq!(duration_text(Some(1_000), None, None), "running…");
        assert_eq!(duration_text(Some(1_000), None, Some(3_000)), "2.0 s");
    }

    #[test]
    fn triggers_name_what_was_pushed_or_who_ran_it() {
        let docker = Trigger {
            kind: "docker".into(),
            repository: Some("acme/web".into()),
            tag: Some("v2".into()),
            ..Trigger::default()
        };
        assert_eq!(trigger_text(&docker), "docker acme/web:v2");
        let manual = Trigger {
            kind: "manual".into(),
            user: Some("ann".into()),
            ..Trigger::default()
        };
        assert_eq!(trigger_text(&manual), "manual by ann");
        assert_eq!(time_of_day(86_400_000 + 3_723_000), "01:02:03");
    }
}
