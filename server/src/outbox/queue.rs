//! What every delivery queue shares (the alert outbox, the push
//! deliveries, the billing exports): a lease on a claimed row, the retry
//! policy with exponential backoff, and how long a worker sleeps between
//! passes. A file of its own, used by each queue's worker.

use std::time::Duration;

use sqlx::AssertSqlSafe;

use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a claimed row is left alone by other workers.
const LEASE_MS: i64 = 60_000;
/// Longest sleep between passes (also picks up rows of other instances).
const MAX_IDLE: Duration = Duration::from_secs(5);

/// How long a delivery worker (this outbox, the push deliveries, the
/// billing sender) sleeps after a pass: until the next row is due, at
/// least 5 ms and at most [`MAX_IDLE`]; a second after a failed pass
/// (logged as `what`).
pub(crate) fn idle_after(pass: Result<Option<i64>, ApiError>, what: &str) -> Duration {
    match pass {
        Ok(Some(next_due)) => {
            let wait = next_due - to_i64(now_ms());
            Duration::from_millis(wait.clamp(5, MAX_IDLE.as_millis() as i64) as u64)
        }
        Ok(None) => MAX_IDLE,
        Err(e) => {
            tracing::warn!(error = %e, "{what} delivery pass failed");
            Duration::from_secs(1)
        }
    }
}

/// Backoff between attempts of one message.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub initial: Duration,
    /// The wait doubles per failure up to this.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (1 = the first failure).
    pub fn delay_ms(&self, attempts: i64) -> i64 {
        let initial = self.initial.as_millis() as i64;
        let max = self.max.as_millis() as i64;
        let exp = attempts.clamp(1, 31) - 1;
        initial.saturating_mul(1_i64 << exp).min(max).max(1)
    }
}

/// A delivery queue table with the outbox's lease and retry columns
/// (`next_attempt_at_ms`, `delivered_at_ms`, `attempts`, `last_error`):
/// the alert outbox and the billing exports share one bookkeeping.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Queue {
    /// `outbound_messages` (guardian alerts and merchant prompts).
    Outbound,
    /// `billing_exports` (a closed day for the billing system).
    BillingExports,
    /// `push_deliveries` (one push to one device).
    Push,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Queue::Outbound => "outbound_messages",
            Queue::BillingExports => "billing_exports",
            Queue::Push => "push_deliveries",
        }
    }

    /// Takes a lease on a due row; false when another worker took it first.
    pub(crate) async fn claim(
        self,
        state: &AppState,
        id: &str,
        due_at: i64,
    ) -> Result<bool, ApiError> {
        let id = id.to_string();
        let until = to_i64(now_ms()) + LEASE_MS;
        let sql = format!(
            "UPDATE {} SET next_attempt_at_ms = $1 \
             WHERE id = $2 AND delivered_at_ms IS NULL AND next_attempt_at_ms = $3",
            self.table()
        );
        state
            .db()
            .write_tx(move |conn| {
                let (id, sql) = (id.clone(), sql.clone());
                Box::pin(async move {
                    let n = sqlx::query(AssertSqlSafe(sql))
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

    /// Records an attempt: delivered, or due again after the policy's delay.
    pub(crate) async fn record(
        self,
        state: &AppState,
        id: &str,
        attempts: i64,
        outcome: Result<(), String>,
        policy: RetryPolicy,
    ) -> Result<(), ApiError> {
        self.record_after(state, id, attempts, outcome, policy, Duration::ZERO)
            .await
    }

    /// [`Queue::record`], and a failure is not due again before `floor`
    /// (a `Retry-After`), even when the policy's delay is shorter.
    pub(crate) async fn record_after(
        self,
        state: &AppState,
        id: &str,
        attempts: i64,
        outcome: Result<(), String>,
        policy: RetryPolicy,
        floor: Duration,
    ) -> Result<(), ApiError> {
        let now = to_i64(now_ms());
        let floor_ms = i64::try_from(floor.as_millis()).unwrap_or(i64::MAX);
        let next = now.saturating_add(policy.delay_ms(attempts).max(floor_ms));
        let table = self.table();
        let id = id.to_string();
        state
            .db()
            .write_tx(move |conn| {
                let (id, outcome) = (id.clone(), outcome.clone());
                Box::pin(async move {
                    match outcome {
                        Ok(()) => sqlx::query(AssertSqlSafe(format!(
                            "UPDATE {table} SET delivered_at_ms = $1, attempts = $2, \
                             last_error = NULL WHERE id = $3"
                        )))
                        .bind(now)
                        .bind(attempts)
                        .bind(id),
                        Err(e) => sqlx::query(AssertSqlSafe(format!(
                            "UPDATE {table} SET next_attempt_at_ms = $1, attempts = $2, \
                             last_error = $3 WHERE id = $4"
                        )))
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

    /// Closes a row that no attempt can deliver: done (never attempted
    /// again), with `reason` as its last error.
    pub(crate) async fn close(
        self,
        state: &AppState,
        id: &str,
        attempts: i64,
        reason: &str,
    ) -> Result<(), ApiError> {
        let now = to_i64(now_ms());
        let sql = format!(
            "UPDATE {} SET delivered_at_ms = $1, attempts = $2, last_error = $3 WHERE id = $4",
            self.table()
        );
        let (id, reason) = (id.to_string(), reason.chars().take(300).collect::<String>());
        state
            .db()
            .write_tx(move |conn| {
                let (id, reason, sql) = (id.clone(), reason.clone(), sql.clone());
                Box::pin(async move {
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(now)
                        .bind(attempts)
                        .bind(reason)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// When the next undelivered row is due, if any.
    pub(crate) async fn next_due(self, state: &AppState) -> Result<Option<i64>, ApiError> {
        let next: Option<(Option<i64>,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT MIN(next_attempt_at_ms) FROM {} WHERE delivered_at_ms IS NULL",
            self.table()
        )))
        .fetch_optional(&state.db().pool)
        .await?;
        Ok(next.and_then(|r| r.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1_000),
        };
        assert_eq!(p.delay_ms(1), 100);
        assert_eq!(p.delay_ms(2), 200);
        assert_eq!(p.delay_ms(4), 800);
        assert_eq!(p.delay_ms(5), 1_000);
        assert_eq!(p.delay_ms(1_000), 1_000);
    }
}
