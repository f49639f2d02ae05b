//! Receipts: the payment server's signed statement that a payment completed.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::fare::FareContext;
use crate::instruction::is_zero;
use crate::keys::{PublicKey, SigningKey};
use crate::money::Currency;
use crate::payment_request::PaymentRequest;
use crate::signed::{self, signed_object};

const PURPOSE: &[u8] = b"wayfare/receipt/v1";

/// What the server asserts. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBody {
    /// Protocol version.
    pub version: u16,
    /// Server-assigned payment identifier.
    pub payment_id: String,
    /// The terminal's order identifier.
    pub order_id: String,
    /// The payer's pseudonym for this merchant (`pn_…`, see
    /// [`crate::consent`]); never a phone number, an account id or the
    /// account's handle.
    pub payer: String,
    /// Merchant credited.
    pub merchant_id: String,
    /// Terminal the payment was made at.
    pub terminal_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency.
    pub currency: Currency,
    /// When the payment was committed (Unix ms).
    pub completed_at_ms: u64,
    /// Transit context, if any.
    pub fare: Option<FareContext>,
    /// Loyalty points spent on this payment; absent when zero, so a
    /// receipt without points encodes and verifies as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub points_spent: u64,
    /// What those points paid, in minor units: the rider's money paid
    /// `amount_minor - points_value_minor`; `amount_minor` stays the full
    /// price (what the terminal checks). Absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub points_value_minor: u64,
}

impl ReceiptBody {
    /// Checks that this receipt pays exactly `request`: same order, terminal,
    /// merchant, amount and currency. Stops a valid receipt for another
    /// payment from opening the gate.
    pub fn matches(&self, request: &PaymentRequest) -> Result<()> {
        let mismatch = |field: &'static str| ProtocolError::InvalidField {
            field,
            reason: "receipt does not match the payment request".into(),
        };
        if self.order_id != request.order_id {
            return Err(mismatch("order_id"));
        }
        if self.terminal_id != request.terminal_id {
            return Err(mismatch("terminal_id"));
        }
        if self.merchant_id != request.merchant_id {
            return Err(mismatch("merchant_id"));
        }
        if self.amount_minor != request.amount_minor {
            return Err(mismatch("amount_minor"));
        }
        if self.currency != request.currency {
            return Err(mismatch("currency"));
        }
        Ok(())
    }
}

signed_object!(
    /// A server-signed receipt (COSE_Sign1).
    Receipt
);

impl Receipt {
    /// Signs a receipt; called by the payment server.
    pub fn issue(server: &SigningKey, body: &ReceiptBody) -> Result<Self> {
        Ok(Self(signed::sign(server, PURPOSE, body)?))
    }

    /// Verifies the server's signature and returns the body.
    pub fn verify(&self, server: &PublicKey) -> Result<ReceiptBody> {
        signed::verify(&self.0, PURPOSE, server, "receipt")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> ReceiptBody {
        ReceiptBody {
            version: 1,
            payment_id: "pay_1".into(),
            order_id: "ord_1".into(),
            payer: "rider-7f3a".into(),
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            amount_minor: 200,
            currency: Currency::parse("CNY").unwrap(),
            completed_at_ms: 5,
            fare: None,
            points_spent: 0,
            points_value_minor: 0,
        }
    }

    #[test]
    fn a_receipt_without_points_verifies_as_before_and_points_are_signed() {
        // A receipt as the server signed it before points existed.
        #[derive(Serialize)]
        struct OldBody {
            version: u16,
            payment_id: String,
            order_id: String,
            payer: String,
            merchant_id: String,
            terminal_id: String,
            amount_minor: u64,
            currency: Currency,
            completed_at_ms: u64,
            fare: Option<FareContext>,
        }
        let b = body();
        let old = OldBody {
            version: b.version,
            payment_id: b.payment_id.clone(),
            order_id: b.order_id.clone(),
            payer: b.payer.clone(),
            merchant_id: b.merchant_id.clone(),
            terminal_id: b.terminal_id.clone(),
            amount_minor: b.amount_minor,
            currency: b.currency.clone(),
            completed_at_ms: b.completed_at_ms,
            fare: None,
        };
        let server = SigningKey::generate().unwrap();
        let receipt = Receipt(signed::sign(&server, PURPOSE, &old).unwrap());
        assert_eq!(receipt.verify(&server.public_key()).unwrap(), b);
        assert_eq!(
            receipt.as_bytes(),
            Receipt::issue(&server, &b).unwrap().as_bytes()
        );

        let mut split = body();
        split.points_spent = 50;
        split.points_value_minor = 100;
        let receipt = Receipt::issue(&server, &split).unwrap();
        assert_eq!(receipt.verify(&server.public_key()).unwrap(), split);
        let mut bytes = receipt.as_bytes().to_vec();
        let key = b"points_value_minor";
        let pos = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
        assert_eq!(&bytes[pos..pos + 2], &[0x18, 100]);
        bytes[pos + 1] = 99;
        assert!(Receipt::from_bytes(bytes)
            .verify(&server.public_key())
            .is_err());
    }

    #[test]
    fn verify_and_reject_tampered_or_wrong_key() {
        let server = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let receipt = Receipt::issue(&server, &body()).unwrap();
        assert_eq!(receipt.verify(&server.public_key()).unwrap(), body());
        assert!(receipt.verify(&other.public_key()).is_err());

        let mut bytes = receipt.as_bytes().to_vec();
        let last = bytes.len() - 70;
        bytes[last] ^= 1;
        assert!(Receipt::from_bytes(bytes)
            .verify(&server.public_key())
            .is_err());
    }

    #[test]
    fn a_receipt_signature_is_not_a_certificate_signature() {
        // Same key, same bytes, other purpose: the COSE AAD differs.
        let key = SigningKey::generate().unwrap();
        let receipt = Receipt::issue(&key, &body()).unwrap();
        let cert = crate::certificate::TerminalCertificate::from_bytes(receipt.as_bytes().to_vec());
        assert!(cert.verify(&key.public_key(), 5).is_err());
    }

    #[test]
    fn receipt_must_match_request() {
        let b = body();
        let mut req = PaymentRequest {
            order_id: "ord_1".into(),
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            merchant_name: "x".into(),
            amount_minor: 200,
            currency: Currency::parse("CNY").unwrap(),
            description: "fare".into(),
            fare: None,
            created_at_ms: 0,
            expires_at_ms: 10,
        };
        b.matches(&req).unwrap();
        req.amount_minor = 201;
        assert!(b.matches(&req).is_err());
        req.amount_minor = 200;
        req.order_id = "ord_2".into();
        assert!(b.matches(&req).is_err());
    }
}
