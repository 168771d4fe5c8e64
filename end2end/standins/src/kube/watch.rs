//! `?watch=true`: newline-delimited `WatchEvent`s, as `kube::runtime::watcher`
//! and `await_condition` consume them.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::operations::Selectors;
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::{ChangeEvent, Cluster, EventType};
use crate::server::StopSignal;

/// What a watch asked for, from the path and query.
pub(crate) struct WatchRequest {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    /// `resourceVersion`: start after this one. Unset or `0` starts with the
    /// current objects as synthetic ADDED events.
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`: current objects, then a BOOKMARK marking their end.
    pub send_initial_events: bool,
    pub timeout: Duration,
}

impl WatchRequest {
    fn wants(&self, event: &ChangeEvent) -> bool {
        event.key.is(self.resource)
            && self
                .namespace
                .as_ref()
                .is_none_or(|namespace| &event.key.namespace == namespace)
            && self.selectors.matches(&event.object)
    }
}

/// The events to send first and the channel of later changes; taken under the
/// store lock so that nothing happens between the two.
pub(crate) struct WatchStart {
    first_lines: Vec<String>,
    changes: Option<broadcast::Receiver<ChangeEvent>>,
}

pub(crate) fn begin(cluster: &Cluster, request: &WatchRequest) -> Result<WatchStart, ApiError> {
    let changes = cluster.subscribe();
    let from_current_state = matches!(request.resource_version.as_deref(), None | Some("" | "0"));
    let mut first_lines = Vec::new();
    if from_current_state || request.send_initial_events {
        let mut current: Vec<&Value> = cluster
            .list(request.resource, request.namespace.as_deref())
            .map(|(_, stored)| &stored.object)
            .filter(|object| request.selectors.matches(object))
            .collect();
        current.sort_by_key(|object| resource_version_of(object));
        first_lines.extend(
            current
                .into_iter()
                .map(|object| event_line(EventType::Added.as_str(), object)),
        );
        if request.send_initial_events {
            let bookmark = json!({
                "kind": request.resource.kind,
                "apiVersion": request.resource.api_version(),
                "metadata": {
                    "resourceVersion": cluster.resource_version().to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            });
            first_lines.push(event_line("BOOKMARK", &bookmark));
        }
        return Ok(WatchStart {
            first_lines,
            changes: Some(changes),
        });
    }

    let since: u64 = request
        .resource_version
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| {
            ApiError::bad_request(format!(
                "invalid resource version: {:?}",
                request.resource_version
            ))
        })?;
    match cluster.events_since(since) {
        Some(events) => {
            first_lines.extend(
                events
                    .iter()
                    .filter(|event| request.wants(event))
                    .map(|event| event_line(event.event_type.as_str(), &event.object)),
            );
            Ok(WatchStart {
                first_lines,
                changes: Some(changes),
            })
        }
        None => {
            // Like the real server: 200, then one ERROR event, then the end.
            let expired = ApiError::expired(format!(
                "too old resource version: {since} ({})",
                cluster.resource_version()
            ));
            first_lines.push(event_line("ERROR", &expired.to_status()));
            Ok(WatchStart {
                first_lines,
                changes: None,
            })
        }
    }
}

/// Streams the start, then matching changes until the timeout, the server's
/// shutdown, or the watcher falling too far behind (it then re-lists).
pub(crate) fn respond(start: WatchStart, request: WatchRequest, stop: StopSignal) -> Response {
    let first = stream::iter(
        start
            .first_lines
            .into_iter()
            .map(|line| Ok::<Bytes, Infallible>(Bytes::from(line))),
    );
    let deadline = tokio::time::Instant::now() + request.timeout;
    let later = stream::unfold(
        (start.changes, request, stop),
        move |(changes, request, mut stop)| async move {
            let mut changes = changes?;
            loop {
                let next = tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => None,
                    _ = stop.stopped() => None,
                    received = changes.recv() => received.ok(),
                };
                let event = next?;
                if request.wants(&event) {
                    let line = Bytes::from(event_line(event.event_type.as_str(), &event.object));
                    return Some((Ok(line), (Some(changes), request, stop)));
                }
            }
        },
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(first.chain(later)),
    )
        .into_response()
}

fn event_line(event_type: &str, object: &Value) -> String {
    let mut line = json!({"type": event_type, "object": object}).to_string();
    line.push('\n');
    line
}

fn resource_version_of(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|version| version.parse().ok())
        .unwrap_or(0)
}
