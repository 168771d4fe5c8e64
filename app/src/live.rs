//! Live updates: what the server tells open pages as it happens, over one
//! server-sent-events stream per page (`GET /api/live`).
//!
//! An event says *what* changed, not the whole new state: pages refetch what
//! they show through their server functions, so a page that missed events
//! (a slow reader, a reconnect after a restart) catches up the same way.
//! Only log lines carry their content, since they are only ever appended.

use std::time::Duration;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::execution::{ExecutionStatus, LogLine, TaskStatus};

/// The address of the stream; `?execution=ID` narrows it to one run and adds its log lines.
pub const LIVE_PATH: &str = "/api/live";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A run was queued or changed state.
    Execution {
        id: i64,
        project_id: i64,
        pipeline_id: i64,
        status: ExecutionStatus,
    },
    /// A task of a run started or ended.
    Task {
        execution_id: i64,
        project_id: i64,
        task_run_id: i64,
        status: TaskStatus,
    },
    /// A task wrote a log line (sent only on a stream narrowed to its run).
    Log {
        execution_id: i64,
        project_id: i64,
        task_run_id: i64,
        line: LogLine,
    },
    /// An Activity row was recorded or changed.
    Activity {
        event_id: i64,
        project_id: i64,
        webhook_id: i64,
    },
    /// The reader may have missed events: refetch everything shown.
    Resync,
}

impl LiveEvent {
    /// The project whose members may see it (None: everyone who listens).
    pub fn project_id(&self) -> Option<i64> {
        match self {
            LiveEvent::Execution { project_id, .. }
            | LiveEvent::Task { project_id, .. }
            | LiveEvent::Log { project_id, .. }
            | LiveEvent::Activity { project_id, .. } => Some(*project_id),
            LiveEvent::Resync => None,
        }
    }

    /// The run it is about, if any.
    pub fn execution_id(&self) -> Option<i64> {
        match self {
            LiveEvent::Execution { id, .. } => Some(*id),
            LiveEvent::Task { execution_id, .. } | LiveEvent::Log { execution_id, .. } => {
                Some(*execution_id)
            }
            LiveEvent::Activity { .. } | LiveEvent::Resync => None,
        }
    }
}

/// Which events a stream carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveScope {
    /// One run: its state, tasks and log lines. None: runs' states and Activity of all
    /// visible projects (no log lines, no task events).
    pub execution: Option<i64>,
}

impl LiveScope {
    pub fn wants(&self, event: &LiveEvent) -> bool {
        match (self.execution, event) {
            (_, LiveEvent::Resync) => true,
            (Some(wanted), event) => event.execution_id() == Some(wanted),
            (None, LiveEvent::Execution { .. } | LiveEvent::Activity { .. }) => true,
            (None, LiveEvent::Task { .. } | LiveEvent::Log { .. }) => false,
        }
    }

    pub fn address(&self) -> String {
        match self.execution {
            Some(id) => format!("{LIVE_PATH}?execution={id}"),
            None => LIVE_PATH.to_string(),
        }
    }
}

/// How long a burst of events is gathered into one trailing refetch.
const GATHER: Duration = Duration::from_millis(50);

/// A page's "refetch now" switch: a burst of events costs two fetches (one at
/// once, one when the burst is over), not one per event.
#[derive(Clone, Copy)]
pub struct Refetch {
    version: RwSignal<u64>,
    /// (a fetch went out less than [`GATHER`] ago, another one was asked for since)
    gathering: StoredValue<(bool, bool)>,
}

impl Default for Refetch {
    fn default() -> Self {
        Refetch {
            version: RwSignal::new(0),
            gathering: StoredValue::new((false, false)),
        }
    }
}

impl Refetch {
    /// Read in a resource's source: it refetches when this changes.
    pub fn version(&self) -> u64 {
        self.version.get()
    }

    pub fn request(self) {
        let (gathering, _) = self.gathering.get_value();
        if gathering {
            self.gathering.set_value((true, true));
            return;
        }
        self.version.update(|version| *version += 1);
        self.gathering.set_value((true, false));
        set_timeout(
            move || {
                let Some((_, asked_again)) = self.gathering.try_get_value() else {
                    return;
                };
                self.gathering.set_value((false, false));
                if asked_again {
                    self.request();
                }
            },
            GATHER,
        );
    }
}

/// Opens the page's live stream while the page is shown and calls `on_event`
/// for each event, and with [`LiveEvent::Resync`] each time the stream
/// (re)connects, so what was missed while it was closed is refetched. The
/// browser's EventSource reconnects by itself after a dropped connection; a
/// stream the server refused (say, a session that ended) is retried here.
/// Answers whether the stream is open now. On the server this does nothing
/// (effects run only in the browser) and the stream reads as not open.
pub fn use_live(
    scope: impl Fn() -> LiveScope + 'static,
    on_event: impl Fn(LiveEvent) + 'static,
) -> ReadSignal<bool> {
    let (open, set_open) = signal(false);
    #[cfg(feature = "hydrate")]
    browser::open(scope, on_event, set_open);
    #[cfg(not(feature = "hydrate"))]
    let _ = (scope, on_event, set_open);
    open
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use send_wrapper::SendWrapper;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    use super::{LiveEvent, LiveScope};

    /// How long to wait before opening a stream the server refused.
    const RETRY_REFUSED: Duration = Duration::from_secs(3);

    pub fn open(
        scope: impl Fn() -> LiveScope + 'static,
        on_event: impl Fn(LiveEvent) + 'static,
        set_open: WriteSignal<bool>,
    ) {
        let on_event: Rc<dyn Fn(LiveEvent)> = Rc::new(on_event);
        // Bumped to open a new stream after the browser gave up on one.
        let attempt = RwSignal::new(0u32);
        Effect::new(move |_| {
            attempt.track();
            let Ok(source) = EventSource::new(&scope().address()) else {
                return;
            };
            let on_message = {
                let on_event = Rc::clone(&on_event);
                Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
                    let event = message
                        .data()
                        .as_string()
                        .and_then(|data| serde_json::from_str::<LiveEvent>(&data).ok());
                    if let Some(event) = event {
                        on_event(event);
                    }
                })
            };
            let on_open = {
                let on_event = Rc::clone(&on_event);
                Closure::<dyn Fn()>::new(move || {
                    set_open.try_set(true);
                    on_event(LiveEvent::Resync);
                })
            };
            let on_error = {
                let source = source.clone();
                Closure::<dyn Fn()>::new(move || {
                    set_open.try_set(false);
                    if source.ready_state() == EventSource::CLOSED {
                        set_timeout(
                            move || {
                                attempt.try_update(|attempt| *attempt += 1);
                            },
                            RETRY_REFUSED,
                        );
                    }
                })
            };
            source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            // The handlers live as long as the stream; both go when the page does.
            let held = SendWrapper::new((source, on_message, on_open, on_error));
            on_cleanup(move || {
                let (source, ..) = &*held;
                source.set_onerror(None);
                source.close();
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(execution_id: i64) -> LiveEvent {
        LiveEvent::Log {
            execution_id,
            project_id: 1,
            task_run_id: 3,
            line: LogLine {
                id: 9,
                at: 0,
                line: "GET /".into(),
            },
        }
    }

    #[test]
    fn a_run_scope_carries_that_run_only_with_its_log() {
        let scope = LiveScope { execution: Some(7) };
        assert!(scope.wants(&log_of(7)));
        assert!(!scope.wants(&log_of(8)));
        assert!(scope.wants(&LiveEvent::Resync));
        assert!(!scope.wants(&LiveEvent::Activity {
            event_id: 1,
            project_id: 1,
            webhook_id: 1
        }));
        assert_eq!(scope.address(), "/api/live?execution=7");
    }

    #[test]
    fn the_page_scope_carries_states_and_activity_but_no_log() {
        let scope = LiveScope::default();
        assert!(!scope.wants(&log_of(7)));
        assert!(scope.wants(&LiveEvent::Execution {
            id: 7,
            project_id: 1,
            pipeline_id: 2,
            status: ExecutionStatus::Running
        }));
        assert!(scope.wants(&LiveEvent::Activity {
            event_id: 1,
            project_id: 1,
            webhook_id: 1
        }));
    }

    #[test]
    fn events_are_tagged_json() {
        let text = serde_json::to_string(&log_of(7)).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"log","execution_id":7"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<LiveEvent>(&text).unwrap(), log_of(7));
    }
}
