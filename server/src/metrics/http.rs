//! The HTTP layer: every request's latency by route template and status
//! class, and the outcome of payment and refund requests read from the
//! response (status and error code), so the handlers stay untouched.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::HTTP_DURATION;
use crate::error::ErrorCode;
use crate::state::AppState;

/// The routes whose outcomes are counted, and what they count as.
#[derive(Clone, Copy)]
enum Counted {
    Payment,
    Refund,
}

fn counted(method: &Method, route: &str) -> Option<Counted> {
    if method != Method::POST {
        return None;
    }
    match route {
        "/v1/payments" => Some(Counted::Payment),
        "/v1/merchants/{merchant_id}/refunds" => Some(Counted::Refund),
        _ => None,
    }
}

/// Middleware: times the request, then records it under this server's
/// recorder; the rest of the request runs in its [`super::scope`].
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route: Option<String> = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let metrics = state.metrics().clone();
    let response = super::scope(metrics.clone(), next.run(request)).await;
    let seconds = started.elapsed().as_secs_f64();
    let route_label = route.clone().unwrap_or_else(|| "unmatched".to_string());
    let status = response.status();
    metrics.record(|| {
        ::metrics::histogram!(HTTP_DURATION,
            "method" => method_label(&method),
            "route" => route_label,
            "status" => status_class(status))
        .record(seconds)
    });
    if let Some(kind) = route.as_deref().and_then(|r| counted(&method, r)) {
        let outcome = outcome(&response);
        match kind {
            Counted::Payment => metrics.payment(outcome),
            Counted::Refund => metrics.refund(outcome),
        }
    }
    response
}

/// `completed` (201), `replayed` (200: the same idempotency key again),
/// else the error code (`insufficient_funds`, `request_expired`, …), or
/// `other` for a response that is neither (a body over the limit).
fn outcome(response: &Response) -> &'static str {
    match response.status() {
        StatusCode::CREATED => "completed",
        StatusCode::OK => "replayed",
        _ => response
            .extensions()
            .get::<ErrorCode>()
            .map(|code| code.0)
            .unwrap_or("other"),
    }
}

/// Methods outside the usual set are one label, so a client cannot mint
/// label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
