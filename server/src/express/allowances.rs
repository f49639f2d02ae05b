//! `POST /v1/express/allowances` (a device asks for an allowance for its
//! new tap key), `DELETE` (the rider switches express taps off) and
//! `GET /v1/express` (debt and settled taps, for the rider).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wayfare_protocol::express::{Allowance, AllowanceBody, EXPRESS_VERSION};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::keys::PublicKey;

use crate::auth::{Device, Signed};
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// Largest per-tap cap the server grants (minor units).
pub const MAX_PER_TAP_MINOR: u64 = 5_000;
/// Largest total cap the server grants (minor units).
pub const MAX_TOTAL_MINOR: u64 = 20_000;
/// How long an allowance is honoured.
pub const VALIDITY_MS: u64 = 24 * 60 * 60 * 1000;

/// What a device asks for: its new tap key and the caps.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AllowanceRequest {
    #[schema(schema_with = constraints::key)]
    tap_key: String,
    #[schema(schema_with = constraints::positive)]
    per_tap_max_minor: u64,
    #[schema(schema_with = constraints::positive)]
    total_max_minor: u64,
}

/// An issued allowance.
#[derive(Serialize, ToSchema)]
pub struct AllowanceIssued {
    /// COSE_Sign1 Allowance, base64url
    pub allowance: String,
    /// Its id.
    pub allowance_id: String,
    /// Granted per-tap cap (may be lower than asked).
    pub per_tap_max_minor: u64,
    /// Granted total cap (never above the balance at issue).
    pub total_max_minor: u64,
    /// Currency of the taps.
    pub currency: String,
    /// The device's allowance sequence.
    pub sequence: u64,
    /// Issued at (Unix ms).
    pub issued_at_ms: u64,
    /// Expires at (Unix ms).
    pub expires_at_ms: u64,
}

/// What the device's account allows right now.
struct Grant {
    currency: String,
    per_tap: u64,
    total: u64,
}

/// The debt express taps left on `account_id`.
pub(crate) async fn debt_of(pool: &sqlx::AnyPool, account_id: &str) -> Result<i64, ApiError> {
    let (debt,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(debt_minor), 0) AS BIGINT) FROM express_taps WHERE account_id = $1",
    )
    .bind(account_id.to_string())
    .fetch_one(pool)
    .await?;
    Ok(debt)
}

async fn grant(
    pool: &sqlx::AnyPool,
    account_id: &str,
    req: &AllowanceRequest,
) -> Result<Grant, ApiError> {
    let debt = debt_of(pool, account_id).await?;
    if debt > 0 {
        return Err(ApiError::ExpressBlocked(format!(
            "an express tap could not be fully charged: {debt} (minor units) is owed; \
             top up to pay it and express taps come back"
        )));
    }
    let account = crate::accounts::store::get(pool, account_id).await?;
    let (balance, currency) = (account.balance_minor, account.currency);
    // A guardian's daily limit also bounds what can be spent offline.
    let (guardian_limit,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(daily_limit_minor) FROM guardian_bindings \
         WHERE rider_account_id = $1 AND status = 'active' AND daily_limit_minor IS NOT NULL",
    )
    .bind(account_id.to_string())
    .fetch_one(pool)
    .await?;
    let mut total = req
        .total_max_minor
        .min(MAX_TOTAL_MINOR)
        .min(to_u64(balance.max(0)));
    if let Some(limit) = guardian_limit {
        total = total.min(to_u64(limit.max(0)));
    }
    if total == 0 {
        return Err(ApiError::InsufficientFunds(
            "express taps need a positive balance (and a guardian's daily limit above zero)".into(),
        ));
    }
    let per_tap = req.per_tap_max_minor.min(MAX_PER_TAP_MINOR).min(total);
    Ok(Grant {
        currency,
        per_tap,
        total,
    })
}

/// `POST /v1/express/allowances`.
#[utoipa::path(post, path = "/v1/express/allowances", operation_id = "issueExpressAllowance", tag = "express",
    summary = "A signed offline allowance for the device's new tap key (Ed25519, base64url): gates accept express taps signed by that key up to the granted caps until expires_at_ms (24 h). Caps may be lowered: total to at most 20000, the balance and the smallest guardian daily limit; per tap to at most 5000 and the total. Issuing revokes the device's allowances older than the previous one. Refused while an express tap's debt is unpaid (409 express_blocked) or with no balance (402).",
    security(("deviceSignature" = [])),
    request_body = AllowanceRequest,
    responses((status = 201, description = "success", body = AllowanceIssued), Fails<400, 401, 402, 409, 422>))]
pub(crate) async fn issue(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<AllowanceIssued>), ApiError> {
    let device = request.signer.clone();
    let req: AllowanceRequest = request.json()?;
    let tap_key =
        PublicKey::from_base64(&req.tap_key).map_err(|e| ApiError::from_protocol("tap_key", e))?;
    if req.per_tap_max_minor == 0 || req.total_max_minor == 0 {
        return Err(ApiError::field(
            "per_tap_max_minor",
            "caps must be positive",
        ));
    }
    // A per-tap cap above the total is lowered to it, like every cap
    // (`grant`), rather than refused.
    let grant = grant(&state.db().pool, &device.account_id, &req).await?;
    let allowance_id = new_id("alw").map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = now_ms();
    let signer = state.clone();
    let (tx_device, tx_allowance_id, tx_currency) =
        (device.clone(), allowance_id.clone(), grant.currency.clone());
    let (issued, sequence) = state
        .db()
        .write_tx(move |conn| {
            let device = tx_device.clone();
            let allowance_id = tx_allowance_id.clone();
            let currency = tx_currency.clone();
            let signer = signer.clone();
            let (per_tap, total) = (grant.per_tap, grant.total);
            Box::pin(async move {
                let (last,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MAX(sequence) FROM express_allowances WHERE device_id = $1",
                )
                .bind(device.device_id.clone())
                .fetch_one(&mut *conn)
                .await?;
                let sequence = to_u64(last.unwrap_or(0)) + 1;
                let body = AllowanceBody {
                    version: EXPRESS_VERSION,
                    allowance_id: allowance_id.clone(),
                    tap_key,
                    per_tap_max_minor: per_tap,
                    total_max_minor: total,
                    currency: currency.clone(),
                    sequence,
                    issued_at_ms: now,
                    expires_at_ms: now + VALIDITY_MS,
                };
                let signed = Allowance::issue(&signer.keys().receipt, &body)
                    .map_err(|e| ApiError::Internal(format!("allowance signing: {e}")))?;
                // Only the newest earlier allowance stays honoured next to
                // the new one (a phone mid-switch); older ones are revoked,
                // so offline exposure stays at two allowances at most.
                sqlx::query(
                    "UPDATE express_allowances SET revoked_at_ms = $1, revoked_reason = 'superseded' \
                     WHERE device_id = $2 AND revoked_at_ms IS NULL AND expires_at_ms > $1 \
                     AND sequence < $3",
                )
                .bind(to_i64(now))
                .bind(device.device_id.clone())
                .bind(to_i64(sequence) - 1)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO express_allowances (id, account_id, device_id, tap_key, \
                     per_tap_max_minor, total_max_minor, currency, sequence, issued_at_ms, \
                     expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(allowance_id.clone())
                .bind(device.account_id.clone())
                .bind(device.device_id.clone())
                .bind(tap_key.to_base64())
                .bind(to_i64(per_tap))
                .bind(to_i64(total))
                .bind(currency)
                .bind(to_i64(sequence))
                .bind(to_i64(now))
                .bind(to_i64(now + VALIDITY_MS))
                .execute(&mut *conn)
                .await?;
                Ok((signed, sequence))
            })
        })
        .await?;
    tracing::info!(
        allowance = %redact(&allowance_id),
        device = %redact(&device.device_id),
        per_tap = grant.per_tap,
        total = grant.total,
        "express allowance issued"
    );
    Ok((
        StatusCode::CREATED,
        Json(AllowanceIssued {
            allowance: issued.to_base64(),
            allowance_id,
            per_tap_max_minor: grant.per_tap,
            total_max_minor: grant.total,
            currency: grant.currency,
            sequence,
            issued_at_ms: now,
            expires_at_ms: now + VALIDITY_MS,
        }),
    ))
}

/// `DELETE /v1/express/allowances`: the rider switched express taps off on
/// this device; its allowances go on the deny list.
#[utoipa::path(delete, path = "/v1/express/allowances", operation_id = "switchOffExpress", tag = "express",
    summary = "The rider switched express taps off on this device: its live allowances go on the deny list.",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = super::debts::Revoked), Fails<401>))]
pub(crate) async fn switch_off(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<super::debts::Revoked>, ApiError> {
    let device_id = request.signer.device_id.clone();
    let now = to_i64(now_ms());
    let revoked = state
        .db()
        .write_tx(move |conn| {
            let device_id = device_id.clone();
            Box::pin(async move { super::revoke_live(conn, &device_id, "switched_off", now).await })
        })
        .await?;
    Ok(Json(super::debts::Revoked { revoked }))
}

/// The rider's express debt and recent taps.
#[derive(Serialize, ToSchema)]
pub(crate) struct ExpressStatus {
    debt_minor: i64,
    blocked: bool,
    currency: String,
    taps: Vec<super::debts::TapRow>,
}

/// `GET /v1/express`: what the rider owes and the recent settled taps.
#[utoipa::path(get, path = "/v1/express", operation_id = "expressStatus", tag = "express",
    summary = "The caller's express debt (blocked while above zero) and its recent settled express taps.",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = ExpressStatus), Fails<401>))]
pub(crate) async fn status(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<ExpressStatus>, ApiError> {
    let account_id = &request.signer.account_id;
    let pool = &state.db().pool;
    let debt = debt_of(pool, account_id).await?;
    let currency = crate::accounts::store::get(pool, account_id)
        .await?
        .currency;
    Ok(Json(ExpressStatus {
        debt_minor: debt,
        blocked: debt > 0,
        currency,
        taps: super::debts::taps_of(pool, account_id, 50).await?,
    }))
}
