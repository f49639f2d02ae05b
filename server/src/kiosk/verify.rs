//! Checks a kiosk claim before any money moves: the offer is the
//! operator-certified `top_up` terminal's and that terminal is still the
//! registered one, the claim is the signing device's, for its own wallet,
//! and bound to exactly this offer.

use wayfare_protocol::certificate::CertificateBody;
use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::validate_amount;
use wayfare_protocol::top_up::{TopUpClaim, TopUpClaimBody, TopUpOffer, TopUpOfferBody};
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::Device;
use crate::db::{to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::check_id;
use crate::state::AppState;

/// The longest base64 offer or claim accepted (a real one is under 2 KiB).
const MAX_SIGNED_CHARS: usize = 8 * 1024;

/// A claim whose signatures and parties all check out (the offer's own
/// validity window is checked by the caller: a replay is answered after
/// the offer closed).
pub(super) struct Verified {
    /// The offer's body.
    pub offer: TopUpOfferBody,
    /// The claim's body.
    pub claim: TopUpClaimBody,
}

/// Decodes one base64url COSE field, refusing an oversized one.
fn decode<T>(
    field: &str,
    text: &str,
    parse: fn(&str) -> wayfare_protocol::error::Result<T>,
) -> Result<T, ApiError> {
    if text.len() > MAX_SIGNED_CHARS {
        return Err(ApiError::PayloadTooLarge(format!(
            "{field} exceeds {MAX_SIGNED_CHARS} characters"
        )));
    }
    parse(text).map_err(|e| ApiError::from_protocol(field, e))
}

/// Verifies `offer` and `claim` as sent by `device`.
pub(super) async fn verify(
    state: &AppState,
    device: &Device,
    offer: &str,
    claim: &str,
    now: u64,
) -> Result<Verified, ApiError> {
    let signed_offer = decode("offer", offer, TopUpOffer::from_base64)?;
    let signed_claim = decode("claim", claim, TopUpClaim::from_base64)?;
    let peeked = signed_claim
        .peek()
        .map_err(|e| ApiError::from_protocol("claim", e))?;
    if peeked.device_id != device.device_id {
        return Err(ApiError::Forbidden(
            "the claim names another device than the one signing the request".into(),
        ));
    }
    let operator = state.keys().operator.public_key();
    let (offer_body, cert) = signed_offer
        .verify_authentic(&operator, now)
        .map_err(|e| ApiError::from_protocol("offer", e))?;
    let claim_body = signed_claim
        .verify(&device.public_key, &signed_offer, &offer_body)
        .map_err(|e| ApiError::from_protocol("claim", e))?;
    if claim_body.account_id != device.account_id {
        return Err(ApiError::Forbidden(
            "the claim's account is not this device's account".into(),
        ));
    }
    check_fields(&offer_body, &claim_body)?;
    check_terminal(state, &offer_body, &cert, now).await?;
    Ok(Verified {
        offer: offer_body,
        claim: claim_body,
    })
}

fn check_fields(offer: &TopUpOfferBody, claim: &TopUpClaimBody) -> Result<(), ApiError> {
    for (field, version) in [
        ("offer.version", offer.version),
        ("claim.version", claim.version),
    ] {
        if version != PROTOCOL_VERSION {
            return Err(ApiError::field(
                field,
                format!("{version} is not supported (expected {PROTOCOL_VERSION})"),
            ));
        }
    }
    check_id("offer.order_id", &offer.order_id)?;
    check_id("offer.terminal_id", &offer.terminal_id)?;
    validate_amount(i128::from(offer.amount_minor))
        .map_err(|e| ApiError::InvalidAmount(format!("offer.amount_minor: {e}")))?;
    Ok(())
}

/// The offer's terminal must be registered, a `top_up` terminal of the
/// certificate's merchant, within its registration, and hold the key the
/// certificate names (a terminal registered again under a new key cannot
/// be impersonated with its old certificate).
async fn check_terminal(
    state: &AppState,
    offer: &TopUpOfferBody,
    cert: &CertificateBody,
    now: u64,
) -> Result<(), ApiError> {
    let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT merchant_id, kind, public_key, not_before_ms, not_after_ms \
         FROM terminals WHERE id = $1",
    )
    .bind(offer.terminal_id.clone())
    .fetch_optional(&state.db().pool)
    .await?;
    let (merchant_id, kind, key, not_before, not_after) = row.ok_or_else(|| {
        ApiError::UnknownTerminal(format!(
            "terminal {} is not registered with this control center",
            redact(&offer.terminal_id)
        ))
    })?;
    if kind != TerminalKind::TopUp.as_str() {
        return Err(ApiError::Forbidden(format!(
            "terminal {} is registered as a {kind} terminal and cannot offer top-ups",
            redact(&offer.terminal_id)
        )));
    }
    if merchant_id != cert.merchant_id || key != cert.terminal_key.to_base64() {
        return Err(ApiError::Forbidden(
            "the offer's certificate is not the terminal's current registration \
             (revoked or registered again under another key)"
                .into(),
        ));
    }
    let now = to_i64(now);
    if now < not_before || now > not_after {
        return Err(ApiError::Forbidden(format!(
            "the terminal's registration is not valid now (valid until {})",
            to_u64(not_after)
        )));
    }
    Ok(())
}
