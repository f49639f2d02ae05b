//! Top-ups at a counter or kiosk (P1, P5's top-up terminal): the cashier
//! takes cash, the terminal offers that amount to the rider's phone, the
//! rider claims it, the payment server moves it from the terminal's cash
//! float and signs a receipt both sides verify.
//!
//! Three signed objects, one per party, so no party can act for another:
//! - [`TopUpOffer`], signed by the terminal (its operator certificate
//!   inside): "this terminal received this cash for order X until T". Only
//!   the terminal can authorise a debit of its float.
//! - [`TopUpClaim`], signed by the rider's device over the offer's digest:
//!   "credit it to my account". Nobody else can take the offer.
//! - [`TopUpReceipt`], signed by the payment server: "done, once".

use serde::{Deserialize, Serialize};

use crate::certificate::{CertificateBody, TerminalCertificate};
use crate::certified::{self, CertifiedBody};
use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::money::Currency;
use crate::signed::{self, signed_object};
use crate::terminal_kind::TerminalKind;

const OFFER_PURPOSE: &[u8] = b"wayfare/top-up-offer/v1";
const CLAIM_PURPOSE: &[u8] = b"wayfare/top-up-claim/v1";
const RECEIPT_PURPOSE: &[u8] = b"wayfare/top-up-receipt/v1";

/// The longest a terminal may keep an offer open: cash on the counter is
/// claimed while the rider stands there.
pub const MAX_OFFER_LIFETIME_MS: u64 = 10 * 60 * 1000;

/// What the terminal offers. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpOfferBody {
    /// Protocol version.
    pub version: u16,
    /// Terminal-unique order id; the server credits each (terminal, order)
    /// once.
    pub order_id: String,
    /// The offering terminal (a `top_up` terminal).
    pub terminal_id: String,
    /// The merchant (counter operator) running the terminal.
    pub merchant_id: String,
    /// Cash received, in minor units.
    pub amount_minor: u64,
    /// Currency of the cash.
    pub currency: Currency,
    /// When the cashier entered the amount (Unix ms).
    pub created_at_ms: u64,
    /// After this the offer cannot be claimed (Unix ms).
    pub expires_at_ms: u64,
    /// The terminal's operator certificate, so the phone can check the
    /// offer without asking anyone.
    pub certificate: TerminalCertificate,
}

signed_object!(
    /// A terminal-signed top-up offer (COSE_Sign1).
    TopUpOffer
);

impl TopUpOffer {
    /// Signs an offer with the terminal's key.
    pub fn issue(terminal: &SigningKey, body: &TopUpOfferBody) -> Result<Self> {
        if body.amount_minor == 0 {
            return Err(ProtocolError::InvalidField {
                field: "amount_minor",
                reason: "a top-up must be at least 1".into(),
            });
        }
        Ok(Self(signed::sign(terminal, OFFER_PURPOSE, body)?))
    }

    /// Verifies: the embedded certificate is the operator's and names a
    /// `top_up` terminal of the offer's merchant, the offer is signed by
    /// that terminal's key, it is for a positive amount and it is open at
    /// `now_ms` (and was never opened for longer than
    /// [`MAX_OFFER_LIFETIME_MS`]).
    pub fn verify(
        &self,
        operator: &PublicKey,
        now_ms: u64,
    ) -> Result<(TopUpOfferBody, CertificateBody)> {
        certified::verify_certified_fresh(&self.0, operator, now_ms)
    }

    /// Like [`TopUpOffer::verify`] but without the offer's own validity
    /// window: the server uses it to answer a replay of a claim it already
    /// credited after the offer closed.
    pub fn verify_authentic(
        &self,
        operator: &PublicKey,
        now_ms: u64,
    ) -> Result<(TopUpOfferBody, CertificateBody)> {
        certified::verify_certified(&self.0, operator, now_ms)
    }

    /// SHA-256 of the offer's signed bytes: what a claim is bound to.
    pub fn digest(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, self.as_bytes())
            .as_ref()
            .to_vec()
    }
}

impl CertifiedBody for TopUpOfferBody {
    const WHAT: &'static str = "top-up offer";
    const PURPOSE: &'static [u8] = OFFER_PURPOSE;

    fn certificate(&self) -> &TerminalCertificate {
        &self.certificate
    }

    fn check(&self, cert: &CertificateBody) -> Result<()> {
        if self.terminal_id != cert.terminal_id || self.merchant_id != cert.merchant_id {
            return Err(ProtocolError::UnknownSigner(
                "top-up offer terminal or merchant differs from its certificate",
            ));
        }
        if cert.kind != TerminalKind::TopUp {
            return Err(ProtocolError::InvalidField {
                field: "certificate",
                reason: format!("a {} terminal cannot offer top-ups", cert.kind.as_str()),
            });
        }
        if self.amount_minor == 0 {
            return Err(ProtocolError::InvalidField {
                field: "amount_minor",
                reason: "a top-up must be at least 1".into(),
            });
        }
        if self.expires_at_ms < self.created_at_ms
            || self.expires_at_ms - self.created_at_ms > MAX_OFFER_LIFETIME_MS
        {
            return Err(ProtocolError::InvalidField {
                field: "expires_at_ms",
                reason: "a top-up offer stays open for at most 10 minutes".into(),
            });
        }
        Ok(())
    }

    fn window(&self) -> (u64, u64) {
        (self.created_at_ms, self.expires_at_ms)
    }
}

/// What the rider's device signs. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpClaimBody {
    /// Protocol version.
    pub version: u16,
    /// The account to credit.
    pub account_id: String,
    /// The device whose key signs this claim.
    pub device_id: String,
    /// The order of the offer claimed.
    pub order_id: String,
    /// The terminal of the offer claimed.
    pub terminal_id: String,
    /// The amount the rider saw and accepted.
    pub amount_minor: u64,
    /// Its currency.
    pub currency: Currency,
    /// SHA-256 of the offer's signed bytes ([`TopUpOffer::digest`]).
    #[serde(with = "serde_bytes")]
    pub offer_digest: Vec<u8>,
    /// When the device signed (Unix ms).
    pub signed_at_ms: u64,
}

signed_object!(
    /// A device-signed claim of one top-up offer (COSE_Sign1).
    TopUpClaim
);

impl TopUpClaim {
    /// Signs a claim of `offer` with the device key.
    pub fn sign(device: &SigningKey, body: &TopUpClaimBody) -> Result<Self> {
        Ok(Self(signed::sign(device, CLAIM_PURPOSE, body)?))
    }

    /// Reads the body without verifying, to find the device and its key.
    pub fn peek(&self) -> Result<TopUpClaimBody> {
        signed::peek(&self.0, "top-up claim")
    }

    /// Verifies the device signature and that the claim is for exactly
    /// `offer` (its digest, order, terminal, amount and currency).
    pub fn verify(
        &self,
        device: &PublicKey,
        offer: &TopUpOffer,
        offer_body: &TopUpOfferBody,
    ) -> Result<TopUpClaimBody> {
        let body: TopUpClaimBody = signed::verify(&self.0, CLAIM_PURPOSE, device, "top-up claim")?;
        let mismatch = |field: &'static str| ProtocolError::InvalidField {
            field,
            reason: "the claim does not match the top-up offer".into(),
        };
        if body.offer_digest != offer.digest() {
            return Err(mismatch("offer_digest"));
        }
        if body.order_id != offer_body.order_id {
            return Err(mismatch("order_id"));
        }
        if body.terminal_id != offer_body.terminal_id {
            return Err(mismatch("terminal_id"));
        }
        if body.amount_minor != offer_body.amount_minor {
            return Err(mismatch("amount_minor"));
        }
        if body.currency != offer_body.currency {
            return Err(mismatch("currency"));
        }
        Ok(body)
    }
}

/// What the payment server asserts. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpReceiptBody {
    /// Protocol version.
    pub version: u16,
    /// Server-assigned top-up id.
    pub top_up_id: String,
    /// The terminal's order id.
    pub order_id: String,
    /// The terminal that took the cash.
    pub terminal_id: String,
    /// Its merchant.
    pub merchant_id: String,
    /// The rider's pseudonym for that merchant (`pn_…`); never the account.
    pub payer: String,
    /// Amount credited, in minor units.
    pub amount_minor: u64,
    /// Currency.
    pub currency: Currency,
    /// When the server committed the top-up (Unix ms).
    pub completed_at_ms: u64,
}

impl TopUpReceiptBody {
    /// Checks that this receipt credits exactly `offer`: a valid receipt
    /// for another top-up must not close this one.
    pub fn matches(&self, offer: &TopUpOfferBody) -> Result<()> {
        let mismatch = |field: &'static str| ProtocolError::InvalidField {
            field,
            reason: "the top-up receipt does not match the offer".into(),
        };
        if self.order_id != offer.order_id {
            return Err(mismatch("order_id"));
        }
        if self.terminal_id != offer.terminal_id {
            return Err(mismatch("terminal_id"));
        }
        if self.merchant_id != offer.merchant_id {
            return Err(mismatch("merchant_id"));
        }
        if self.amount_minor != offer.amount_minor {
            return Err(mismatch("amount_minor"));
        }
        if self.currency != offer.currency {
            return Err(mismatch("currency"));
        }
        Ok(())
    }
}

signed_object!(
    /// A server-signed top-up receipt (COSE_Sign1).
    TopUpReceipt
);

impl TopUpReceipt {
    /// Signs a receipt; called by the payment server.
    pub fn issue(server: &SigningKey, body: &TopUpReceiptBody) -> Result<Self> {
        Ok(Self(signed::sign(server, RECEIPT_PURPOSE, body)?))
    }

    /// Verifies the server's signature and returns the body.
    pub fn verify(&self, server: &PublicKey) -> Result<TopUpReceiptBody> {
        signed::verify(&self.0, RECEIPT_PURPOSE, server, "top-up receipt")
    }
}

#[cfg(test)]
mod tests;
