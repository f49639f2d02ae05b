//! Operator endpoints: account lookup, the ledger invariant check and the
//! SANDBOX top-up. A top-up is funded from the per-currency sandbox funding
//! account (it goes negative by the total ever topped up); a production
//! deployment replaces it with a real payment-in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::money::Currency;

use crate::auth::Admin;
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_id, parse_amount, parse_currency, ApiJson, ApiPath};
use crate::ledger;
use crate::state::AppState;
use crate::top_ups::{self, Channel, Credit};

/// `GET /v1/accounts/{account_id}`.
pub(crate) async fn account(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(account_id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    // Pending entries (a merchant's credits not yet folded) count at once.
    let row: Option<(String, String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.kind, a.display_name, CAST(a.balance_minor + COALESCE((SELECT \
         SUM(p.amount_minor) FROM pending_entries p WHERE p.account_id = a.id), 0) AS BIGINT), \
         a.currency, CAST(a.points + COALESCE((SELECT SUM(p.points) FROM pending_entries p \
         WHERE p.account_id = a.id), 0) AS BIGINT) FROM accounts a WHERE a.id = $1",
    )
    .bind(account_id)
    .fetch_optional(&state.db().pool)
    .await?;
    let (account_id, kind, display_name, balance_minor, currency, points) =
        row.ok_or_else(|| ApiError::NotFound("no account has this id".into()))?;
    Ok(Json(json!({
        "account_id": account_id,
        "kind": kind,
        "display_name": display_name,
        "balance_minor": balance_minor,
        "currency": currency,
        "points": points,
    })))
}

/// The query of `POST /v1/transit/sweep`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SweepQuery {
    /// Charge entries whose token expired at least this long ago (default:
    /// the periodic sweep's grace, 6 h).
    grace_ms: Option<u64>,
}

/// `POST /v1/transit/sweep` (admin): charges the maximum fare, once, for
/// every open entry whose tap-in token expired unused more than `grace_ms`
/// ago (incomplete journeys; the server also does this periodically).
pub(crate) async fn transit_sweep(
    State(state): State<AppState>,
    _admin: Admin,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<SweepQuery>,
) -> Result<Json<Value>, ApiError> {
    let grace = query.grace_ms.unwrap_or(crate::journeys::SWEEP_GRACE_MS);
    let charged = crate::journeys::sweep(&state, grace).await?;
    Ok(Json(json!({ "charged": charged })))
}

/// `GET /v1/ledger/check`: `sum_minor` is 0 and `balance_mismatches` is 0
/// when every movement balanced and every balance equals its entries; the
/// same for loyalty points with `points_sum` and `points_mismatches`.
pub(crate) async fn ledger_check(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let check = ledger::check(&state.db().pool).await?;
    Ok(Json(json!({
        "sum_minor": check.sum_minor,
        "entries": check.entries,
        "pending_entries": check.pending_entries,
        "balance_mismatches": check.balance_mismatches,
        "points_sum": check.points.sum_points,
        "points_entries": check.points.entries,
        "points_mismatches": check.points.mismatches,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopUpRequest {
    account_id: String,
    amount_minor: serde_json::Number,
    currency: String,
    reference: Option<String>,
}

/// `POST /v1/sandbox/top-ups`.
pub(crate) async fn top_up(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<TopUpRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_id("account_id", &req.account_id)?;
    let amount = parse_amount("amount_minor", &req.amount_minor)?;
    let currency = parse_currency("currency", &req.currency)?;
    if let Some(reference) = &req.reference {
        check_id("reference", reference)?;
        if let Some(answer) = replay(&state, reference, &req.account_id, amount, &currency).await? {
            return Ok((StatusCode::CREATED, Json(answer)));
        }
    }
    let top_up_id = new_id("top").map_err(|e| ApiError::Internal(e.to_string()))?;
    let plan = Credit {
        id: top_up_id.clone(),
        reference: req.reference.clone(),
        channel: Channel::Sandbox,
        source_account_id: String::new(),
        account_id: req.account_id.clone(),
        amount_minor: amount,
        currency: currency.clone(),
        description: "Sandbox top-up".into(),
        at_ms: to_i64(now_ms()),
    };
    let result = state
        .db()
        .write_tx(move |conn| {
            let mut plan = plan.clone();
            Box::pin(async move {
                top_ups::check_account(conn, &plan.account_id, &plan.currency, false).await?;
                plan.source_account_id =
                    ledger::funding_account(conn, &plan.currency, plan.at_ms).await?;
                top_ups::credit(conn, &plan).await
            })
        })
        .await;
    match result {
        Ok(balance) => {
            tracing::info!(account = %redact(&req.account_id), amount_minor = amount, "sandbox top-up");
            let balance = top_ups::settle_debt(&state, &req.account_id, balance).await;
            Ok((
                StatusCode::CREATED,
                Json(json!({
                    "top_up_id": top_up_id,
                    "account_id": req.account_id,
                    "balance_minor": balance,
                    "currency": currency.code(),
                })),
            ))
        }
        Err(e) if is_unique_violation(&e) => {
            let reference = req.reference.as_deref().unwrap_or_default();
            match replay(&state, reference, &req.account_id, amount, &currency).await? {
                Some(answer) => Ok((StatusCode::CREATED, Json(answer))),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The answer for a top-up reference seen before, or a conflict when it
/// was used with other terms.
async fn replay(
    state: &AppState,
    reference: &str,
    account_id: &str,
    amount: u64,
    currency: &Currency,
) -> Result<Option<Value>, ApiError> {
    let row: Option<(String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT t.id, t.account_id, t.amount_minor, t.currency, a.balance_minor \
         FROM top_ups t JOIN accounts a ON a.id = t.account_id WHERE t.reference = $1",
    )
    .bind(reference.to_string())
    .fetch_optional(&state.db().pool)
    .await?;
    let Some((id, acc, amt, cur, balance)) = row else {
        return Ok(None);
    };
    if acc != account_id || amt != to_i64(amount) || cur != currency.code() {
        return Err(ApiError::IdempotencyConflict(
            "this top-up reference was already used with another account, amount or currency"
                .into(),
        ));
    }
    Ok(Some(json!({
        "top_up_id": id,
        "account_id": acc,
        "balance_minor": balance,
        "currency": cur,
    })))
}
