//! Express debt: what a tap's balance could not cover. The rider sees it
//! (`GET /v1/express`), the operator too (`GET /v1/admin/express/debts`);
//! a top-up pays it first, oldest tap first, each part as a payment to the
//! tap's merchant (order id derived from the tap and the debt paid, so a
//! retry never pays twice). The operator can also revoke a device's
//! allowances (a lost phone).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::ids::{payment_idempotency_key, redact};
use wayfare_protocol::instruction::InstructionBody;
use wayfare_protocol::money::Currency;
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::Admin;
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, ApiJson};
use crate::openapi::{constraints, Fails};
use crate::payments::{commit, load_context, terms_digest, Source};
use crate::state::AppState;

/// How many allowances a revocation put on the deny list.
#[derive(Serialize, ToSchema)]
pub(crate) struct Revoked {
    pub(crate) revoked: u64,
}

/// A settled tap as `taps_of` reads and shows it.
#[derive(sqlx::FromRow, Serialize, ToSchema)]
#[schema(as = ExpressTap)]
pub(crate) struct TapRow {
    allowance_id: String,
    counter: i64,
    terminal_id: String,
    amount_minor: i64,
    charged_minor: i64,
    debt_minor: i64,
    payment_id: Option<String>,
    tapped_at_ms: i64,
    settled_at_ms: i64,
}

/// The account's settled express taps, newest first.
pub(crate) async fn taps_of(
    pool: &sqlx::AnyPool,
    account_id: &str,
    limit: i64,
) -> Result<Vec<TapRow>, ApiError> {
    let rows: Vec<TapRow> = sqlx::query_as(
        "SELECT allowance_id, counter, terminal_id, amount_minor, charged_minor, debt_minor, \
             payment_id, tapped_at_ms, settled_at_ms FROM express_taps WHERE account_id = $1 \
             ORDER BY settled_at_ms DESC, counter DESC LIMIT $2",
    )
    .bind(account_id.to_string())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Pays `account_id`'s express debt from its balance, oldest tap first;
/// returns what was paid. Called after every top-up.
pub(crate) async fn collect(state: &AppState, account_id: &str) -> Result<u64, ApiError> {
    let pool = &state.db().pool;
    let owed: Vec<(String, i64, String, String, i64, String, String)> = sqlx::query_as(
        "SELECT t.allowance_id, t.counter, t.terminal_id, t.merchant_id, t.debt_minor, \
         t.currency, a.device_id FROM express_taps t \
         JOIN express_allowances a ON a.id = t.allowance_id \
         WHERE t.account_id = $1 AND t.debt_minor > 0 ORDER BY t.settled_at_ms, t.counter",
    )
    .bind(account_id.to_string())
    .fetch_all(pool)
    .await?;
    let mut paid_total = 0;
    for (allowance_id, counter, terminal_id, merchant_id, debt, currency, device_id) in owed {
        let balance = crate::accounts::store::get(pool, account_id)
            .await?
            .balance_minor;
        let part = to_u64(debt).min(to_u64(balance.max(0)));
        if part == 0 {
            break;
        }
        // Unique per (tap, debt before): a retry finds this payment.
        let order_id = format!("xt_{allowance_id}_{counter}_d{debt}");
        let body = InstructionBody {
            version: PROTOCOL_VERSION,
            account_id: account_id.to_string(),
            device_id,
            idempotency_key: payment_idempotency_key(account_id, &terminal_id, &order_id),
            order_id: order_id.clone(),
            merchant_id,
            terminal_id: terminal_id.clone(),
            amount_minor: part,
            currency: Currency::parse(&currency)
                .map_err(|e| ApiError::Internal(format!("tap currency: {e}")))?,
            description: "Express tap (balance owed)".into(),
            fare: None,
            expires_at_ms: now_ms(),
            signed_at_ms: 0,
            points_spent: 0,
        };
        let paid = match super::settle::existing_payment(pool, &terminal_id, &order_id).await? {
            Some((_, amount)) => amount,
            None => {
                let digest = terms_digest(&body)?;
                let ctx = load_context(pool, state.keys(), &body).await?;
                match commit(state, &body, &digest, ctx, now_ms(), Source::ExpressDebt).await {
                    Ok((result, _)) => result.amount_minor,
                    // The balance moved under us: try again at the next top-up.
                    Err(ApiError::InsufficientFunds(_)) => break,
                    Err(e) => return Err(e),
                }
            }
        };
        sqlx::query(
            "UPDATE express_taps SET debt_minor = debt_minor - $1 \
             WHERE allowance_id = $2 AND counter = $3 AND debt_minor = $4",
        )
        .bind(to_i64(paid))
        .bind(allowance_id.clone())
        .bind(counter)
        .bind(debt)
        .execute(pool)
        .await?;
        paid_total += paid;
        tracing::info!(allowance = %redact(&allowance_id), paid_minor = paid, "express debt paid");
    }
    Ok(paid_total)
}

/// The operator's revocation of a device's allowances.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Revocation {
    #[schema(schema_with = constraints::id)]
    device_id: String,
    /// `lost` (taps after the revocation are not charged to the rider) or
    /// `revoked`.
    #[schema(schema_with = reason_or_null)]
    reason: Option<String>,
}

/// A revocation's reasons, or `null`.
fn reason_or_null() -> RefOr<Schema> {
    constraints::one_of_or_null(&["lost", "revoked"])
}

/// The accounts owing express debt.
#[derive(Serialize, ToSchema)]
pub(crate) struct Debts {
    debts: Vec<Debt>,
}

/// One account's express debt.
#[derive(Serialize, ToSchema)]
pub(crate) struct Debt {
    account_id: String,
    currency: String,
    debt_minor: i64,
    taps: i64,
}

/// `POST /v1/admin/express/revocations`: the operator revokes a device's
/// allowances (a phone reported lost): terminals refuse them as soon as
/// they sync the deny list.
#[utoipa::path(post, path = "/v1/admin/express/revocations", operation_id = "revokeExpressDevice", tag = "express",
    summary = "The operator revokes a device's allowances: reason lost (default; taps after this are not charged to the rider) or revoked.",
    security(("adminToken" = [])),
    request_body = Revocation,
    responses((status = 200, description = "success", body = Revoked), Fails<401, 422>))]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<Revocation>,
) -> Result<Json<Revoked>, ApiError> {
    check_id("device_id", &req.device_id)?;
    let reason = req.reason.unwrap_or_else(|| "lost".into());
    if reason != "lost" && reason != "revoked" {
        return Err(ApiError::field("reason", "must be \"lost\" or \"revoked\""));
    }
    let now = to_i64(now_ms());
    let device_id = req.device_id.clone();
    let revoked = state
        .db()
        .write_tx(move |conn| {
            let device_id = device_id.clone();
            let reason = reason.clone();
            Box::pin(async move { super::revoke_live(conn, &device_id, &reason, now).await })
        })
        .await?;
    tracing::info!(device = %redact(&req.device_id), revoked, "express allowances revoked by the operator");
    Ok(Json(Revoked { revoked }))
}

/// `GET /v1/admin/express/debts`: every account owing express debt.
#[utoipa::path(get, path = "/v1/admin/express/debts", operation_id = "expressDebts", tag = "express",
    summary = "Every account owing express debt, with the number of taps.",
    security(("adminToken" = [])),
    responses((status = 200, description = "success", body = Debts), Fails<401>))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Debts>, ApiError> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT account_id, currency, CAST(SUM(debt_minor) AS BIGINT), CAST(COUNT(*) AS BIGINT) \
         FROM express_taps WHERE debt_minor > 0 GROUP BY account_id, currency ORDER BY account_id",
    )
    .fetch_all(&state.db().pool)
    .await?;
    Ok(Json(Debts {
        debts: rows
            .into_iter()
            .map(|(account_id, currency, debt_minor, taps)| Debt {
                account_id,
                currency,
                debt_minor,
                taps,
            })
            .collect(),
    }))
}
