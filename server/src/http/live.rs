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
    let actor = caller(&state, &headers).await?;
    if let Some(id) = scope.execution {
        // 404 for a run the caller may not see, as everywhere else.
        state.backend.visible_execution(&actor, id).await?;
    }
    let reader = Reader {
        events: state.backend.live.subscribe(),
        closed: state.backend.live.closed(),
        scope,
        visibility: Visibility::new(state.backend.clone(), actor),
        greeted: false,
    };
    let stream = futures::stream::unfold(reader, |mut reader| async move {
        let event = reader.next().await?;
        Some((Ok(event), reader))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The browser sends its session cookie; scripts may use an API token.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Actor, AppError> {
    let actor = match (bearer_token(headers), session_cookie(headers)) {
        (Some(token), _) => state.backend.actor_for_api_token(token).await?,
        (None, Some(session)) => state.backend.actor_for_session(&session).await?,
        (None, None) => None,
    };
    actor.ok_or(AppError::Unauthorized)
}

struct Reader {
    events: broadcast::Receiver<Arc<LiveEvent>>,
    closed: CancellationToken,
    scope: LiveScope,
    visibility: Visibility,
    greeted: bool,
}

impl Reader {
    /// The next event for this reader; None when the server shuts down.
    async fn next(&mut self) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            return Some(Event::default().retry(RECONNECT_AFTER).comment("live"));
        }
        loop {
            let received = tokio::select! {
                _ = self.closed.cancelled() => return None,
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
