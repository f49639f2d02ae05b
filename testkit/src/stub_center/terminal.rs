//! The stub's terminal routes: platform confirmations, reports and the
//! `payment.completed` event stream.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{answer, error, App};

pub(super) async fn confirmations(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    s.confirmations += 1;
    if s.confirmations_down {
        return error(503, "internal", "down");
    }
    let req: Value = serde_json::from_slice(&body).expect("a JSON confirmation");
    assert!(req["order_id"].is_string());
    if !req["payment_id"].is_string() {
        // A question about an in-doubt order: this stub saw no payment.
        s.order_queries += 1;
        return answer(200, json!({ "confirmed": false, "status": "not_paid" }));
    }
    answer(
        200,
        json!({
            "confirmed": s.confirmed,
            "status": if s.confirmed { "completed" } else { "unknown" },
            "amount_minor": 200,
            "currency": "CNY",
        }),
    )
}

pub(super) async fn reports(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    if s.report_failures_left > 0 {
        s.report_failures_left -= 1;
        return error(503, "internal", "down");
    }
    s.reports
        .push(serde_json::from_slice(&body).expect("a JSON report"));
    answer(200, json!({"accepted": true}))
}

/// `GET /v1/terminals/me/events`: every pushed event, then each new one.
pub(super) async fn events(State(app): State<App>) -> Response {
    let rx = {
        let mut s = app.state.lock().expect("stub state");
        s.event_connections += 1;
        s.events_changed.subscribe()
    };
    let state = app.state;
    let stream =
        futures::stream::unfold((0usize, rx, state), |(mut i, mut rx, state)| async move {
            loop {
                let next = state.lock().expect("stub state").events.get(i).cloned();
                if let Some((id, data)) = next {
                    i += 1;
                    let event = Event::default()
                        .event("payment.completed")
                        .id(id.to_string())
                        .data(data);
                    return Some((Ok::<_, Infallible>(event), (i, rx, state)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        });
    Sse::new(stream).into_response()
}
