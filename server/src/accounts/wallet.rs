//! The phone's view of its wallet: balance, points and history.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{Device, Signed};
use crate::db::to_u64;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// `GET /v1/wallet`.
pub(crate) async fn wallet(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<Value>, ApiError> {
    let row: Option<(String, Option<String>, String, i64, String, i64)> = sqlx::query_as(
        "SELECT id, handle, display_name, balance_minor, currency, points FROM accounts WHERE id = $1",
    )
    .bind(request.signer.account_id.clone())
    .fetch_optional(&state.db().pool)
    .await?;
    let (account_id, handle, display_name, balance_minor, currency, points) =
        row.ok_or_else(|| ApiError::NotFound("the device's account does not exist".into()))?;
    Ok(Json(json!({
        "account_id": account_id,
        "handle": handle.unwrap_or_default(),
        "display_name": display_name,
        "balance_minor": balance_minor,
        "currency": currency,
        "points": points,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    limit: Option<i64>,
}

#[derive(Serialize)]
struct HistoryEntry {
    entry_id: String,
    kind: String,
    amount_minor: i64,
    currency: String,
    balance_after_minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_name: Option<String>,
    description: String,
    at_ms: u64,
    /// For a payment: loyalty points spent on it, and what they paid (the
    /// entry's amount is the money part).
    #[serde(skip_serializing_if = "is_zero")]
    points_spent: i64,
    #[serde(skip_serializing_if = "is_zero")]
    points_value_minor: i64,
    /// For a refund: spent points it returned.
    #[serde(skip_serializing_if = "is_zero")]
    points_returned: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

type EntryRow = (
    String,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    i64,
    i64,
);

/// `GET /v1/wallet/history?limit=N` (1..=500, default 50), newest first.
pub(crate) async fn history(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
    request: Signed<Device>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT e.id, e.kind, e.amount_minor, e.currency, e.balance_after_minor, e.payment_id, \
         m.name, e.description, e.created_at_ms, \
         CASE WHEN e.kind = 'payment' THEN COALESCE(p.points_spent, 0) ELSE 0 END, \
         CASE WHEN e.kind = 'payment' THEN COALESCE(p.points_value_minor, 0) ELSE 0 END, \
         (SELECT CAST(COALESCE(SUM(pe.points), 0) AS BIGINT) FROM points_entries pe \
          WHERE pe.movement_id = e.movement_id AND pe.account_id = e.account_id \
          AND pe.kind = 'refund_return') FROM ledger_entries e \
         LEFT JOIN payments p ON p.id = e.payment_id \
         LEFT JOIN merchants m ON m.id = p.merchant_id \
         WHERE e.account_id = $1 ORDER BY e.account_seq DESC LIMIT $2",
    )
    .bind(request.signer.account_id.clone())
    .bind(limit)
    .fetch_all(&state.db().pool)
    .await?;
    let entries: Vec<HistoryEntry> = rows
        .into_iter()
        .map(|r| HistoryEntry {
            entry_id: r.0,
            kind: r.1,
            amount_minor: r.2,
            currency: r.3,
            balance_after_minor: r.4,
            payment_id: r.5,
            merchant_name: r.6,
            description: r.7,
            at_ms: to_u64(r.8),
            points_spent: r.9,
            points_value_minor: r.10,
            points_returned: r.11,
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
