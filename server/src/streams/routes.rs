//! The event streams' routes.
//!
//! `GET /v1/devices/me/events` (device): the server-sent-event stream of the
//! caller's account (guardian alerts, and whatever other features append
//! with `streams::device::append`). Every event has an `id`; a client that
//! reconnects with `Last-Event-ID` gets every event after it, so nothing
//! made while it was offline (or while the server restarted) is lost. A
//! client without `Last-Event-ID` gets every retained event from the first.
//! With `?follow=false` the response ends once it has caught up: an app
//! woken in the background by a push fetches what it announced without
//! holding a connection open.
//!
//! `GET /v1/terminals/me/events` (terminal): the terminal's
//! `payment.completed` events (P2), resumable the same way.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wayfare_protocol::ids::redact;

use crate::auth::{Device, Signed, Terminal};
use crate::error::ApiError;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The event streams' routes and operations, merged by `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(terminal_events))
}

/// `?follow=`: `false` for a one-shot catch-up.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    /// false: end the response once every event after Last-Event-ID was sent (a background catch-up); default true
    #[serde(default)]
    #[param(nullable = false)]
    follow: Option<bool>,
}

/// One event of a device's stream.
pub(crate) struct DeviceEvent;

impl PartialSchema for DeviceEvent {
    fn schema() -> RefOr<Schema> {
        constraints::sse_event(&[
            "guardian.alert",
            "merchant.prompt",
            "top_up.completed",
            "top_up.failed",
        ])
    }
}

impl ToSchema for DeviceEvent {}

/// One event of a terminal's stream.
pub(crate) struct TerminalEvent;

impl PartialSchema for TerminalEvent {
    fn schema() -> RefOr<Schema> {
        constraints::sse_event(&["payment.completed"])
    }
}

impl ToSchema for TerminalEvent {}

/// `GET /v1/devices/me/events`.
#[utoipa::path(get, path = "/v1/devices/me/events", operation_id = "deviceEvents", tag = "streams",
    summary = "Server-sent events of the caller's account: `guardian.alert` (data = the alert, to a guardian), `merchant.prompt` (to a merchant's member devices), `top_up.completed` and `top_up.failed` (over-the-air top-ups). id = per-account sequence; with Last-Event-ID every event after it, without it every retained event from the first. With follow=false the response ends once it has caught up (an app woken by a push).",
    security(("deviceSignature" = [])),
    params(("Last-Event-ID" = Option<i64>, Header, minimum = 0, nullable = false), StreamQuery),
    responses(
        (status = 200, description = "success", content_type = "text/event-stream", body = DeviceEvent),
        Fails<401, 422>))]
pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<StreamQuery>,
    request: Signed<Device>,
) -> Result<impl IntoResponse, ApiError> {
    let mode = if query.follow.unwrap_or(true) {
        crate::streams::sse::Mode::Follow
    } else {
        crate::streams::sse::Mode::CatchUp
    };
    let account_id = request.signer.account_id;
    // Subscribe before the stream's first read: nothing committed in
    // between can be missed.
    let wake = state.subscribe_account_events(&account_id);
    let after = crate::streams::sse::last_event_id(&headers)?.unwrap_or(0);
    tracing::debug!(account = %redact(&account_id), after, "device event stream opened");
    let stream = crate::streams::device::stream(state.clone(), account_id, after, wake, mode);
    let stream = crate::metrics::track_stream(&state, "device", stream);
    Ok(crate::streams::sse::response(stream))
}

/// `GET /v1/terminals/me/events` (terminal): `payment.completed` events
/// after `Last-Event-ID` (or, without it, from the moment of connection).
#[utoipa::path(get, path = "/v1/terminals/me/events", operation_id = "terminalEvents", tag = "streams",
    summary = "Server-sent events `payment.completed` (id = per-terminal sequence, data = {payment_id, order_id, amount_minor, currency, completed_at_ms}). With Last-Event-ID: every event after it; without: events from the moment of connection.",
    security(("terminalSignature" = [])),
    params(("Last-Event-ID" = Option<i64>, Header, minimum = 0, nullable = false)),
    responses(
        (status = 200, description = "success", content_type = "text/event-stream", body = TerminalEvent),
        Fails<401, 422>))]
pub(crate) async fn terminal_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Signed<Terminal>,
) -> Result<impl IntoResponse, ApiError> {
    let terminal_id = request.signer.terminal_id;
    // Subscribe before reading the start point: nothing committed in between
    // can be missed.
    let wake = state.subscribe_terminal_events(&terminal_id);
    let after = match crate::streams::sse::last_event_id(&headers)? {
        Some(after) => after,
        None => crate::streams::terminal::latest_seq(&state, &terminal_id).await?,
    };
    tracing::debug!(terminal = %redact(&terminal_id), after, "event stream opened");
    let stream = crate::streams::terminal::stream(state.clone(), terminal_id, after, wake);
    let stream = crate::metrics::track_stream(&state, "terminal", stream);
    Ok(crate::streams::sse::response(stream))
}
