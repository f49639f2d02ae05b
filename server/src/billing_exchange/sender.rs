//! The sender: closes ended days (when configured) and posts due exports,
//! signed, to the billing endpoint, with backoff until a 2xx answer;
//! a lease keeps two instances from sending the same export.

use super::*;

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
        let idle = match deliver_due(&state, &endpoint, policy).await {
            Ok(Some(next_due)) => {
                let wait = next_due - to_i64(now_ms());
                Duration::from_millis(wait.clamp(5, MAX_IDLE.as_millis() as i64) as u64)
            }
            Ok(None) => MAX_IDLE,
            Err(e) => {
                tracing::warn!(error = %e, "billing delivery pass failed");
                Duration::from_secs(1)
            }
        };
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
        if !claim(state, &id, due_at).await? {
            continue;
        }
        let outcome = endpoint.deliver(&delivery_id, &body).await;
        finish(state, &id, attempts + 1, outcome, policy).await?;
    }
    let next: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT MIN(next_attempt_at_ms) FROM billing_exports WHERE delivered_at_ms IS NULL",
    )
    .fetch_optional(pool)
    .await?;
    Ok(next.and_then(|r| r.0))
}

/// Takes a lease on an export; false when another worker took it first.
async fn claim(state: &AppState, id: &str, due_at: i64) -> Result<bool, ApiError> {
    let id = id.to_string();
    let until = to_i64(now_ms()) + LEASE_MS;
    state
        .db()
        .write_tx(move |conn| {
            let id = id.clone();
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE billing_exports SET next_attempt_at_ms = $1 \
                     WHERE id = $2 AND delivered_at_ms IS NULL AND next_attempt_at_ms = $3",
                )
                .bind(until)
                .bind(id)
                .bind(due_at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(n == 1)
            })
        })
        .await
}

async fn finish(
    state: &AppState,
    id: &str,
    attempts: i64,
    outcome: Result<(), String>,
    policy: RetryPolicy,
) -> Result<(), ApiError> {
    let now = to_i64(now_ms());
    match &outcome {
        Ok(()) => tracing::info!(export = %redact(id), attempts, "billing export delivered"),
        Err(e) => {
            tracing::warn!(export = %redact(id), attempts, error = %e, "billing delivery failed; will retry")
        }
    }
    let id = id.to_string();
    let next = now + policy.delay_ms(attempts);
    state
        .db()
        .write_tx(move |conn| {
            let (id, outcome) = (id.clone(), outcome.clone());
            Box::pin(async move {
                match outcome {
                    Ok(()) => sqlx::query(
                        "UPDATE billing_exports SET delivered_at_ms = $1, attempts = $2, \
                         last_error = NULL WHERE id = $3",
                    )
                    .bind(now)
                    .bind(attempts)
                    .bind(id),
                    Err(e) => sqlx::query(
                        "UPDATE billing_exports SET next_attempt_at_ms = $1, attempts = $2, \
                         last_error = $3 WHERE id = $4",
                    )
                    .bind(next)
                    .bind(attempts)
                    .bind(e.chars().take(300).collect::<String>())
                    .bind(id),
                }
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
}
