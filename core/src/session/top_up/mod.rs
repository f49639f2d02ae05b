//! Kiosk top-ups on the phone (issue 12.1): a `top_up` terminal offers
//! cash the cashier took (a terminal-signed `TopUpOffer`); the rider
//! accepts, the core signs a `TopUpClaim` for its own wallet, the server
//! credits it from the terminal's cash float and answers a signed
//! `TopUpReceipt`, which the core checks and hands to the terminal.
//!
//! - [`check_offer`] / [`check_receipt`]: what the phone accepts (pure).
//! - `claims`: the signed claim, kept before the server hears of it, so a
//!   retry or a second accept re-sends the very same bytes.
//! - `flow`: the `TerminalSession` methods (`next_top_up_offer`,
//!   `accept_top_up`, `decline_top_up`).

mod claims;
mod flow;
#[cfg(test)]
mod tests;

use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::top_up::{TopUpOffer, TopUpOfferBody, TopUpReceipt, TopUpReceiptBody};

use super::{SessionError, TerminalDone, TerminalInfo};
use crate::amount::format_amount;

/// What `confirm()` answers at a terminal that offered a top-up.
pub(crate) const NOT_A_PAYMENT: SessionError = SessionError::WrongState(
    "this terminal offers a top-up, not a payment: call accept_top_up() or decline_top_up()",
);

/// A top-up offer from the connected terminal, to show the rider before
/// they accept: the cash the cashier entered.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TopUpOfferInfo {
    /// The terminal's order id.
    pub order_id: String,
    /// The offering terminal (the connected one).
    pub terminal_id: String,
    /// Its merchant.
    pub merchant_id: String,
    /// The merchant's certified name.
    pub merchant_name: String,
    /// Cash received, in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted amount, e.g. `¥20.00`.
    pub formatted_amount: String,
    /// After this the offer cannot be credited (Unix ms).
    pub expires_at_ms: u64,
}

/// A credited kiosk top-up.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TopUpOutcome {
    /// The server's top-up id.
    pub top_up_id: String,
    /// The terminal's order id.
    pub order_id: String,
    /// Amount credited, in minor units.
    pub amount_minor: u64,
    /// Currency.
    pub currency: String,
    /// The wallet's balance after it (express debt is paid first).
    pub balance_minor: i64,
    /// The server-signed `TopUpReceipt` (COSE, base64url), verified.
    pub receipt_base64: String,
    /// When the server committed it (Unix ms).
    pub completed_at_ms: u64,
    /// How the terminal closed the session; `None` when it did not answer
    /// after the credit (the money is in the wallet either way).
    pub terminal_done: Option<TerminalDone>,
}

/// A verified offer of the connected terminal, kept while the rider decides.
#[derive(Debug, Clone)]
pub(crate) struct Offered {
    /// The signed offer (the claim is bound to its bytes).
    pub offer: TopUpOffer,
    /// What it says.
    pub body: TopUpOfferBody,
    /// The certified merchant name.
    pub merchant_name: String,
}

impl Offered {
    /// What the app shows.
    pub(crate) fn info(&self) -> TopUpOfferInfo {
        let b = &self.body;
        TopUpOfferInfo {
            order_id: b.order_id.clone(),
            terminal_id: b.terminal_id.clone(),
            merchant_id: b.merchant_id.clone(),
            merchant_name: self.merchant_name.clone(),
            amount_minor: b.amount_minor,
            currency: b.currency.code().to_string(),
            formatted_amount: format_amount(
                b.currency.code(),
                i64::try_from(b.amount_minor).unwrap_or(i64::MAX),
            ),
            expires_at_ms: b.expires_at_ms,
        }
    }
}

/// Verifies an offer with the pinned operator key and checks that it comes
/// from the terminal this session verified in the handshake (its id, its
/// merchant and its key): an offer relayed from another terminal is
/// refused, as is a POS terminal's or an expired one.
pub(crate) fn check_offer(
    offer: TopUpOffer,
    operator: &PublicKey,
    terminal: &TerminalInfo,
    now_ms: u64,
) -> Result<Offered, SessionError> {
    let (body, cert) = offer
        .verify(operator, now_ms)
        .map_err(SessionError::Untrusted)?;
    if body.terminal_id != terminal.terminal_id {
        return Err(SessionError::Mismatch(
            "the top-up offer names another terminal",
        ));
    }
    if body.merchant_id != terminal.merchant_id {
        return Err(SessionError::Mismatch(
            "the top-up offer names another merchant",
        ));
    }
    if cert.terminal_key.key_id() != terminal.key_id {
        return Err(SessionError::Mismatch(
            "the top-up offer is signed by another key than the connected terminal's",
        ));
    }
    Ok(Offered {
        offer,
        body,
        merchant_name: terminal.merchant_name.clone(),
    })
}

/// Verifies the server's receipt with the pinned receipt key and checks
/// that it credits exactly this offer (a genuine receipt of another top-up
/// must not close this one).
pub(crate) fn check_receipt(
    receipt: &str,
    receipt_key: &PublicKey,
    offer: &TopUpOfferBody,
    top_up_id: &str,
) -> Result<TopUpReceiptBody, String> {
    let signed = TopUpReceipt::from_base64(receipt)
        .map_err(|e| format!("the top-up receipt is unreadable: {e}"))?;
    let body = signed
        .verify(receipt_key)
        .map_err(|e| format!("the top-up receipt does not verify: {e}"))?;
    body.matches(offer)
        .map_err(|e| format!("the top-up receipt is for another top-up: {e}"))?;
    if body.top_up_id != top_up_id {
        return Err("the top-up receipt names another top-up id than the answer".into());
    }
    Ok(body)
}
