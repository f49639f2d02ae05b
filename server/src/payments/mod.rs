//! `POST /v1/payments` and `GET /v1/payments/{idempotency_key}`: a device's
//! signed instruction becomes, in one transaction, a payment row, a covered
//! debit of the payer, a credit of the merchant, their ledger entries, the
//! payer's points, a terminal event, and a signed receipt; the guardians'
//! daily limits are enforced and their alerts written in the same
//! transaction (see `guardians::alerts`), and a tap-in token pays one trip
//! only (see `transit`). Points the instruction spends pay part of the
//! amount from the operator's loyalty account (see `points`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use wayfare_protocol::codec::to_cbor;
use wayfare_protocol::ids::{hex_lower, payment_idempotency_key, redact, sha256};
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::money::validate_amount;
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::{Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, ApiPath};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

mod commit;
mod context;
pub(crate) mod transit;

/// The payment routes, merged by `crate::routes`. `POST /v1/payments` is
/// replay-safe by construction (the signed instruction and its derived
/// idempotency key), so it skips the per-request nonce (decision 0016).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create).layer(axum::Extension(crate::auth::ReplaySafe)))
        .routes(routes!(get_payment))
}

pub(crate) use commit::{commit, Source};
pub(crate) use context::load_context;

/// Header carrying the payment's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// A payment: the device-signed instruction.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    /// COSE_Sign1 PaymentInstruction, base64url
    instruction: String,
}

/// The answer to a payment, new or replayed.
#[derive(Serialize, Clone, Debug, ToSchema)]
pub struct PaymentResult {
    /// Server-assigned id.
    pub payment_id: String,
    /// Always `completed` (failed payments leave no row).
    #[schema(schema_with = completed)]
    pub status: String,
    /// COSE_Sign1 Receipt, base64url
    pub receipt: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// Payer's balance right after this payment.
    pub balance_after_minor: i64,
    /// Merchant credited.
    pub merchant_id: String,
    /// Terminal the payment was made at.
    pub terminal_id: String,
    /// The terminal's order id.
    pub order_id: String,
    /// Commit time (Unix ms).
    pub completed_at_ms: u64,
    /// Loyalty points spent (0 when none).
    pub points_spent: u64,
    /// What the points paid (minor units); the rider's money paid
    /// `amount_minor - points_value_minor`.
    pub points_value_minor: u64,
}

/// A payment's only status.
fn completed() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    constraints::one_of(&["completed"])
}

/// A stored payment with what is needed to judge a replay.
struct Stored {
    result: PaymentResult,
    digest: String,
    account_id: String,
}

const SELECT_PAYMENT: &str = "SELECT id, status, receipt, amount_minor, currency, \
    balance_after_minor, merchant_id, terminal_id, order_id, completed_at_ms, \
    instruction_digest, account_id, points_spent, points_value_minor FROM payments WHERE account_id = $1 AND idempotency_key = $2";

/// A stored payment as a retry is answered from it.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    status: String,
    receipt: String,
    amount_minor: i64,
    currency: String,
    balance_after_minor: i64,
    merchant_id: String,
    terminal_id: String,
    order_id: String,
    completed_at_ms: i64,
    instruction_digest: String,
    account_id: String,
    points_spent: i64,
    points_value_minor: i64,
}

/// The payment of `account_id` with idempotency key `key`: keys belong to
/// an account, so another wallet's key is never found (nor confirmed).
async fn find_by_key(
    pool: &AnyPool,
    account_id: &str,
    key: &str,
) -> Result<Option<Stored>, ApiError> {
    let row: Option<PaymentRow> = sqlx::query_as(SELECT_PAYMENT)
        .bind(account_id.to_string())
        .bind(key.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| Stored {
        result: PaymentResult {
            payment_id: r.id,
            status: r.status,
            receipt: r.receipt,
            amount_minor: to_u64(r.amount_minor),
            currency: r.currency,
            balance_after_minor: r.balance_after_minor,
            merchant_id: r.merchant_id,
            terminal_id: r.terminal_id,
            order_id: r.order_id,
            completed_at_ms: to_u64(r.completed_at_ms),
            points_spent: to_u64(r.points_spent),
            points_value_minor: to_u64(r.points_value_minor),
        },
        digest: r.instruction_digest,
        account_id: r.account_id,
    }))
}

/// The digest that decides whether a retry is "the same payment": the
/// instruction's terms without its signing time, so a device that re-signs
/// the same order after a crash gets its original result.
pub(crate) fn terms_digest(body: &InstructionBody) -> Result<String, ApiError> {
    let mut terms = body.clone();
    terms.signed_at_ms = 0;
    let bytes = to_cbor(&terms).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(hex_lower(&sha256(&bytes)))
}

/// A stored payment answered to a retry, or a conflict.
fn replay(stored: Stored, digest: &str, account_id: &str) -> Result<PaymentResult, ApiError> {
    if stored.digest == digest && stored.account_id == account_id {
        Ok(stored.result)
    } else {
        Err(ApiError::IdempotencyConflict(
            "this idempotency key was already used for a different payment instruction".into(),
        ))
    }
}

/// `POST /v1/payments`.
#[utoipa::path(post, path = "/v1/payments", operation_id = "createPayment", tag = "payments",
    summary = "Pays with a device-signed PaymentInstruction (with points_spent > 0, that many loyalty points pay part of the amount at the merchant's points rate: 422 points_not_accepted without a rate, 402 insufficient_points, 422 invalid_field over the merchant's cap or the amount). Header idempotency-key must equal the instruction's, which must be payment_idempotency_key(account_id, terminal_id, order_id) (else 422 invalid_field); keys are scoped to the paying account. 201 new, 200 replay of the same key and terms (even after expiry), 409 same key with other terms.",
    security(("deviceSignature" = [])),
    params(("idempotency-key" = String, Header, pattern = "^[!-~]{1,128}$",
        description = "the instruction's idempotency_key")),
    request_body = PayRequest,
    responses(
        (status = 201, description = "success", body = PaymentResult),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = PaymentResult),
        Fails<400, 401, 402, 403, 404, 409, 410, 422>))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<PaymentResult>), ApiError> {
    let device = &request.signer;
    let req: PayRequest = request.json()?;
    let instruction = PaymentInstruction::from_base64(&req.instruction)
        .map_err(|e| ApiError::from_protocol("instruction", e))?;
    let peeked = instruction
        .peek()
        .map_err(|e| ApiError::from_protocol("instruction", e))?;
    if peeked.device_id != device.device_id {
        return Err(ApiError::Forbidden(
            "the instruction names another device than the one signing the request".into(),
        ));
    }
    let body = instruction
        .verify(&device.public_key)
        .map_err(|e| ApiError::from_protocol("instruction", e))?;
    if body.account_id != device.account_id {
        return Err(ApiError::Forbidden(
            "the instruction's account is not this device's account".into(),
        ));
    }
    let header_key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::field(IDEMPOTENCY_HEADER, "header is required"))?;
    if header_key != body.idempotency_key {
        return Err(ApiError::field(
            IDEMPOTENCY_HEADER,
            "must equal the instruction's idempotency_key",
        ));
    }
    check_key_derivation(&body)?;
    let digest = terms_digest(&body)?;
    let pool = &state.db().pool;

    // One read for what the payment needs, which also tells whether its
    // order was paid. The key is derived from (account, terminal, order),
    // so a payment with this key exists only if the order was paid: only
    // then is it looked up, and a retry resolves to the original result,
    // even after expiry.
    let context = load_context(pool, state.keys(), &body).await;
    if matches!(context, Err(ApiError::OrderAlreadyPaid(_))) {
        return match find_by_key(pool, &device.account_id, &body.idempotency_key).await? {
            Some(stored) => Ok((
                StatusCode::OK,
                Json(replay(stored, &digest, &device.account_id)?),
            )),
            None => Err(order_paid()),
        };
    }

    let now = now_ms();
    body.check_not_expired(now).map_err(|e| {
        ApiError::RequestExpired(format!("{e}; ask the terminal for a new request"))
    })?;
    validate(&body)?;
    let outcome = match context {
        Ok(ctx) => commit(&state, &body, &digest, ctx, now, Source::Online).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok((result, guardians)) => {
            state.notify_terminal(&body.terminal_id);
            for guardian in &guardians {
                state.notify_account(guardian);
            }
            if !guardians.is_empty() {
                state.notify_outbound();
            }
            tracing::info!(
                payment = %redact(&result.payment_id),
                terminal = %redact(&body.terminal_id),
                amount_minor = body.amount_minor,
                points_spent = body.points_spent,
                "payment completed"
            );
            Ok((StatusCode::CREATED, Json(result)))
        }
        Err(e) => {
            // A concurrent request may have won the race for this key: then
            // this is a retry of it, whatever this attempt met (the unique
            // key, or a balance or daily limit the first one used up).
            // Otherwise a lost race for the order is a conflict. (If even
            // the lookup fails, the attempt's own error is the answer.)
            let paid = find_by_key(pool, &device.account_id, &body.idempotency_key).await;
            match paid.ok().flatten() {
                Some(stored) => {
                    let result = replay(stored, &digest, &device.account_id)?;
                    Ok((StatusCode::OK, Json(result)))
                }
                None if is_unique_violation(&e) || matches!(e, ApiError::OrderAlreadyPaid(_)) => {
                    Err(order_paid())
                }
                None => Err(e),
            }
        }
    }
}

/// The idempotency key must be the derivation of (account, terminal,
/// order) (`wayfare_protocol::ids::payment_idempotency_key`), so a wallet
/// cannot take a key that belongs to another wallet's order.
fn check_key_derivation(body: &InstructionBody) -> Result<(), ApiError> {
    let expected = payment_idempotency_key(&body.account_id, &body.terminal_id, &body.order_id);
    if body.idempotency_key != expected {
        return Err(ApiError::field(
            "instruction.idempotency_key",
            "is not the key derived from the account, terminal and order",
        ));
    }
    Ok(())
}

fn order_paid() -> ApiError {
    ApiError::OrderAlreadyPaid(
        "this order was already paid at this terminal; the terminal must issue a new order".into(),
    )
}

fn validate(body: &InstructionBody) -> Result<(), ApiError> {
    if body.version != PROTOCOL_VERSION {
        return Err(ApiError::field(
            "instruction.version",
            format!(
                "{} is not supported (expected {PROTOCOL_VERSION})",
                body.version
            ),
        ));
    }
    validate_amount(i128::from(body.amount_minor))
        .map_err(|e| ApiError::InvalidAmount(format!("instruction.amount_minor: {e}")))?;
    check_id("instruction.order_id", &body.order_id)?;
    check_id("instruction.idempotency_key", &body.idempotency_key)?;
    if !body.description.is_empty() {
        check_text("instruction.description", &body.description, 200)?;
    }
    if let Some(fare) = &body.fare {
        crate::payments::transit::validate_fare(fare)?;
    }
    Ok(())
}

/// `GET /v1/payments/{idempotency_key}`: the payer looks up a payment, e.g.
/// to resolve one whose response was lost.
#[utoipa::path(get, path = "/v1/payments/{idempotency_key}", operation_id = "getPayment", tag = "payments",
    summary = "The payer's payment with this idempotency key (looked up within the caller's account only).",
    security(("deviceSignature" = [])),
    params(("idempotency_key" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = PaymentResult), Fails<401, 404>))]
pub async fn get_payment(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<PaymentResult>, ApiError> {
    match find_by_key(&state.db().pool, &request.signer.account_id, &key).await? {
        Some(stored) if stored.account_id == request.signer.account_id => Ok(Json(stored.result)),
        _ => Err(ApiError::NotFound(
            "no payment of this wallet has this idempotency key".into(),
        )),
    }
}
