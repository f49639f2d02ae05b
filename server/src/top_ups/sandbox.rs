//! `POST /v1/sandbox/top-ups` (admin): the SANDBOX top-up. It is funded
//! from the per-currency sandbox funding account (which goes negative by
//! the total ever topped up); a production deployment tops up through a
//! funding provider instead (`crate::funding`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::money::Currency;

use crate::auth::Admin;
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_id, parse_amount, parse_currency, ApiJson};
use crate::ledger;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;
use crate::top_ups::{self, Channel, Credit};

/// A sandbox top-up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopUpRequest {
    #[schema(schema_with = constraints::id)]
    account_id: String,
    #[schema(schema_with = constraints::amount)]
    amount_minor: serde_json::Number,
    #[schema(schema_with = constraints::currency)]
    currency: String,
    #[schema(schema_with = constraints::id_or_null)]
    reference: Option<String>,
}

/// A top-up made (or seen before under its reference).
#[derive(Serialize, ToSchema)]
pub(crate) struct SandboxTopUp {
    top_up_id: String,
    account_id: String,
    balance_minor: i64,
    currency: String,
}

/// `POST /v1/sandbox/top-ups`.
#[utoipa::path(post, path = "/v1/sandbox/top-ups", operation_id = "sandboxTopUp", tag = "top-ups",
    summary = "SANDBOX funding: credits an account from the per-currency sandbox funding account. The same reference twice is one top-up (201 again, with the first top-up). Unknown account 404; an account in another currency 422 currency_mismatch.",
    security(("adminToken" = [])),
    request_body = TopUpRequest,
    responses((status = 201, description = "success", body = SandboxTopUp), Fails<400, 401, 404, 409, 422>))]
pub(crate) async fn top_up(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<TopUpRequest>,
) -> Result<(StatusCode, Json<SandboxTopUp>), ApiError> {
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
                Json(SandboxTopUp {
                    top_up_id,
                    account_id: req.account_id,
                    balance_minor: balance,
                    currency: currency.code().to_string(),
                }),
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
) -> Result<Option<SandboxTopUp>, ApiError> {
    let row: Option<SeenTopUp> = sqlx::query_as(
        "SELECT t.id, t.account_id, t.amount_minor, t.currency, a.balance_minor \
         FROM top_ups t JOIN accounts a ON a.id = t.account_id WHERE t.reference = $1",
    )
    .bind(reference.to_string())
    .fetch_optional(&state.db().pool)
    .await?;
    let Some(seen) = row else {
        return Ok(None);
    };
    if seen.account_id != account_id
        || seen.amount_minor != to_i64(amount)
        || seen.currency != currency.code()
    {
        return Err(ApiError::IdempotencyConflict(
            "this top-up reference was already used with another account, amount or currency"
                .into(),
        ));
    }
    Ok(Some(SandboxTopUp {
        top_up_id: seen.id,
        account_id: seen.account_id,
        balance_minor: seen.balance_minor,
        currency: seen.currency,
    }))
}

/// A top-up found by its reference, with its account's balance now.
#[derive(sqlx::FromRow)]
struct SeenTopUp {
    id: String,
    account_id: String,
    amount_minor: i64,
    currency: String,
    balance_minor: i64,
}
