//! `GET /metrics`: refreshes the gauges computed at scrape time (outbox
//! backlogs and ages, terminals seen), then renders the Prometheus text.
//! Served on the main listener behind the admin token, and optionally on a
//! separate listen address without auth ([`open_router`]) for a Prometheus
//! in the same private network.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{Metrics, OUTBOX_AGE, OUTBOX_BACKLOG, SCRAPE_DB_UP, TERMINALS_SEEN, WAL_CHECKPOINTS};
use crate::auth::Admin;
use crate::db::now_ms;
use crate::openapi::Fails;
use crate::state::AppState;

/// The Prometheus text exposition format.
pub(crate) const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The outboxes whose backlog is exported: label value and table. Every
/// table marks delivery with `delivered_at_ms` and is indexed on it.
const OUTBOXES: &[(&str, &str)] = &[
    ("gateway", "outbound_messages"),
    ("billing", "billing_exports"),
    ("push", "push_deliveries"),
];

/// `GET /metrics` on the main listener (admin token).
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "metrics",
    summary = "Prometheus text exposition format (text/plain; version=0.0.4): payments and refunds by outcome, request latency per route template and status class, database transaction retries, the SQLite writer's queue, statement and commit times and batch sizes, open event streams, outbox backlog and oldest age, terminals seen in the last 5 minutes. See docs/api.md, Metrics. Also served without the token on the separate --metrics-listen address when configured.",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "success", content_type = "text/plain; version=0.0.4", body = String),
        Fails<401>))]
pub(crate) async fn with_admin(State(state): State<AppState>, _admin: Admin) -> Response {
    render(&state).await
}

/// `GET /metrics` on the separate metrics listener (no auth: bind it to
/// a private address).
pub(crate) async fn open(State(state): State<AppState>) -> Response {
    render(&state).await
}

/// The router of the separate metrics listener: `/metrics` only.
pub(crate) fn open_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(open)).with_state(state)
}

async fn render(state: &AppState) -> Response {
    let metrics = state.metrics();
    let db_up = match refresh_outboxes(state, metrics).await {
        Ok(()) => 1.0,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: reading the outbox backlog failed");
            0.0
        }
    };
    let seen = metrics.terminals_seen_recently() as f64;
    let checkpoints = state.db().wal_checkpoints();
    metrics.record(|| {
        ::metrics::gauge!(SCRAPE_DB_UP).set(db_up);
        ::metrics::gauge!(TERMINALS_SEEN, "window" => "5m").set(seen);
        if let Some(checkpoints) = checkpoints {
            ::metrics::counter!(WAL_CHECKPOINTS).absolute(checkpoints);
        }
    });
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], metrics.render()).into_response()
}

/// One count and one minimum per outbox: cheap on the delivery index.
async fn refresh_outboxes(state: &AppState, metrics: &Metrics) -> Result<(), sqlx::Error> {
    let now = now_ms() as f64;
    for (outbox, table) in OUTBOXES {
        // The table name is one of ours above, never input.
        let query = format!(
            "SELECT CAST(COUNT(*) AS BIGINT), MIN(created_at_ms) FROM {table} \
             WHERE delivered_at_ms IS NULL"
        );
        let (backlog, oldest): (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .fetch_one(&state.db().pool)
            .await?;
        let age = oldest.map_or(0.0, |at| ((now - at as f64) / 1000.0).max(0.0));
        metrics.record(|| {
            ::metrics::gauge!(OUTBOX_BACKLOG, "outbox" => *outbox).set(backlog as f64);
            ::metrics::gauge!(OUTBOX_AGE, "outbox" => *outbox).set(age);
        });
    }
    Ok(())
}
