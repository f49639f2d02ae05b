//! The kiosk part of a day's settlement: per top_up terminal, the day's
//! kiosk top-ups and its cash float's balance at the end of the day (what
//! the operator owes riders for the cash in that drawer, as a negative
//! balance). Computed from append-only rows, so a past day never changes.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyPool;
use utoipa::ToSchema;

use crate::error::ApiError;

/// One terminal's cash float on one day.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, ToSchema)]
pub struct CashFloatRecord {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The operator the merchant settles under.
    pub operator: String,
    /// The merchant running the terminal.
    pub merchant_id: String,
    /// Its name.
    pub merchant_name: String,
    /// The top_up terminal.
    pub terminal_id: String,
    /// Currency of the float.
    pub currency: String,
    /// Kiosk top-ups credited from this float that day.
    pub top_up_count: i64,
    /// Their sum, in minor units.
    pub top_up_minor: i64,
    /// The float's balance at the end of the day (negative: cash held for
    /// riders).
    pub float_balance_minor: i64,
}

/// A cash float with its merchant's names.
#[derive(sqlx::FromRow)]
struct FloatRow {
    operator_name: String,
    merchant_id: String,
    merchant_name: String,
    terminal_id: String,
    currency: String,
    account_id: String,
}

/// The cash floats of `[from_ms, to_ms)`: every float that existed by the
/// end of the day, ordered by operator, merchant and terminal.
pub async fn cash_floats(
    pool: &AnyPool,
    date: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<CashFloatRecord>, ApiError> {
    let floats: Vec<FloatRow> = sqlx::query_as(
        "SELECT m.operator_name, f.merchant_id, m.name AS merchant_name, f.terminal_id, \
         f.currency, f.account_id \
         FROM kiosk_floats f JOIN merchants m ON m.id = f.merchant_id \
         WHERE f.created_at_ms < $1",
    )
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let sums: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT terminal_id, COUNT(*), CAST(SUM(amount_minor) AS BIGINT) FROM kiosk_top_ups \
         WHERE completed_at_ms >= $1 AND completed_at_ms < $2 GROUP BY terminal_id",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let sums: BTreeMap<String, (i64, i64)> = sums
        .into_iter()
        .map(|(terminal, count, sum)| (terminal, (count, sum)))
        .collect();
    let mut records = Vec::with_capacity(floats.len());
    for FloatRow {
        operator_name: operator,
        merchant_id,
        merchant_name,
        terminal_id,
        currency,
        account_id,
    } in floats
    {
        let closing: Option<(i64,)> = sqlx::query_as(
            "SELECT balance_after_minor FROM ledger_entries \
             WHERE account_id = $1 AND created_at_ms < $2 \
             ORDER BY account_seq DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(to_ms)
        .fetch_optional(pool)
        .await?;
        let (top_up_count, top_up_minor) = sums.get(&terminal_id).copied().unwrap_or_default();
        records.push(CashFloatRecord {
            date: date.to_string(),
            operator,
            merchant_id,
            merchant_name,
            terminal_id,
            currency,
            top_up_count,
            top_up_minor,
            float_balance_minor: closing.map(|c| c.0).unwrap_or_default(),
        });
    }
    records.sort_by(|a, b| {
        (&a.operator, &a.merchant_id, &a.terminal_id).cmp(&(
            &b.operator,
            &b.merchant_id,
            &b.terminal_id,
        ))
    });
    Ok(records)
}
