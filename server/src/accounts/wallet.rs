//! The phone's view of its wallet: balance, points and history.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Device, Signed};
use crate::db::to_u64;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::openapi::Fails;
use crate::state::AppState;

/// The device's wallet.
#[derive(Serialize, ToSchema)]
pub(crate) struct Wallet {
    account_id: String,
    handle: String,
    display_name: String,
    balance_minor: i64,
    currency: String,
    points: i64,
}

/// `GET /v1/wallet`.
#[utoipa::path(get, path = "/v1/wallet", operation_id = "wallet", tag = "accounts",
    summary = "The device's wallet.",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = Wallet), Fails<401>))]
pub(crate) async fn wallet(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<Wallet>, ApiError> {
    let account = super::store::find(&state.db().pool, &request.signer.account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("the device's account does not exist".into()))?;
    Ok(Json(Wallet {
        account_id: account.id,
        handle: account.handle.unwrap_or_default(),
        display_name: account.display_name,
        balance_minor: account.balance_minor,
        currency: account.currency,
        points: account.points,
    }))
}

/// The query of `GET /v1/wallet/history`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, nullable = false)]
    limit: Option<i64>,
}

/// The wallet's ledger entries, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct History {
    entries: Vec<HistoryEntry>,
}

/// One ledger entry of the wallet.
#[derive(Serialize, ToSchema)]
struct HistoryEntry {
    entry_id: String,
    #[schema(schema_with = entry_kind)]
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

/// The kinds of a wallet's ledger entries.
fn entry_kind() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::one_of(&["payment", "top_up", "refund"])
}

/// A ledger entry with what the history shows beside it.
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    kind: String,
    amount_minor: i64,
    currency: String,
    balance_after_minor: i64,
    payment_id: Option<String>,
    merchant_name: Option<String>,
    description: String,
    created_at_ms: i64,
    points_spent: i64,
    points_value_minor: i64,
    points_returned: i64,
}

/// `GET /v1/wallet/history?limit=N` (1..=500, default 50), newest first.
#[utoipa::path(get, path = "/v1/wallet/history", operation_id = "walletHistory", tag = "accounts",
    summary = "Ledger entries of the wallet, newest first. Query limit=1..500 (default 50).",
    security(("deviceSignature" = [])),
    params(HistoryQuery),
    responses((status = 200, description = "success", body = History), Fails<401, 422>))]
pub(crate) async fn history(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
    request: Signed<Device>,
) -> Result<Json<History>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT e.id, e.kind, e.amount_minor, e.currency, e.balance_after_minor, e.payment_id, \
         m.name AS merchant_name, e.description, e.created_at_ms, \
         CASE WHEN e.kind = 'payment' THEN COALESCE(p.points_spent, 0) ELSE 0 END \
         AS points_spent, \
         CASE WHEN e.kind = 'payment' THEN COALESCE(p.points_value_minor, 0) ELSE 0 END \
         AS points_value_minor, \
         (SELECT CAST(COALESCE(SUM(pe.points), 0) AS BIGINT) FROM points_entries pe \
          WHERE pe.movement_id = e.movement_id AND pe.account_id = e.account_id \
          AND pe.kind = 'refund_return') AS points_returned FROM ledger_entries e \
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
            entry_id: r.id,
            kind: r.kind,
            amount_minor: r.amount_minor,
            currency: r.currency,
            balance_after_minor: r.balance_after_minor,
            payment_id: r.payment_id,
            merchant_name: r.merchant_name,
            description: r.description,
            at_ms: to_u64(r.created_at_ms),
            points_spent: r.points_spent,
            points_value_minor: r.points_value_minor,
            points_returned: r.points_returned,
        })
        .collect();
    Ok(Json(History { entries }))
}
