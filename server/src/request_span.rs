//! Every request runs in a `request` span carrying a request id, its method
//! and its route template, so that every log line a request causes (its
//! write transaction on the database writer included, see
//! [`crate::db`]) can be found together. The id is answered in the
//! `x-request-id` header: an app or a terminal quotes it to the operator,
//! who finds the request's lines by it. A caller may send its own id (a
//! proxy's, or the terminal's for an in-doubt sale); one that is not a
//! short token is replaced, so nothing a client sends reaches the logs
//! unchecked. The route is the template (`/v1/payments/{idempotency_key}`),
//! never the raw path, which can carry identifiers.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use wayfare_protocol::ids::hex_lower;
use wayfare_protocol::keys::random_bytes;

/// The header a request id travels in, both ways.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest caller-chosen id kept.
const MAX_ID_LEN: usize = 64;

/// Middleware: runs the request in its span and answers its id.
pub(crate) async fn request(request: Request, next: Next) -> Response {
    let id = chosen_id(request.headers()).unwrap_or_else(new_id);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The caller's id, if it is a short token of letters, digits, `-`, `_`
/// and `.`.
fn chosen_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(REQUEST_ID)?.to_str().ok()?;
    let well_formed = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    well_formed.then(|| id.to_owned())
}

/// A fresh id: `req_` and 12 random bytes in hex (a counter would do for
/// one node, but several nodes share the operator's logs).
fn new_id() -> String {
    match random_bytes::<12>() {
        Ok(bytes) => format!("req_{}", hex_lower(&bytes)),
        // The system's randomness failing leaves the request without a
        // unique id rather than without an answer.
        Err(_) => "req_unavailable".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_str(id).unwrap());
        headers
    }

    #[test]
    fn a_short_token_is_kept_and_anything_else_replaced() {
        assert_eq!(
            chosen_id(&with("sale-42.retry_1")),
            Some("sale-42.retry_1".into())
        );
        assert_eq!(chosen_id(&with(&"a".repeat(64))), Some("a".repeat(64)));
        for bad in ["", "a b", "x\"y", "{json}", "ünï", &"a".repeat(65)] {
            let headers = match HeaderValue::from_str(bad) {
                Ok(value) => {
                    let mut h = HeaderMap::new();
                    h.insert(REQUEST_ID, value);
                    h
                }
                Err(_) => continue,
            };
            assert_eq!(chosen_id(&headers), None, "{bad:?}");
        }
        assert_eq!(chosen_id(&HeaderMap::new()), None);
    }

    #[test]
    fn fresh_ids_differ() {
        let (a, b) = (new_id(), new_id());
        assert!(a.starts_with("req_") && a.len() == 28, "{a}");
        assert_ne!(a, b);
    }
}
