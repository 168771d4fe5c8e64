//! `GET /api/live`: the server-sent-events stream a page follows. Each event
//! is a JSON [`LiveEvent`]; the reader sees only events of projects it may
//! see, and only those its [`LiveScope`] asks for.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::backend::*;
use app::error::AppError;
use app::live::{LiveEvent, LiveScope};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::api_v1::bearer_token;
use super::error::ApiError;
use super::{session_cookie, AppState};
use crate::live::StreamSlot;
use crate::service::Slipway;

/// How soon a browser reconnects after the stream dropped (a restart).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// Membership answers are reused this long: a member added or removed while a
/// page is open is seen within it.
const MEMBERSHIP_TTL: Duration = Duration::from_secs(30);

pub async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(scope): Query<LiveScope>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let credential = Credential::from_headers(&state, &headers).ok_or(AppError::Unauthorized)?;
    let actor = credential
        .resolve(&state.backend)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if let Some(id) = scope.execution {
        // 404 for a run the caller may not see, as everywhere else.
        state.backend.visible_execution(&actor, id).await?;
    }
    let live = &state.backend.live;
    let slot = live.open_stream(actor.user.id)?;
    let mut recheck = tokio::time::interval(live.limits().credential_recheck);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: the credential was just checked.
    recheck.reset();
    let reader = Reader {
        events: live.subscribe(),
        closed: live.closed(),
        scope,
        credential,
        recheck,
        visibility: Visibility::new(state.backend.clone(), actor),
        greeted: false,
        _slot: slot,
    };
    let stream = futures::stream::unfold(reader, |mut reader| async move {
        let event = reader.next().await?;
        Some((Ok(event), reader))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// What the stream was opened with, kept to check again while it is open:
/// the browser sends its session cookie; scripts may use an API token.
enum Credential {
    ApiToken(String),
    Session(String),
}

impl Credential {
    fn from_headers(state: &AppState, headers: &HeaderMap) -> Option<Credential> {
        match (bearer_token(headers), session_cookie(state, headers)) {
            (Some(token), _) => Some(Credential::ApiToken(token.to_string())),
            (None, Some(session)) => Some(Credential::Session(session)),
            (None, None) => None,
        }
    }

    /// Who the credential belongs to, as the request that opened the stream.
    async fn resolve(&self, slipway: &Slipway) -> Result<Option<Actor>, AppError> {
        match self {
            Credential::ApiToken(token) => slipway.actor_for_api_token(token).await,
            Credential::Session(session) => slipway.actor_for_session(session).await,
        }
    }

    /// The same, for a re-check while the stream is open: a session is not
    /// used by it (an open tab alone does not keep a session from idling out).
    async fn recheck(&self, slipway: &Slipway) -> Result<Option<Actor>, AppError> {
        match self {
            Credential::ApiToken(token) => slipway.actor_for_api_token(token).await,
            Credential::Session(session) => slipway.actor_for_session_unused(session).await,
        }
    }
}

struct Reader {
    events: broadcast::Receiver<Arc<LiveEvent>>,
    closed: CancellationToken,
    scope: LiveScope,
    credential: Credential,
    recheck: tokio::time::Interval,
    visibility: Visibility,
    greeted: bool,
    /// Counts this stream against the limits until it ends.
    _slot: StreamSlot,
}

impl Reader {
    /// The next event for this reader; None when the server shuts down or the
    /// credential no longer resolves to the reader's user (token revoked,
    /// signed out, user removed).
    async fn next(&mut self) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            return Some(Event::default().retry(RECONNECT_AFTER).comment("live"));
        }
        loop {
            let received = tokio::select! {
                _ = self.closed.cancelled() => return None,
                _ = self.recheck.tick() => {
                    if !self.still_authorised().await {
                        return None;
                    }
                    continue;
                }
                received = self.events.recv() => received,
            };
            let event = match received {
                Ok(event) => event,
                // Fell behind: whatever was dropped is refetched.
                Err(RecvError::Lagged(_)) => Arc::new(LiveEvent::Resync),
                Err(RecvError::Closed) => return None,
            };
            if !self.scope.wants(&event) {
                continue;
            }
            if let Some(project) = event.project_id() {
                if !self.visibility.may_see(project).await {
                    continue;
                }
            }
            if let Ok(event) = Event::default().json_data(&*event) {
                return Some(event);
            }
        }
    }
}

impl Reader {
    /// Checks the credential again; a changed admin flag applies from now on.
    /// A failing store ends the stream too: the page reconnects and is
    /// authorised afresh.
    async fn still_authorised(&mut self) -> bool {
        match self.credential.recheck(&self.visibility.slipway).await {
            Ok(Some(actor)) if actor.user.id == self.visibility.actor.user.id => {
                if actor.user.is_admin != self.visibility.actor.user.is_admin {
                    self.visibility = Visibility::new(self.visibility.slipway.clone(), actor);
                }
                true
            }
            _ => false,
        }
    }
}

/// Whether the reader may see a project's events, asked of the store once per
/// project and remembered for a while.
struct Visibility {
    slipway: Arc<Slipway>,
    actor: Actor,
    known: HashMap<i64, (bool, Instant)>,
}

impl Visibility {
    fn new(slipway: Arc<Slipway>, actor: Actor) -> Self {
        Visibility {
            slipway,
            actor,
            known: HashMap::new(),
        }
    }

    async fn may_see(&mut self, project_id: i64) -> bool {
        if self.actor.user.is_admin {
            return true;
        }
        if let Some((visible, at)) = self.known.get(&project_id) {
            if at.elapsed() < MEMBERSHIP_TTL {
                return *visible;
            }
        }
        let visible = matches!(
            self.slipway
                .store
                .membership(project_id, self.actor.user.id)
                .await,
            Ok(Some(_))
        );
        self.known.insert(project_id, (visible, Instant::now()));
        visible
    }
}
