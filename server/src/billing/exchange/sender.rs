//! The sender: closes ended days (when configured) and posts due exports,
//! signed, to the billing endpoint, with backoff until a 2xx answer;
//! a lease keeps two instances from sending the same export.

use super::*;
use crate::outbox::queue::Queue;

/// The sender: runs until the server shuts down, delivering pending exports
/// (including those left by a previous run) and closing days when
/// configured to.
pub async fn run(state: AppState, endpoint: BillingEndpoint, policy: RetryPolicy) {
    let mut shutdown = state.shutdown_signal();
    // The last local day (number) closed by this run.
    let mut closed_through: Option<i64> = None;
    loop {
        if let Some(offset) = endpoint.daily_close_offset {
            match close_ended_days(&state, offset, closed_through).await {
                Ok(day) => closed_through = Some(day),
                Err(e) => tracing::warn!(error = %e, "closing ended billing days failed"),
            }
        }
        let idle = crate::outbox::queue::idle_after(
            deliver_due(&state, &endpoint, policy).await,
            "billing",
        );
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.billing_wake().notified() => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

/// How many ended days the daily close looks back on start, so days that
/// ended while the server was down are closed too.
const CATCH_UP_DAYS: i64 = 7;

/// Closes every ended day at `offset` after `closed_through` (on start: the
/// last [`CATCH_UP_DAYS`]); answers the last day number closed.
async fn close_ended_days(
    state: &AppState,
    offset: i64,
    closed_through: Option<i64>,
) -> Result<i64, ApiError> {
    let today_start = local_day_start(to_i64(now_ms()), offset);
    let yesterday = (today_start + offset * 60_000).div_euclid(DAY_MS) - 1;
    let first = closed_through.map_or(yesterday - CATCH_UP_DAYS + 1, |d| d + 1);
    for day in first..=yesterday {
        let (y, m, d) = civil_from_days(day);
        close_day(state, &format!("{y:04}-{m:02}-{d:02}"), offset).await?;
    }
    Ok(yesterday.max(closed_through.unwrap_or(yesterday)))
}

async fn deliver_due(
    state: &AppState,
    endpoint: &BillingEndpoint,
    policy: RetryPolicy,
) -> Result<Option<i64>, ApiError> {
    let pool = &state.db().pool;
    let now = to_i64(now_ms());
    let due: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, delivery_id, body, attempts, next_attempt_at_ms FROM billing_exports \
         WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= $1 \
         ORDER BY created_at_ms, id LIMIT 20",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    for (id, delivery_id, body, attempts, due_at) in due {
        if !Queue::BillingExports.claim(state, &id, due_at).await? {
            continue;
        }
        let outcome = endpoint.deliver(&delivery_id, &body).await;
        finish(state, &id, attempts + 1, outcome, policy).await?;
    }
    Queue::BillingExports.next_due(state).await
}

async fn finish(
    state: &AppState,
    id: &str,
    attempts: i64,
    outcome: Result<(), String>,
    policy: RetryPolicy,
) -> Result<(), ApiError> {
    match &outcome {
        Ok(()) => tracing::info!(export = %redact(id), attempts, "billing export delivered"),
        Err(e) => {
            tracing::warn!(export = %redact(id), attempts, error = %e, "billing delivery failed; will retry")
        }
    }
    Queue::BillingExports
        .record(state, id, attempts, outcome, policy)
        .await
}
