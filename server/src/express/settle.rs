//! `POST /v1/platform/express/taps`: a terminal uploads the express taps
//! it accepted offline. Each is verified again (the server's own signature
//! on the allowance, the tap key's on the tap, the uploading terminal) and
//! charged exactly once: the payment's order id is derived from
//! (allowance, counter), so a retried upload, a concurrent one, or a crash
//! between the payment and the tap's row finds the same payment. What the
//! balance cannot cover is recorded as debt and the device's allowances
//! are revoked until it is paid (see [`super::debts`]).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::express::{Allowance, AllowanceBody, ExpressTap, ExpressTapBody};
use wayfare_protocol::ids::{payment_idempotency_key, redact};
use wayfare_protocol::instruction::InstructionBody;
use wayfare_protocol::money::Currency;
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::{Signed, Terminal};
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::openapi::{constraints, Fails};
use crate::payments::{commit, load_context, terms_digest, Source};
use crate::state::AppState;

/// Most taps in one upload.
pub const MAX_TAPS_PER_UPLOAD: usize = 100;
/// Clock difference tolerated between a terminal and the allowance's
/// validity window.
const SKEW_MS: u64 = 5 * 60 * 1000;
/// Attempts to charge when the balance moves under us.
const CHARGE_ATTEMPTS: usize = 3;

/// A terminal's upload of the express taps it accepted offline.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Upload {
    #[schema(max_items = 100)]
    taps: Vec<UploadedTap>,
}

/// One tap as the terminal queued it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UploadedTap {
    /// The allowance the phone presented (base64url COSE).
    allowance: String,
    /// The phone's signed tap (base64url COSE).
    tap: String,
    /// When the gate accepted it (the terminal's clock, Unix ms).
    #[schema(schema_with = constraints::unsigned)]
    tapped_at_ms: u64,
}

/// What became of one uploaded tap. `refused` taps will never be charged
/// (the terminal drops them and reports them); the others are settled.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, ToSchema)]
pub struct TapResult {
    /// The tap's allowance, when it could be read.
    pub allowance_id: Option<String>,
    /// The tap's counter, when it could be read.
    pub counter: Option<u32>,
    /// `charged`, `partly_charged` (the rest is debt), `already_settled` or
    /// `refused`.
    #[schema(schema_with = tap_status)]
    pub status: &'static str,
    /// Charged now or before.
    pub charged_minor: u64,
    /// Still owed.
    pub debt_minor: u64,
    /// The payment that charged it, if any.
    pub payment_id: Option<String>,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// [`TapResult::status`]'s values.
fn tap_status() -> RefOr<Schema> {
    constraints::one_of(&["charged", "partly_charged", "already_settled", "refused"])
}

/// What became of each uploaded tap, in upload order.
#[derive(Serialize, ToSchema)]
pub(crate) struct TapResults {
    results: Vec<TapResult>,
}

impl TapResult {
    fn refused(
        allowance_id: Option<String>,
        counter: Option<u32>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            allowance_id,
            counter,
            status: "refused",
            charged_minor: 0,
            debt_minor: 0,
            payment_id: None,
            reason: Some(reason.into()),
        }
    }
}

/// `POST /v1/platform/express/taps` (terminal-signed).
#[utoipa::path(post, path = "/v1/platform/express/taps", operation_id = "settleExpressTaps", tag = "express",
    summary = "A terminal uploads the express taps it accepted offline (at most 100). Each is charged exactly once per (allowance, counter); what the balance cannot cover becomes debt (partly_charged) and the device's allowances are revoked until a top-up pays it. refused: never chargeable (forged, another terminal's, outside the allowance's validity, a lost phone's after the report, a reused counter).",
    security(("terminalSignature" = [])),
    request_body = Upload,
    responses((status = 200, description = "success", body = TapResults), Fails<400, 401, 422>))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    request: Signed<Terminal>,
) -> Result<Json<TapResults>, ApiError> {
    let terminal_id = request.signer.terminal_id.clone();
    let upload: Upload = request.json()?;
    if upload.taps.len() > MAX_TAPS_PER_UPLOAD {
        return Err(ApiError::field(
            "taps",
            format!("at most {MAX_TAPS_PER_UPLOAD} per upload"),
        ));
    }
    let mut results = Vec::with_capacity(upload.taps.len());
    for tap in &upload.taps {
        results.push(settle_one(&state, &terminal_id, tap).await?);
    }
    Ok(Json(TapResults { results }))
}

/// The allowance row the server keeps.
#[derive(sqlx::FromRow)]
struct AllowanceRow {
    account_id: String,
    device_id: String,
    tap_key: String,
    revoked_at_ms: Option<i64>,
    revoked_reason: Option<String>,
}

/// Verifies one tap and charges it once.
async fn settle_one(
    state: &AppState,
    terminal_id: &str,
    uploaded: &UploadedTap,
) -> Result<TapResult, ApiError> {
    let server_key = state.keys().receipt.public_key();
    let allowance = match Allowance::from_base64(&uploaded.allowance)
        .and_then(|a| a.verify_signature(&server_key))
    {
        Ok(body) => body,
        Err(e) => return Ok(TapResult::refused(None, None, format!("allowance: {e}"))),
    };
    let id = Some(allowance.allowance_id.clone());
    let tap_bytes = uploaded.tap.clone();
    let tap = match ExpressTap::from_base64(&tap_bytes).and_then(|t| t.verify(&allowance)) {
        Ok(body) => body,
        Err(e) => return Ok(TapResult::refused(id, None, format!("tap: {e}"))),
    };
    let counter = Some(tap.counter);
    if tap.terminal_id != terminal_id {
        return Ok(TapResult::refused(
            id,
            counter,
            "the tap was made for another terminal",
        ));
    }
    let pool = &state.db().pool;
    let row: Option<AllowanceRow> = sqlx::query_as(
        "SELECT account_id, device_id, tap_key, revoked_at_ms, revoked_reason \
         FROM express_allowances WHERE id = $1",
    )
    .bind(allowance.allowance_id.clone())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(TapResult::refused(
            id,
            counter,
            "no such allowance was issued",
        ));
    };
    if row.tap_key != allowance.tap_key.to_base64() {
        return Ok(TapResult::refused(
            id,
            counter,
            "the allowance's tap key is not the one issued",
        ));
    }
    let at = uploaded.tapped_at_ms;
    if at + SKEW_MS < allowance.issued_at_ms || at > allowance.expires_at_ms + SKEW_MS {
        return Ok(TapResult::refused(
            id,
            counter,
            "tapped outside the allowance's validity",
        ));
    }
    if let (Some(revoked), Some("lost")) = (row.revoked_at_ms, row.revoked_reason.as_deref()) {
        if to_i64(at) > revoked {
            // The rider reported the phone lost before this tap: the rider
            // is not charged (the terminal should have had the deny list).
            return Ok(TapResult::refused(
                id,
                counter,
                "the phone was reported lost before this tap",
            ));
        }
    }
    if let Some(done) =
        already_settled(pool, &allowance.allowance_id, tap.counter, &tap_bytes).await?
    {
        return Ok(done);
    }
    charge(state, terminal_id, &allowance, &tap, &row, uploaded).await
}

/// The stored result of a tap settled before, or a refusal when the
/// counter was used by a different tap (a modified phone).
async fn already_settled(
    pool: &sqlx::AnyPool,
    allowance_id: &str,
    counter: u32,
    tap: &str,
) -> Result<Option<TapResult>, ApiError> {
    let row: Option<(i64, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT charged_minor, debt_minor, payment_id, tap FROM express_taps \
         WHERE allowance_id = $1 AND counter = $2",
    )
    .bind(allowance_id.to_string())
    .bind(i64::from(counter))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(charged, debt, payment_id, stored)| {
        if stored == tap {
            TapResult {
                allowance_id: Some(allowance_id.to_string()),
                counter: Some(counter),
                status: "already_settled",
                charged_minor: to_u64(charged),
                debt_minor: to_u64(debt),
                payment_id,
                reason: None,
            }
        } else {
            TapResult::refused(
                Some(allowance_id.to_string()),
                Some(counter),
                "this counter was already used by another tap",
            )
        }
    }))
}

/// The order id of a tap's payment: one per (allowance, counter).
fn order_id(tap: &ExpressTapBody) -> String {
    format!("xt_{}_{}", tap.allowance_id, tap.counter)
}

async fn charge(
    state: &AppState,
    terminal_id: &str,
    allowance: &AllowanceBody,
    tap: &ExpressTapBody,
    row: &AllowanceRow,
    uploaded: &UploadedTap,
) -> Result<TapResult, ApiError> {
    let pool = &state.db().pool;
    let (merchant_id, location_json): (String, Option<String>) =
        sqlx::query_as("SELECT merchant_id, location_json FROM terminals WHERE id = $1")
            .bind(terminal_id.to_string())
            .fetch_one(pool)
            .await?;
    let currency = Currency::parse(&allowance.currency)
        .map_err(|e| ApiError::Internal(format!("allowance currency: {e}")))?;
    let order_id = order_id(tap);
    let mut body = InstructionBody {
        version: PROTOCOL_VERSION,
        account_id: row.account_id.clone(),
        device_id: row.device_id.clone(),
        idempotency_key: payment_idempotency_key(&row.account_id, terminal_id, &order_id),
        order_id: order_id.clone(),
        merchant_id: merchant_id.clone(),
        terminal_id: terminal_id.to_string(),
        amount_minor: tap.amount_minor,
        currency,
        description: "Express tap".into(),
        fare: crate::terminals::flat_fare_of(location_json.as_deref()),
        expires_at_ms: uploaded.tapped_at_ms,
        signed_at_ms: 0,
        points_spent: 0,
    };
    let mut paid = existing_payment(pool, terminal_id, &order_id).await?;
    let mut attempts = 0;
    while paid.is_none() && attempts < CHARGE_ATTEMPTS {
        attempts += 1;
        let balance = crate::accounts::store::get(pool, &row.account_id)
            .await?
            .balance_minor;
        let chargeable = tap.amount_minor.min(to_u64(balance.max(0)));
        if chargeable == 0 {
            break;
        }
        body.amount_minor = chargeable;
        let digest = terms_digest(&body)?;
        let ctx = load_context(pool, state.keys(), &body).await;
        let outcome = match ctx {
            Ok(ctx) => commit(state, &body, &digest, ctx, now_ms(), Source::ExpressTap).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok((result, guardians)) => {
                state.notify_terminal(terminal_id);
                for guardian in &guardians {
                    state.notify_account(guardian);
                }
                if !guardians.is_empty() {
                    state.notify_outbound();
                }
                paid = Some((result.payment_id, result.amount_minor));
            }
            // The balance moved (another payment) or another upload won:
            // look again.
            Err(ApiError::InsufficientFunds(_)) => {}
            Err(ApiError::OrderAlreadyPaid(_)) => {
                paid = existing_payment(pool, terminal_id, &order_id).await?
            }
            Err(e) if crate::db::is_unique_violation(&e) => {
                paid = existing_payment(pool, terminal_id, &order_id).await?
            }
            Err(e) => return Err(e),
        }
    }
    let (payment_id, charged) = match paid {
        Some((id, amount)) => (Some(id), amount),
        None => (None, 0),
    };
    let debt = tap.amount_minor - charged.min(tap.amount_minor);
    let now = to_i64(now_ms());
    let inserted = sqlx::query(
        "INSERT INTO express_taps (allowance_id, counter, account_id, terminal_id, merchant_id, \
         amount_minor, charged_minor, debt_minor, currency, payment_id, tapped_at_ms, \
         settled_at_ms, tap) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (allowance_id, counter) DO NOTHING",
    )
    .bind(allowance.allowance_id.clone())
    .bind(i64::from(tap.counter))
    .bind(row.account_id.clone())
    .bind(terminal_id.to_string())
    .bind(merchant_id)
    .bind(to_i64(tap.amount_minor))
    .bind(to_i64(charged))
    .bind(to_i64(debt))
    .bind(allowance.currency.clone())
    .bind(payment_id.clone())
    .bind(to_i64(uploaded.tapped_at_ms))
    .bind(now)
    .bind(uploaded.tap.clone())
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        if let Some(done) =
            already_settled(pool, &allowance.allowance_id, tap.counter, &uploaded.tap).await?
        {
            return Ok(done);
        }
    }
    if debt > 0 {
        let device_id = row.device_id.clone();
        let revoked = state
            .db()
            .write_tx(move |conn| {
                let device_id = device_id.clone();
                Box::pin(async move { super::revoke_live(conn, &device_id, "debt", now).await })
            })
            .await?;
        tracing::warn!(
            allowance = %redact(&allowance.allowance_id),
            debt_minor = debt,
            revoked,
            "an express tap could not be fully charged: debt recorded, allowances revoked"
        );
        state.notify_account(&row.account_id);
    }
    tracing::info!(
        allowance = %redact(&allowance.allowance_id),
        counter = tap.counter,
        charged_minor = charged,
        debt_minor = debt,
        "express tap settled"
    );
    Ok(TapResult {
        allowance_id: Some(allowance.allowance_id.clone()),
        counter: Some(tap.counter),
        status: if debt == 0 {
            "charged"
        } else {
            "partly_charged"
        },
        charged_minor: charged,
        debt_minor: debt,
        payment_id,
        reason: None,
    })
}

/// The payment already made for this terminal's order, if any.
pub(crate) async fn existing_payment(
    pool: &sqlx::AnyPool,
    terminal_id: &str,
    order_id: &str,
) -> Result<Option<(String, u64)>, ApiError> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT id, amount_minor FROM payments WHERE terminal_id = $1 AND order_id = $2",
    )
    .bind(terminal_id.to_string())
    .bind(order_id.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, amount)| (id, to_u64(amount))))
}
