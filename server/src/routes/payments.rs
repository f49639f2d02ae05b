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
use sqlx::AnyConnection;
use sqlx::AnyPool;
use wayfare_protocol::codec::to_cbor;
use wayfare_protocol::ids::{hex_lower, new_id, payment_idempotency_key, redact, sha256};
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::validate_amount;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::{Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, ApiPath};
use crate::guardians::render::AlertFacts;
use crate::guardians::{alerts, ShownAs};
use crate::keys::ServerKeys;
use crate::ledger::{self, Movement};
use crate::points;
use crate::points::split::{quote, Split};
use crate::state::AppState;

/// Header carrying the payment's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    instruction: String,
}

/// The answer to a payment, new or replayed.
#[derive(Serialize, Clone, Debug)]
pub struct PaymentResult {
    /// Server-assigned id.
    pub payment_id: String,
    /// Always `completed` (failed payments leave no row).
    pub status: String,
    /// The signed receipt (COSE, base64url).
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

/// A stored payment with what is needed to judge a replay.
struct Stored {
    result: PaymentResult,
    digest: String,
    account_id: String,
}

const SELECT_PAYMENT: &str = "SELECT id, status, receipt, amount_minor, currency, \
    balance_after_minor, merchant_id, terminal_id, order_id, completed_at_ms, \
    instruction_digest, account_id, points_spent, points_value_minor FROM payments WHERE account_id = $1 AND idempotency_key = $2";

type PaymentRow = (
    String,
    String,
    String,
    i64,
    String,
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    i64,
);

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
            payment_id: r.0,
            status: r.1,
            receipt: r.2,
            amount_minor: to_u64(r.3),
            currency: r.4,
            balance_after_minor: r.5,
            merchant_id: r.6,
            terminal_id: r.7,
            order_id: r.8,
            completed_at_ms: to_u64(r.9),
            points_spent: to_u64(r.12),
            points_value_minor: to_u64(r.13),
        },
        digest: r.10,
        account_id: r.11,
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

    // A retry resolves to the original result, even after expiry.
    if let Some(stored) = find_by_key(pool, &device.account_id, &body.idempotency_key).await? {
        let result = replay(stored, &digest, &device.account_id)?;
        return Ok((StatusCode::OK, Json(result)));
    }

    let now = now_ms();
    body.check_not_expired(now).map_err(|e| {
        ApiError::RequestExpired(format!("{e}; ask the terminal for a new request"))
    })?;
    validate(&body)?;
    let outcome = match load_context(pool, state.keys(), &body).await {
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
        Err(e) if is_unique_violation(&e) || matches!(e, ApiError::OrderAlreadyPaid(_)) => {
            // A concurrent request may have won the race for this key (then
            // this is a retry of it) or for this order (then it is a conflict).
            match find_by_key(pool, &device.account_id, &body.idempotency_key).await? {
                Some(stored) => {
                    let result = replay(stored, &digest, &device.account_id)?;
                    Ok((StatusCode::OK, Json(result)))
                }
                None => Err(order_paid()),
            }
        }
        Err(e) => Err(e),
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
        crate::transit::validate_fare(fare)?;
    }
    Ok(())
}

/// Where a payment comes from: what its transaction checks and who hears
/// of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A device-signed instruction at a terminal, now: guardian limits,
    /// the tap-in token and the request's expiry are enforced.
    Online,
    /// An express tap settled after the gate opened offline: the tap is
    /// charged (the gate has opened), guardians are alerted.
    ExpressTap,
    /// Part of an express tap's debt paid by a top-up: charged quietly
    /// (the tap was alerted when it settled).
    ExpressDebt,
}

/// Accounts and names a payment needs, read before the transaction.
pub(crate) struct Context {
    /// The payer's pseudonym for this merchant: what the receipt names
    /// (never the account id, the global handle or a phone number).
    payer_pseudonym: String,
    merchant_account: String,
    /// What the rider's points pay of the amount (none by default).
    split: Split,
    /// Alert facts without the rider's name (set per binding).
    alert: AlertFacts,
    /// The payer's display name and the terminal's kind, for the
    /// merchant's prompts (read here, outside the write transaction: they
    /// only label the prompt).
    payer_name: String,
    terminal_kind: String,
}

pub(crate) async fn load_context(
    pool: &AnyPool,
    keys: &ServerKeys,
    body: &InstructionBody,
) -> Result<Context, ApiError> {
    let payer: Option<(String, String)> =
        sqlx::query_as("SELECT currency, display_name FROM accounts WHERE id = $1")
            .bind(body.account_id.clone())
            .fetch_optional(pool)
            .await?;
    let (payer_currency, payer_name) =
        payer.ok_or_else(|| ApiError::NotFound("the paying account does not exist".into()))?;
    let merchant: Option<(String, String, String)> =
        sqlx::query_as("SELECT account_id, currency, name FROM merchants WHERE id = $1")
            .bind(body.merchant_id.clone())
            .fetch_optional(pool)
            .await?;
    let (merchant_account, merchant_currency, merchant_name) = merchant.ok_or_else(|| {
        ApiError::UnknownMerchant(format!(
            "merchant {} does not exist",
            redact(&body.merchant_id)
        ))
    })?;
    let terminal: Option<(String, String, Option<String>)> =
        sqlx::query_as("SELECT merchant_id, kind, location_json FROM terminals WHERE id = $1")
            .bind(body.terminal_id.clone())
            .fetch_optional(pool)
            .await?;
    let (terminal_merchant, terminal_kind, location_json) = terminal.ok_or_else(|| {
        ApiError::UnknownTerminal(format!(
            "terminal {} does not exist",
            redact(&body.terminal_id)
        ))
    })?;
    if terminal_merchant != body.merchant_id {
        return Err(ApiError::field(
            "instruction.terminal_id",
            "the terminal does not collect for this merchant",
        ));
    }
    let currency = body.currency.code();
    if currency != payer_currency || currency != merchant_currency {
        return Err(ApiError::CurrencyMismatch(format!(
            "the instruction is in {currency} but the wallet holds {payer_currency} and the \
             merchant settles in {merchant_currency}"
        )));
    }
    let already: Option<(String,)> =
        sqlx::query_as("SELECT id FROM payments WHERE terminal_id = $1 AND order_id = $2")
            .bind(body.terminal_id.clone())
            .bind(body.order_id.clone())
            .fetch_optional(pool)
            .await?;
    if already.is_some() {
        return Err(order_paid());
    }
    let split = quote(
        pool,
        &body.merchant_id,
        body.points_spent,
        body.amount_minor,
    )
    .await?;
    Ok(Context {
        split,
        payer_pseudonym: keys.pseudonym(&body.account_id, &body.merchant_id),
        merchant_account,
        alert: AlertFacts {
            rider: ShownAs::Nickname(String::new()),
            payment_id: String::new(),
            amount_minor: body.amount_minor,
            currency: body.currency.clone(),
            merchant_name,
            terminal_kind: TerminalKind::parse(&terminal_kind).unwrap_or(TerminalKind::Pos),
            at_ms: 0,
            utc_offset_minutes: crate::routes::terminals::utc_offset_of(location_json.as_deref()),
            fare: body.fare.clone(),
        },
        payer_name,
        terminal_kind,
    })
}

/// Everything the transaction writes, owned so that it can be retried.
#[derive(Clone)]
struct Plan {
    body: InstructionBody,
    digest: String,
    payment_id: String,
    receipt: String,
    completed_at_ms: u64,
    movement: Movement,
    split: Split,
    /// Points the payment earns the rider.
    earned: i64,
    event_data: String,
    alert: AlertFacts,
    payer_name: String,
    terminal_kind: String,
    source: Source,
}

/// Writes the payment of `body` (receipt, ledger, alerts, events) in one
/// transaction.
pub(crate) async fn commit(
    state: &AppState,
    body: &InstructionBody,
    digest: &str,
    ctx: Context,
    now: u64,
    source: Source,
) -> Result<(PaymentResult, Vec<String>), ApiError> {
    let payment_id = new_id("pay").map_err(|e| ApiError::Internal(e.to_string()))?;
    let receipt = Receipt::issue(
        &state.keys().receipt,
        &ReceiptBody {
            version: PROTOCOL_VERSION,
            payment_id: payment_id.clone(),
            order_id: body.order_id.clone(),
            payer: ctx.payer_pseudonym.clone(),
            merchant_id: body.merchant_id.clone(),
            terminal_id: body.terminal_id.clone(),
            amount_minor: body.amount_minor,
            currency: body.currency.clone(),
            completed_at_ms: now,
            fare: body.fare.clone(),
            points_spent: ctx.split.points_spent,
            points_value_minor: ctx.split.value_minor,
        },
    )
    .map_err(|e| ApiError::Internal(format!("receipt signing: {e}")))?;
    let legs = points::payment::money_legs(body, &ctx.merchant_account, ctx.split);
    let plan = Plan {
        body: body.clone(),
        digest: digest.to_string(),
        payment_id: payment_id.clone(),
        receipt: receipt.to_base64(),
        completed_at_ms: now,
        movement: Movement {
            kind: "payment",
            movement_id: payment_id.clone(),
            payment_id: Some(payment_id.clone()),
            description: body.description.clone(),
            currency: body.currency.clone(),
            at_ms: to_i64(now),
            legs,
        },
        split: ctx.split,
        earned: points::payment::points_for(body, ctx.split),
        event_data: serde_json::json!({
            "payment_id": payment_id,
            "order_id": body.order_id,
            "amount_minor": body.amount_minor,
            "currency": body.currency.code(),
            "completed_at_ms": now,
        })
        .to_string(),
        alert: AlertFacts {
            payment_id: payment_id.clone(),
            at_ms: to_i64(now),
            ..ctx.alert
        },
        payer_name: ctx.payer_name,
        terminal_kind: ctx.terminal_kind,
        source,
    };
    state
        .db()
        .write_tx(move |conn| {
            let plan = plan.clone();
            Box::pin(async move { write_payment(conn, plan).await })
        })
        .await
}

async fn write_payment(
    conn: &mut AnyConnection,
    plan: Plan,
) -> Result<(PaymentResult, Vec<String>), ApiError> {
    let b = &plan.body;
    let at = to_i64(plan.completed_at_ms);
    sqlx::query(
        "INSERT INTO payments (id, idempotency_key, instruction_digest, account_id, device_id, \
         merchant_id, terminal_id, order_id, amount_minor, currency, description, status, \
         receipt, balance_after_minor, points_awarded, completed_at_ms, points_spent, \
         points_value_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'completed', $12, 0, $13, $14, \
         $15, $16)",
    )
    .bind(plan.payment_id.clone())
    .bind(b.idempotency_key.clone())
    .bind(plan.digest.clone())
    .bind(b.account_id.clone())
    .bind(b.device_id.clone())
    .bind(b.merchant_id.clone())
    .bind(b.terminal_id.clone())
    .bind(b.order_id.clone())
    .bind(to_i64(b.amount_minor))
    .bind(b.currency.code().to_string())
    .bind(b.description.clone())
    .bind(plan.receipt.clone())
    .bind(plan.earned)
    .bind(at)
    .bind(to_i64(plan.split.points_spent))
    .bind(to_i64(plan.split.value_minor))
    .execute(&mut *conn)
    .await?;
    if plan.split.value_minor > 0 {
        points::ledger::loyalty_account(conn, &b.currency, at).await?;
    }
    // Statement order: the rows only this payment touches first, the rows
    // every payment of a merchant shares (its balance, its owner's event
    // sequence, the terminal's, the loyalty account) last, so that on
    // PostgreSQL their row locks are held for the fewest statements.
    //
    // The payer's debit decides whether the payment can happen; its row is
    // now locked until commit, so concurrent payments of this rider are
    // counted one after the other by the daily limits.
    let posting = ledger::post_debits(conn, &plan.movement).await?;
    let balance_after = posting.debited_balance(0).unwrap_or_default();
    let online = plan.source == Source::Online;
    // Express debts were alerted when their tap settled.
    let bindings = match plan.source {
        Source::ExpressDebt => None,
        Source::Online | Source::ExpressTap => {
            Some(alerts::RiderBindings::load(conn, &b.account_id).await?)
        }
    };
    if online {
        if let Some(bindings) = &bindings {
            bindings.enforce_daily_limits(conn, at, &b.currency).await?;
        }
        crate::transit::claim_tap_in_token(conn, b, &plan.payment_id, at).await?;
    }
    sqlx::query("UPDATE payments SET balance_after_minor = $1 WHERE id = $2")
        .bind(balance_after)
        .bind(plan.payment_id.clone())
        .execute(&mut *conn)
        .await?;
    let mut woken = match &bindings {
        Some(bindings) => bindings.fan_out(conn, &plan.alert).await?,
        None => Vec::new(),
    };
    let receivers = crate::merchants::prompts::Receivers::load(conn, &b.merchant_id).await?;
    // The shared rows, in the order every money path locks them: the
    // merchant's balance, its members' event sequences, the terminal's.
    posting.finish(conn).await?;
    // Merchant prompts (P4), one per authorised device; woken like the guardians.
    woken.extend(
        crate::merchants::prompts::on_payment(
            conn,
            &receivers,
            crate::merchants::prompts::PaidFacts {
                payment_id: &plan.payment_id,
                merchant_id: &b.merchant_id,
                order_id: &b.order_id,
                amount_minor: to_i64(b.amount_minor),
                currency: b.currency.code(),
                at_ms: at,
                payer_name: &plan.payer_name,
                payee_name: &plan.alert.merchant_name,
                terminal_kind: &plan.terminal_kind,
            },
        )
        .await?,
    );
    crate::events::append(
        conn,
        &b.terminal_id,
        "payment.completed",
        &plan.payment_id,
        &plan.event_data,
        at,
    )
    .await?;
    // Points last: the loyalty account's row is hot.
    points::payment::move_points(conn, b, &plan.payment_id, plan.split, plan.earned, at).await?;
    let guardians = woken;
    // The request's expiry is checked again at the last moment before the
    // commit: a payment whose retry was (or could have been) told `410`
    // never commits later, so a terminal that waited past the expiry can
    // settle an in-doubt sale as unpaid.
    if online {
        b.check_not_expired(now_ms()).map_err(|e| {
            ApiError::RequestExpired(format!("{e}; ask the terminal for a new request"))
        })?;
    }
    let result = PaymentResult {
        payment_id: plan.payment_id.clone(),
        status: "completed".into(),
        receipt: plan.receipt.clone(),
        amount_minor: b.amount_minor,
        currency: b.currency.code().to_string(),
        balance_after_minor: balance_after,
        merchant_id: b.merchant_id.clone(),
        terminal_id: b.terminal_id.clone(),
        order_id: b.order_id.clone(),
        completed_at_ms: plan.completed_at_ms,
        points_spent: plan.split.points_spent,
        points_value_minor: plan.split.value_minor,
    };
    Ok((result, guardians))
}

/// `GET /v1/payments/{idempotency_key}`: the payer looks up a payment, e.g.
/// to resolve one whose response was lost.
pub async fn get(
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
