//! The span each request is logged in. Registries put the webhook's secure
//! token in the query (`?secureToken=…`), so the query is logged with every
//! value whose name mentions a token replaced; headers are never logged.

use axum::body::Body;
use axum::http::{Request, Uri};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

const REDACTED: &str = "<redacted>";

pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RedactedRequestSpan> {
    TraceLayer::new_for_http().make_span_with(RedactedRequestSpan)
}

#[derive(Clone, Copy, Debug)]
pub struct RedactedRequestSpan;

impl MakeSpan<Body> for RedactedRequestSpan {
    fn make_span(&mut self, request: &Request<Body>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            query = %redacted_query(request.uri()),
            version = ?request.version(),
        )
    }
}

/// The query with the value of every parameter whose name contains "token"
/// (any case: `secureToken`, `token`, `access_token`) replaced.
fn redacted_query(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return String::new();
    };
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().contains("token") => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::redacted_query;

    fn redacted(uri: &str) -> String {
        redacted_query(&uri.parse().unwrap())
    }

    #[test]
    fn token_values_are_replaced_and_other_parameters_kept() {
        assert_eq!(
            redacted("/pipelines/api/docker-hub-webhooks?secureToken=swt_abc&x=1"),
            "secureToken=<redacted>&x=1"
        );
        assert_eq!(
            redacted("/a?status=FAILED&SECURETOKEN=swt_abc&access_token=q"),
            "status=FAILED&SECURETOKEN=<redacted>&access_token=<redacted>"
        );
        assert_eq!(redacted("/a"), "");
        assert_eq!(redacted("/a?token"), "token");
    }
}
