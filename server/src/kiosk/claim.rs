//! `POST /v1/top-ups/kiosk`: the rider's phone claims a kiosk's top-up
//! offer; in one transaction the cash float pays the rider (double entry
//! through `top_ups::credit`) and the signed receipt is stored, once per
//! (terminal, order).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::request_auth::MAX_CLOCK_SKEW_MS;
use wayfare_protocol::top_up::{TopUpReceipt, TopUpReceiptBody};
use wayfare_protocol::PROTOCOL_VERSION;

use super::store::{self, Credited, NewRow};
use super::verify::{verify, Verified};
use crate::auth::{Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::openapi::Fails;
use crate::state::AppState;
use crate::top_ups::{self, Channel, Credit};

/// A rider's claim of a kiosk's cash offer.
#[derive(Deserialize, ToSchema)]
#[schema(as = KioskClaim)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    /// COSE_Sign1 TopUpOffer, base64url
    #[schema(max_length = 8192)]
    offer: String,
    /// COSE_Sign1 TopUpClaim, base64url
    #[schema(max_length = 8192)]
    claim: String,
}

/// The answer to a claim, new or replayed.
#[derive(Serialize, Clone, Debug, ToSchema)]
#[schema(as = KioskTopUp)]
pub(super) struct TopUpAnswer {
    top_up_id: String,
    /// COSE_Sign1 TopUpReceipt, base64url
    receipt: String,
    amount_minor: u64,
    currency: String,
    /// The wallet's balance as of this answer.
    balance_minor: i64,
}

/// `POST /v1/top-ups/kiosk` (device): 201 credited now, 200 a replay of
/// this wallet's credited claim (nothing moves), 409 credited to another
/// wallet, 410 the offer closed before it was credited.
#[utoipa::path(post, path = "/v1/top-ups/kiosk", operation_id = "claimKioskTopUp", tag = "kiosk",
    summary = "The rider claims a top_up terminal's cash offer: offer is the terminal-signed TopUpOffer (operator certificate inside, purpose wayfare/top-up-offer/v1), claim the device-signed TopUpClaim bound to the offer's SHA-256 (purpose wayfare/top-up-claim/v1), both base64url COSE_Sign1, each at most 8192 characters. The terminal must be registered as top_up with the certificate's key; the claim's device must sign the request and its account must be a rider wallet in the offer's currency. The amount moves from the terminal's cash-float account (kind cash_float, created on first use, may go negative) to the wallet; the answer carries the server-signed TopUpReceipt (purpose wayfare/top-up-receipt/v1). One top-up per (terminal, order): 201 credited now; 200 the same wallet's claim again (same receipt, nothing moved, even after the offer closed; balance_minor is the balance now); 409 top_up_already_claimed when another wallet was credited; 410 offer_expired when the offer closed (server clock, checked again at commit) before it was credited. Refused: tampered offer or claim (401 bad_signature), a claim of another offer or another amount (422 invalid_field), a pos/tram/gate terminal's offer, a terminal re-registered under another key or outside its registration, another device's or another account's claim (403 forbidden), an unknown terminal (404 unknown_terminal), a wallet in another currency (422 currency_mismatch).",
    security(("deviceSignature" = [])),
    request_body = ClaimRequest,
    responses(
        (status = 201, description = "success", body = TopUpAnswer),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = TopUpAnswer),
        Fails<400, 401, 403, 404, 409, 410, 422>))]
pub(super) async fn create(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<TopUpAnswer>), ApiError> {
    let device = &request.signer;
    let req: ClaimRequest = request.json()?;
    let now = now_ms();
    let verified = verify(&state, device, &req.offer, &req.claim, now).await?;
    let pool = &state.db().pool;
    let (terminal_id, order_id) = (&verified.offer.terminal_id, &verified.offer.order_id);

    // A replay is answered even after the offer closed.
    if let Some(done) = store::find(pool, terminal_id, order_id).await? {
        return replay(&state, done, &device.account_id).await;
    }
    open_at(&verified, now)?;
    match commit(&state, device, &verified, now).await {
        Ok((answer, account_id)) => {
            let balance = top_ups::settle_debt(&state, &account_id, answer.balance_minor).await;
            tracing::info!(
                top_up = %redact(&answer.top_up_id),
                terminal = %redact(terminal_id),
                amount_minor = answer.amount_minor,
                "kiosk top-up credited"
            );
            Ok((
                StatusCode::CREATED,
                Json(TopUpAnswer {
                    balance_minor: balance,
                    ..answer
                }),
            ))
        }
        Err(e) if is_unique_violation(&e) => {
            // A concurrent claim of the same offer won the race.
            match store::find(pool, terminal_id, order_id).await? {
                Some(done) => replay(&state, done, &device.account_id).await,
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The stored answer to this wallet, or a conflict for another wallet.
async fn replay(
    state: &AppState,
    done: Credited,
    account_id: &str,
) -> Result<(StatusCode, Json<TopUpAnswer>), ApiError> {
    if done.account_id != account_id {
        return Err(ApiError::TopUpAlreadyClaimed(
            "this top-up offer was already credited to another wallet; the cash is there, \
             ask the cashier to check the receipt"
                .into(),
        ));
    }
    let balance = store::balance(&state.db().pool, account_id).await?;
    Ok((
        StatusCode::OK,
        Json(TopUpAnswer {
            top_up_id: done.top_up_id,
            receipt: done.receipt,
            amount_minor: done.amount_minor,
            currency: done.currency,
            balance_minor: balance,
        }),
    ))
}

/// The offer must be open on the server's clock (a terminal clock ahead
/// by up to the request skew is tolerated for the offer's start).
fn open_at(verified: &Verified, now: u64) -> Result<(), ApiError> {
    if now > verified.offer.expires_at_ms {
        return Err(ApiError::OfferExpired(format!(
            "the top-up offer closed at {} (now {now}) and was not credited; ask the cashier \
             for a new offer",
            verified.offer.expires_at_ms
        )));
    }
    if now.saturating_add(MAX_CLOCK_SKEW_MS) < verified.offer.created_at_ms {
        return Err(ApiError::field(
            "offer.created_at_ms",
            "the offer is dated in the future; check the terminal's clock",
        ));
    }
    Ok(())
}

/// Signs the receipt and writes the top-up in one transaction; returns the
/// answer and the credited account.
async fn commit(
    state: &AppState,
    device: &Device,
    verified: &Verified,
    now: u64,
) -> Result<(TopUpAnswer, String), ApiError> {
    let offer = &verified.offer;
    let top_up_id = new_id("top").map_err(|e| ApiError::Internal(e.to_string()))?;
    let receipt = TopUpReceipt::issue(
        &state.keys().receipt,
        &TopUpReceiptBody {
            version: PROTOCOL_VERSION,
            top_up_id: top_up_id.clone(),
            order_id: offer.order_id.clone(),
            terminal_id: offer.terminal_id.clone(),
            merchant_id: offer.merchant_id.clone(),
            payer: state
                .keys()
                .pseudonym(&verified.claim.account_id, &offer.merchant_id),
            amount_minor: offer.amount_minor,
            currency: offer.currency.clone(),
            completed_at_ms: now,
        },
    )
    .map_err(|e| ApiError::Internal(format!("top-up receipt signing: {e}")))?
    .to_base64();
    let credit = Credit {
        id: top_up_id.clone(),
        reference: Some(super::reference(&offer.terminal_id, &offer.order_id)),
        channel: Channel::Kiosk,
        source_account_id: String::new(),
        account_id: verified.claim.account_id.clone(),
        amount_minor: offer.amount_minor,
        currency: offer.currency.clone(),
        description: "Cash top-up at a counter".into(),
        at_ms: to_i64(now),
    };
    let row = NewRow {
        top_up_id: top_up_id.clone(),
        terminal_id: offer.terminal_id.clone(),
        order_id: offer.order_id.clone(),
        merchant_id: offer.merchant_id.clone(),
        account_id: verified.claim.account_id.clone(),
        device_id: device.device_id.clone(),
        float_account_id: String::new(),
        amount_minor: offer.amount_minor,
        currency: offer.currency.code().to_string(),
        receipt: receipt.clone(),
        offer_expires_at_ms: offer.expires_at_ms,
        completed_at_ms: now,
    };
    let expires_at_ms = offer.expires_at_ms;
    let balance = state
        .db()
        .write_tx(move |conn| {
            let (mut credit, mut row) = (credit.clone(), row.clone());
            Box::pin(async move {
                top_ups::check_account(conn, &credit.account_id, &credit.currency, true).await?;
                let float = store::float_account(
                    conn,
                    &row.terminal_id,
                    &row.merchant_id,
                    &row.currency,
                    credit.at_ms,
                )
                .await?;
                credit.source_account_id = float.clone();
                row.float_account_id = float;
                let balance = top_ups::credit(conn, &credit).await?;
                store::insert(conn, &row).await?;
                // Checked again at the last moment: an offer is never
                // credited after it closed, so a terminal asking after the
                // expiry gets a final answer.
                let at_commit = now_ms();
                if at_commit > expires_at_ms {
                    return Err(ApiError::OfferExpired(format!(
                        "the top-up offer closed at {expires_at_ms} (now {at_commit}) before it \
                         could be credited; ask the cashier for a new offer"
                    )));
                }
                Ok(balance)
            })
        })
        .await?;
    Ok((
        TopUpAnswer {
            top_up_id,
            receipt,
            amount_minor: offer.amount_minor,
            currency: offer.currency.code().to_string(),
            balance_minor: balance,
        },
        verified.claim.account_id.clone(),
    ))
}
