//! The audit trail: who did what, when, from where, and how it ended.
//!
//! Every recorded action goes through [`record`] (or [`Slipway::audit`]): it
//! writes one `audit_events` row and logs the same entry as one JSON line
//! (target `audit`). It is called right after the change it describes
//! committed — the store's methods are each one transaction, and an entry
//! written before would record changes that then failed. A failed write of
//! the entry does not undo or fail the change (that already happened, and a
//! retry would repeat it): the entry goes to the log at error level instead,
//! whole, so it is not lost. [`record`] returns nothing, so no caller can
//! forget to handle its failure.
//!
//! Secrets cannot get in by accident: the detail's keys are `&'static str`
//! written in the code, never taken from a request, and a key that names a
//! secret (`password`, `token`, `url`, …) has its value replaced by
//! `<redacted>` and logs an error. Values and names are bounded in length.

use std::net::IpAddr;

use app::audit::*;
use app::backend::{Actor, AuditApi};
use app::error::AppError;
use app::model::{Millis, ProjectRole};
use serde_json::{Map, Value};

use super::Slipway;
use crate::clock::now_millis;
use crate::errors::internal;
use crate::store::{AuditQuery, AuditRecord, NewAuditRecord, SharedStore, WebhookRecord};

/// Longest name (actor, project, target) kept; longer ones are cut and end in `…`.
/// Names Slipway accepts are at most 64 characters; only a name typed at
/// sign-in can be longer.
pub const MAX_AUDIT_NAME_CHARS: usize = 64;
/// Longest text value kept in the detail.
pub const MAX_AUDIT_VALUE_CHARS: usize = 256;
/// The detail is dropped (and says so) when its JSON is longer than this.
pub const MAX_AUDIT_DETAIL_BYTES: usize = 2048;

/// Parts of detail keys whose values are never recorded: a key containing
/// one is a mistake in the recording code, caught here.
const SECRET_KEY_PARTS: [&str; 9] = [
    "password",
    "secret",
    "token",
    "key",
    "kubeconfig",
    "credential",
    "authorization",
    "cookie",
    // URLs carry credentials (`https://user:pass@…`) and tokens (`?secureToken=`).
    "url",
];

/// Who acted.
#[derive(Clone, Copy, Debug)]
pub enum AuditActor<'a> {
    /// A user signed in or presenting an API token, with the request's address.
    User(&'a Actor),
    /// A sign-in attempt: the name tried, its user's id when such a user
    /// exists, and where the attempt came from.
    SignIn {
        name: &'a str,
        user_id: Option<i64>,
        client: Option<IpAddr>,
    },
    /// `slipway` run on the command line (`token create`, `user set-password`).
    CommandLine,
    /// Whoever POSTed to a hook URL, known only by address.
    Sender(IpAddr),
}

impl AuditActor<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            AuditActor::User(actor) => Some(actor.user.id),
            AuditActor::SignIn { user_id, .. } => *user_id,
            AuditActor::CommandLine | AuditActor::Sender(_) => None,
        }
    }

    fn name(&self) -> &str {
        match self {
            AuditActor::User(actor) => &actor.user.username,
            AuditActor::SignIn { name, .. } => name,
            AuditActor::CommandLine => "command line",
            AuditActor::Sender(_) => "registry sender",
        }
    }

    fn client(&self) -> Option<IpAddr> {
        match self {
            AuditActor::User(actor) => actor.client,
            AuditActor::SignIn { client, .. } => *client,
            AuditActor::CommandLine => None,
            AuditActor::Sender(address) => Some(*address),
        }
    }
}

/// One event to record, built where the action happened:
///
/// ```ignore
/// self.audit(
///     AuditEvent::by(actor, AuditAction::WebhookToggled)
///         .project(record.project_id, &record.project_name)
///         .target(AuditTargetKind::Webhook, record.id, &record.name)
///         .detail("enabled", enabled),
/// )
/// .await;
/// ```
#[derive(Clone, Debug)]
pub struct AuditEvent<'a> {
    actor: AuditActor<'a>,
    action: AuditAction,
    outcome: AuditOutcome,
    project: Option<(i64, &'a str)>,
    target: Option<(AuditTargetKind, Option<i64>, &'a str)>,
    detail: Map<String, Value>,
}

impl<'a> AuditEvent<'a> {
    /// An event that succeeded (see [`AuditEvent::outcome`]).
    pub fn new(actor: AuditActor<'a>, action: AuditAction) -> Self {
        AuditEvent {
            actor,
            action,
            outcome: AuditOutcome::Success,
            project: None,
            target: None,
            detail: Map::new(),
        }
    }

    /// What a signed-in user (or an API token's user) did.
    pub fn by(actor: &'a Actor, action: AuditAction) -> Self {
        Self::new(AuditActor::User(actor), action)
    }

    /// A sign-in attempt under `name`: `action` is one of the `session.sign_in*`
    /// actions, and gives the outcome (success, failure, refused when throttled).
    /// A throttled name or address is recorded once per throttling window,
    /// with the attempts counted in the detail, never once per attempt.
    pub fn sign_in(
        action: AuditAction,
        name: &'a str,
        user_id: Option<i64>,
        client: Option<IpAddr>,
    ) -> Self {
        let outcome = match action {
            AuditAction::SessionSignInFailed => AuditOutcome::Failure,
            AuditAction::SessionSignInThrottled => AuditOutcome::Refused,
            _ => AuditOutcome::Success,
        };
        Self::new(
            AuditActor::SignIn {
                name,
                user_id,
                client,
            },
            action,
        )
        .outcome(outcome)
    }

    pub fn outcome(mut self, outcome: AuditOutcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// The project the event belongs to: its administrators see the event.
    pub fn project(mut self, id: i64, name: &'a str) -> Self {
        self.project = Some((id, name));
        self
    }

    /// The object acted on.
    pub fn target(mut self, kind: AuditTargetKind, id: i64, name: &'a str) -> Self {
        self.target = Some((kind, Some(id), name));
        self
    }

    /// An object acted on that has no id (yet): an endpoint form's draft.
    pub fn target_without_id(mut self, kind: AuditTargetKind, name: &'a str) -> Self {
        self.target = Some((kind, None, name));
        self
    }

    /// One fact about the event. The key is written in the code; a key that
    /// names a secret has its value replaced (see the module's notes).
    pub fn detail(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_string(), value.into());
        self
    }
}

/// Cuts a text to `max` characters, marking the cut with `…`.
fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// The detail as stored: secret-named keys redacted, texts bounded, the
/// whole bounded.
fn screened_detail(action: AuditAction, detail: Map<String, Value>) -> Value {
    fn screen(action: AuditAction, value: Value) -> Value {
        match value {
            Value::String(text) => Value::String(bounded(&text, MAX_AUDIT_VALUE_CHARS)),
            Value::Array(items) => items.into_iter().map(|item| screen(action, item)).collect(),
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(key, value)| {
                        if names_a_secret(&key) {
                            tracing::error!(
                                action = action.as_str(),
                                key = %key,
                                "audit detail key names a secret; its value was not recorded"
                            );
                            (key, Value::String("<redacted>".into()))
                        } else {
                            (key, screen(action, value))
                        }
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    let screened = screen(action, Value::Object(detail));
    if screened.to_string().len() > MAX_AUDIT_DETAIL_BYTES {
        serde_json::json!({ "omitted": format!("the detail was over {MAX_AUDIT_DETAIL_BYTES} bytes") })
    } else {
        screened
    }
}

/// Records the event: one row in the audit trail and the same entry as one
/// JSON line in the log (target `audit`, the fields of `GET /api/v1/audit`).
/// Call it right after the change committed. A failed write is logged at
/// error level with the whole entry and does not fail the caller.
pub async fn record(store: &SharedStore, event: AuditEvent<'_>) {
    let AuditEvent {
        actor,
        action,
        outcome,
        project,
        target,
        detail,
    } = event;
    let mut entry = AuditEntry {
        id: 0,
        at: now_millis(),
        actor_id: actor.id(),
        actor: bounded(actor.name(), MAX_AUDIT_NAME_CHARS),
        action,
        project_id: project.map(|(id, _)| id),
        project: project.map(|(_, name)| bounded(name, MAX_AUDIT_NAME_CHARS)),
        target_kind: target.map(|(kind, _, _)| kind),
        target_id: target.and_then(|(_, id, _)| id),
        target: target.map(|(_, _, name)| bounded(name, MAX_AUDIT_NAME_CHARS)),
        outcome,
        detail: screened_detail(action, detail),
        client: actor.client().map(|address| address.to_string()),
    };
    let detail_json = entry.detail.to_string();
    let stored = store
        .record_audit(NewAuditRecord {
            at: entry.at,
            actor_id: entry.actor_id,
            actor_name: &entry.actor,
            action: entry.action,
            project_id: entry.project_id,
            project_name: entry.project.as_deref(),
            target_kind: entry.target_kind,
            target_id: entry.target_id,
            target_name: entry.target.as_deref(),
            outcome: entry.outcome,
            detail: &detail_json,
            client: entry.client.as_deref(),
        })
        .await;
    match stored {
        Ok(id) => {
            entry.id = id;
            tracing::info!(target: "audit", "{}", entry_json(&entry));
        }
        Err(error) => {
            tracing::error!(
                target: "audit",
                %error,
                "the audit entry could not be stored; here it is: {}",
                entry_json(&entry)
            );
        }
    }
}

/// The entry saying that `count` deliveries to `webhook` from `sender` were
/// refused by its source allow-list, the first at `first_at`. The refusal
/// counters write it once per sender and counting window, never once per
/// request, so a sender outside the list cannot grow the audit trail (or
/// load the database) one POST at a time.
pub fn refused_deliveries_event(
    webhook: &WebhookRecord,
    sender: IpAddr,
    count: u64,
    first_at: Millis,
) -> AuditEvent<'_> {
    AuditEvent::new(
        AuditActor::Sender(sender),
        AuditAction::DeliveryRefusedByAllowList,
    )
    .outcome(AuditOutcome::Refused)
    .project(webhook.project_id, &webhook.project_name)
    .target(AuditTargetKind::Webhook, webhook.id, &webhook.name)
    .detail("count", count)
    .detail("first_at", first_at)
}

fn entry_json(entry: &AuditEntry) -> String {
    // An entry is plain data: serializing it cannot fail.
    serde_json::to_string(entry).unwrap_or_default()
}

impl Slipway {
    /// Records the event (see [`record`]).
    pub(crate) async fn audit(&self, event: AuditEvent<'_>) {
        record(&self.store, event).await
    }

    /// The store's query for a filter, once the actor is known to read the trail.
    async fn audit_query(
        &self,
        actor: &Actor,
        filter: AuditFilter,
    ) -> Result<AuditQuery, AppError> {
        let given = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
        let project_id = match given(filter.project) {
            None => None,
            // A deleted project's entries stay readable by id, for admins.
            Some(reference) => match reference.parse::<i64>() {
                Ok(id) if actor.user.is_admin => Some(id),
                _ => {
                    let (project, role) = self.visible_project(actor, &reference).await?;
                    Self::require_role(
                        actor,
                        role,
                        ProjectRole::Administrator,
                        "reading a project's audit trail",
                    )?;
                    Some(project.id)
                }
            },
        };
        let (actor_id, actor_name) = match given(filter.user) {
            None => (None, None),
            Some(reference) => match reference.parse::<i64>() {
                Ok(id) => (Some(id), None),
                Err(_) => match self.store.user_by_name(&reference).await? {
                    Some(user) => (Some(user.id), None),
                    // No such user now: the name as entries recorded it
                    // (a name tried at sign-in, a deleted user).
                    None => (None, Some(reference)),
                },
            },
        };
        let action = match given(filter.action) {
            None => None,
            Some(text) => Some(AuditAction::parse(text.trim()).ok_or_else(|| {
                let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                AppError::bad_request(format!(
                    "unknown action '{text}': use one of {}",
                    known.join(", ")
                ))
            })?),
        };
        Ok(AuditQuery {
            administered_by: (!actor.user.is_admin).then_some(actor.user.id),
            project_id,
            actor_id,
            actor_name,
            action,
            before_id: filter.before,
            limit: i64::from(
                filter
                    .limit
                    .unwrap_or(DEFAULT_AUDIT_PAGE)
                    .clamp(1, MAX_AUDIT_PAGE),
            ),
        })
    }
}

/// An entry as the page and the API show it; a stored detail that is not
/// JSON is bad data, an internal error.
fn entry_view(record: AuditRecord) -> Result<AuditEntry, AppError> {
    Ok(AuditEntry {
        id: record.id,
        at: record.at,
        actor_id: record.actor_id,
        actor: record.actor_name,
        action: record.action,
        project_id: record.project_id,
        project: record.project_name,
        target_kind: record.target_kind,
        target_id: record.target_id,
        target: record.target_name,
        outcome: record.outcome,
        detail: serde_json::from_str(&record.detail).map_err(|error| {
            internal(format!(
                "audit entry {}: bad stored detail: {error}",
                record.id
            ))
        })?,
        client: record.client,
    })
}

#[async_trait::async_trait]
impl AuditApi for Slipway {
    async fn list_audit(
        &self,
        actor: &Actor,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError> {
        if !self.may_read_audit(actor).await? {
            return Err(AppError::forbidden(
                "reading the audit trail needs the global admin role or the administrator role in a project",
            ));
        }
        let query = self.audit_query(actor, filter).await?;
        self.store
            .list_audit(&query)
            .await?
            .into_iter()
            .map(entry_view)
            .collect()
    }

    async fn may_read_audit(&self, actor: &Actor) -> Result<bool, AppError> {
        if actor.user.is_admin {
            return Ok(true);
        }
        let projects = self.store.list_projects(actor.user.id, false).await?;
        Ok(projects
            .iter()
            .any(|(_, role)| *role == Some(ProjectRole::Administrator)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use app::model::User;

    use super::*;

    /// A log writer that keeps what is written, for the assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// Runs `work` with a fresh SQLite store, and answers what it logged.
    fn logged<F>(work: impl FnOnce(SharedStore, String) -> F) -> String
    where
        F: std::future::Future<Output = ()>,
    {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", directory.path().join("audit.db").display());
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let store = crate::store::open(&url).await.unwrap();
                work(store, url.clone()).await
            })
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn alice() -> Actor {
        Actor {
            user: User {
                id: 7,
                username: "alice".into(),
                is_admin: false,
            },
            client: Some(IpAddr::from([192, 0, 2, 10])),
        }
    }

    fn member_added(actor: &Actor) -> AuditEvent<'_> {
        AuditEvent::by(actor, AuditAction::MemberAdded)
            .project(3, "shop")
            .target(AuditTargetKind::User, 9, "bob")
            .detail("role", "developer")
    }

    /// The JSON after `audit: ` on the log's lines of that target.
    fn audit_lines(log: &str) -> Vec<&str> {
        log.lines()
            .filter_map(|line| line.split_once(" audit: ").map(|(_, rest)| rest))
            .collect()
    }

    #[test]
    fn an_entry_is_stored_and_logged_as_the_same_json_line() {
        let stored = Arc::new(Mutex::new(Vec::new()));
        let kept = stored.clone();
        let log = logged(|store, _| async move {
            let actor = alice();
            record(&store, member_added(&actor)).await;
            let query = AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            };
            *kept.lock().unwrap() = store.list_audit(&query).await.unwrap();
        });

        let stored = stored.lock().unwrap().clone();
        assert_eq!(stored.len(), 1, "one row");
        let entry = entry_view(stored[0].clone()).unwrap();
        assert_eq!(
            (
                entry.actor_id,
                entry.actor.as_str(),
                entry.client.as_deref()
            ),
            (Some(7), "alice", Some("192.0.2.10"))
        );
        assert_eq!(entry.project.as_deref(), Some("shop"));
        assert_eq!(entry.target.as_deref(), Some("bob"));
        assert_eq!(entry.detail, serde_json::json!({"role": "developer"}));
        let lines = audit_lines(&log);
        assert_eq!(lines.len(), 1, "one audit line in: {log}");
        let logged: AuditEntry = serde_json::from_str(lines[0]).expect("the line is JSON");
        assert_eq!(logged, entry, "the log line is the stored entry");
        assert!(log.contains(" INFO audit: "), "{log}");
    }

    #[test]
    fn a_failed_write_logs_the_whole_entry_at_error_level() {
        let log = logged(|store, url| async move {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("DROP TABLE audit_events")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let actor = alice();
            record(&store, member_added(&actor)).await;
        });

        let line = log
            .lines()
            .find(|line| line.contains(" audit: "))
            .unwrap_or_else(|| panic!("no audit line in: {log}"));
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains("could not be stored"), "{line}");
        let entry = line
            .split_once("here it is: ")
            .map(|(_, json)| json)
            .and_then(|json| json.rsplit_once('}').map(|(json, _)| format!("{json}}}")))
            .expect("the entry follows");
        let entry: AuditEntry = serde_json::from_str(&entry).expect("the entry is JSON");
        assert_eq!(entry.action, AuditAction::MemberAdded);
        assert_eq!(entry.target.as_deref(), Some("bob"));
    }

    #[test]
    fn keys_that_name_secrets_are_redacted_wherever_they_are() {
        let mut detail = Map::new();
        detail.insert("role".into(), "developer".into());
        detail.insert("password".into(), "hunter2".into());
        detail.insert(
            "nested".into(),
            serde_json::json!({ "Hook_URL": "https://x/?secureToken=abc", "kept": 1 }),
        );
        let screened = screened_detail(AuditAction::MemberAdded, detail);
        assert_eq!(
            screened,
            serde_json::json!({
                "role": "developer",
                "password": "<redacted>",
                "nested": { "Hook_URL": "<redacted>", "kept": 1 },
            })
        );
    }

    #[test]
    fn texts_and_the_whole_detail_are_bounded() {
        let mut detail = Map::new();
        detail.insert("note".into(), "x".repeat(1000).into());
        let screened = screened_detail(AuditAction::MemberAdded, detail);
        let note = screened["note"].as_str().unwrap();
        assert_eq!(note.chars().count(), MAX_AUDIT_VALUE_CHARS);
        assert!(note.ends_with('…'));

        let mut detail = Map::new();
        for index in 0..20 {
            detail.insert(format!("n{index}"), "y".repeat(200).into());
        }
        let screened = screened_detail(AuditAction::MemberAdded, detail);
        assert!(screened["omitted"].as_str().unwrap().contains("2048 bytes"));
    }

    #[test]
    fn sign_in_actions_give_their_outcome() {
        let outcome = |action| AuditEvent::sign_in(action, "alice", None, None).outcome;
        assert_eq!(outcome(AuditAction::SessionSignIn), AuditOutcome::Success);
        assert_eq!(
            outcome(AuditAction::SessionSignInFailed),
            AuditOutcome::Failure
        );
        assert_eq!(
            outcome(AuditAction::SessionSignInThrottled),
            AuditOutcome::Refused
        );
    }
}
