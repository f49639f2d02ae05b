//! What a payment does for guardians, inside the payment's transaction:
//! the daily limits are checked (after the payer's balance row is locked by
//! the ledger, so concurrent payments of one rider are counted one after the
//! other on both backends and can never overshoot), and one alert per active
//! in-scope binding is written to three outboxes at once: `guardian_alerts`
//! (history), `account_events` (the guardian's device stream) and
//! `outbound_messages` (SMS/push through the gateway).
//!
//! The binding rows read here are share-locked until the payment commits
//! (PostgreSQL; SQLite runs one writer at a time): a revocation, which
//! updates the row, waits for a payment already alerting, and a payment
//! that starts after the revocation committed sees it ended. So no alert
//! ever follows a revocation that has returned.

use crate::db::exec::{sql, Exec};
use serde_json::Value;
use wayfare_protocol::ids::new_id;
use wayfare_protocol::money::Currency;

use super::render::AlertFacts;
use super::{Scope, ShownAs};
use crate::civil::local_day_start;
use crate::db::{lock_clause, RowLock};
use crate::error::ApiError;

/// The SSE event kind and outbound message kind of an alert.
pub const ALERT_KIND: &str = "guardian.alert";

/// One active binding of the paying rider, as a payment needs it.
#[derive(serde::Deserialize)]
struct BindingRow {
    id: String,
    guardian_account_id: String,
    scope: String,
    shown_as: String,
    shown_value: String,
    daily_limit_minor: Option<i64>,
    limit_utc_offset_minutes: i64,
}

/// The paying rider's active bindings, read once per payment (one
/// statement) for both the daily limits and the alerts, and share-locked
/// until the payment commits.
pub struct RiderBindings {
    rider_account_id: String,
    rows: Vec<BindingRow>,
}

impl RiderBindings {
    /// Reads (and on PostgreSQL share-locks) the rider's active bindings.
    pub async fn load(conn: &mut dyn Exec, rider_account_id: &str) -> Result<Self, ApiError> {
        let rows: Vec<BindingRow> = sql(format!(
            "SELECT id, guardian_account_id, scope, shown_as, shown_value, daily_limit_minor, \
             limit_utc_offset_minutes FROM guardian_bindings \
             WHERE rider_account_id = $1 AND status = 'active' ORDER BY created_at_ms, id{}",
            lock_clause(conn, RowLock::Share)
        ))
        .bind(rider_account_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        Ok(Self {
            rider_account_id: rider_account_id.to_string(),
            rows,
        })
    }

    /// Refuses the payment when the rider's spending today (this payment
    /// included, so it must already be inserted) exceeds a daily limit set
    /// by any active guardian. Call after the ledger debited the payer.
    pub async fn enforce_daily_limits(
        &self,
        conn: &mut dyn Exec,
        now_ms: i64,
        currency: &Currency,
    ) -> Result<(), ApiError> {
        for row in &self.rows {
            let Some(limit) = row.daily_limit_minor else {
                continue;
            };
            let since = local_day_start(now_ms, row.limit_utc_offset_minutes);
            let (spent,): (i64,) = sql(
                "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM payments \
                 WHERE account_id = $1 AND completed_at_ms >= $2",
            )
            .bind(self.rider_account_id.clone())
            .bind(since)
            .fetch_one(&mut *conn)
            .await?;
            if spent > limit {
                return Err(ApiError::GuardianLimitReached(format!(
                    "daily limit set by your guardian reached: {} of {} a day",
                    currency.format(spent),
                    currency.format(limit),
                )));
            }
        }
        Ok(())
    }

    /// Writes an alert for every binding whose scope covers this payment.
    /// `facts.rider` is replaced per binding. Returns the guardian accounts
    /// to wake after the commit.
    pub async fn fan_out(
        &self,
        conn: &mut dyn Exec,
        facts: &AlertFacts,
    ) -> Result<Vec<String>, ApiError> {
        let transit = facts.is_transit();
        let mut woken = Vec::new();
        for b in &self.rows {
            let (binding_id, guardian, scope) = (&b.id, &b.guardian_account_id, &b.scope);
            if !Scope::parse(scope)?.covers(transit) {
                continue;
            }
            let alert_id = new_id("alr").map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut per_binding = facts.clone();
            per_binding.rider = ShownAs::from_row(&b.shown_as, &b.shown_value);
            let mut data = per_binding.fields();
            if let Value::Object(map) = &mut data {
                map.insert("alert_id".into(), Value::String(alert_id.clone()));
                map.insert("binding_id".into(), Value::String(binding_id.clone()));
                map.insert("scope".into(), Value::String(scope.clone()));
            }
            let data = data.to_string();
            let seq =
                crate::streams::device::append(conn, guardian, ALERT_KIND, &data, facts.at_ms)
                    .await?;
            sql(
                "INSERT INTO guardian_alerts (id, binding_id, guardian_account_id, payment_id, \
                 event_seq, data, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(alert_id.clone())
            .bind(binding_id.clone())
            .bind(guardian.clone())
            .bind(facts.payment_id.clone())
            .bind(seq)
            .bind(data.clone())
            .bind(facts.at_ms)
            .execute(&mut *conn)
            .await?;
            sql(
                "INSERT INTO outbound_messages (id, kind, account_id, data, next_attempt_at_ms, \
                 created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(alert_id)
            .bind(ALERT_KIND)
            .bind(guardian.clone())
            .bind(data)
            .bind(facts.at_ms)
            .bind(facts.at_ms)
            .execute(&mut *conn)
            .await?;
            woken.push(guardian.clone());
        }
        Ok(woken)
    }
}
