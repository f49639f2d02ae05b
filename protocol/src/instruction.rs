//! Payment instructions: the device's signed order to the payment server.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::fare::FareContext;
use crate::keys::{PublicKey, SigningKey};
use crate::money::Currency;
use crate::signed::{self, signed_object};

const PURPOSE: &[u8] = b"wayfare/payment-instruction/v1";

/// What the device authorises. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstructionBody {
    /// Protocol version.
    pub version: u16,
    /// Paying account.
    pub account_id: String,
    /// Device whose key signs this instruction.
    pub device_id: String,
    /// Idempotency key (see [`crate::ids::payment_idempotency_key`]).
    pub idempotency_key: String,
    /// The terminal's order identifier.
    pub order_id: String,
    /// Merchant to credit.
    pub merchant_id: String,
    /// Terminal the request came from.
    pub terminal_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency.
    pub currency: Currency,
    /// What is paid for.
    pub description: String,
    /// Transit context, if any.
    pub fare: Option<FareContext>,
    /// The terminal's deadline for this payment (Unix ms).
    pub expires_at_ms: u64,
    /// When the device signed (Unix ms).
    pub signed_at_ms: u64,
    /// Loyalty points the rider chose to spend on this payment (their value
    /// is set by the merchant's points rate on the server). Absent when
    /// zero, so an instruction without points (older apps, express
    /// settlement) encodes, verifies and digests exactly as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub points_spent: u64,
}

/// True for zero: optional counters are left out of signed bodies when
/// unused, keeping older signed bytes identical.
pub(crate) fn is_zero(value: &u64) -> bool {
    *value == 0
}

signed_object!(
    /// A device-signed payment instruction (COSE_Sign1).
    PaymentInstruction
);

impl PaymentInstruction {
    /// Signs an instruction with the device key.
    pub fn sign(device: &SigningKey, body: &InstructionBody) -> Result<Self> {
        Ok(Self(signed::sign(device, PURPOSE, body)?))
    }

    /// Reads the body without verifying, to find the device and its key.
    pub fn peek(&self) -> Result<InstructionBody> {
        signed::peek(&self.0, "payment instruction")
    }

    /// Verifies the device signature. Expiry is checked separately with
    /// [`InstructionBody::check_not_expired`] because an idempotent replay of
    /// a payment that already completed must still return its result.
    pub fn verify(&self, device: &PublicKey) -> Result<InstructionBody> {
        signed::verify(&self.0, PURPOSE, device, "payment instruction")
    }
}

impl InstructionBody {
    /// Refuses an instruction whose payment request expired.
    pub fn check_not_expired(&self, now_ms: u64) -> Result<()> {
        if now_ms > self.expires_at_ms {
            return Err(ProtocolError::Expired {
                what: "payment request",
                expired_at_ms: self.expires_at_ms,
                now_ms,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> InstructionBody {
        InstructionBody {
            version: 1,
            account_id: "acc_1".into(),
            device_id: "dev_1".into(),
            idempotency_key: "idem_1".into(),
            order_id: "ord_1".into(),
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            amount_minor: 250,
            currency: Currency::parse("EUR").unwrap(),
            description: "coffee".into(),
            fare: None,
            expires_at_ms: 100,
            signed_at_ms: 50,
            points_spent: 0,
        }
    }

    /// The body as an app before points would have encoded it.
    #[derive(Serialize)]
    struct OldBody {
        version: u16,
        account_id: String,
        device_id: String,
        idempotency_key: String,
        order_id: String,
        merchant_id: String,
        terminal_id: String,
        amount_minor: u64,
        currency: Currency,
        description: String,
        fare: Option<FareContext>,
        expires_at_ms: u64,
        signed_at_ms: u64,
    }

    #[test]
    fn an_instruction_without_points_verifies_as_before() {
        let dev = SigningKey::generate().unwrap();
        let b = body();
        let old = OldBody {
            version: b.version,
            account_id: b.account_id.clone(),
            device_id: b.device_id.clone(),
            idempotency_key: b.idempotency_key.clone(),
            order_id: b.order_id.clone(),
            merchant_id: b.merchant_id.clone(),
            terminal_id: b.terminal_id.clone(),
            amount_minor: b.amount_minor,
            currency: b.currency.clone(),
            description: b.description.clone(),
            fare: None,
            expires_at_ms: b.expires_at_ms,
            signed_at_ms: b.signed_at_ms,
        };
        // Same bytes with and without the field when it is zero.
        assert_eq!(
            crate::codec::to_cbor(&old).unwrap(),
            crate::codec::to_cbor(&b).unwrap()
        );
        let signed = PaymentInstruction(signed::sign(&dev, PURPOSE, &old).unwrap());
        let read = signed.verify(&dev.public_key()).unwrap();
        assert_eq!(read.points_spent, 0);
        assert_eq!(read, b);
    }

    #[test]
    fn points_are_signed_and_a_tampered_count_fails() {
        let dev = SigningKey::generate().unwrap();
        let mut b = body();
        b.points_spent = 120;
        let ins = PaymentInstruction::sign(&dev, &b).unwrap();
        assert_eq!(ins.verify(&dev.public_key()).unwrap().points_spent, 120);
        // 120 is the CBOR byte 0x18 0x78; change it to 121.
        let mut bytes = ins.as_bytes().to_vec();
        let key = b"points_spent";
        let pos = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
        assert_eq!(&bytes[pos..pos + 2], &[0x18, 120]);
        bytes[pos + 1] = 121;
        let tampered = PaymentInstruction::from_bytes(bytes);
        assert_eq!(tampered.peek().unwrap().points_spent, 121);
        assert!(tampered.verify(&dev.public_key()).is_err());
    }

    #[test]
    fn sign_verify_peek_and_expiry() {
        let dev = SigningKey::generate().unwrap();
        let ins = PaymentInstruction::sign(&dev, &body()).unwrap();
        assert_eq!(ins.peek().unwrap().device_id, "dev_1");
        let b = ins.verify(&dev.public_key()).unwrap();
        b.check_not_expired(100).unwrap();
        assert!(matches!(
            b.check_not_expired(101),
            Err(ProtocolError::Expired { .. })
        ));
    }

    #[test]
    fn wrong_key_and_tampering_are_refused() {
        let dev = SigningKey::generate().unwrap();
        let thief = SigningKey::generate().unwrap();
        let forged = PaymentInstruction::sign(&thief, &body()).unwrap();
        assert!(forged.verify(&dev.public_key()).is_err());

        let ins = PaymentInstruction::sign(&dev, &body()).unwrap();
        let mut bytes = ins.as_bytes().to_vec();
        let pos = bytes.windows(6).position(|w| w == b"coffee").unwrap();
        bytes[pos] = b'C';
        assert!(PaymentInstruction::from_bytes(bytes)
            .verify(&dev.public_key())
            .is_err());
    }
}
