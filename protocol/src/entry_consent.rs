//! Entry consents: the rider's device-signed acknowledgement of a tap-in
//! (P3.6, incomplete journeys).
//!
//! When an entry gate issues a tap-in token, the phone answers with this
//! consent: "my account entered with token T at terminal X and agrees to be
//! charged at most the maximum fare if the journey is never completed".
//! The gate forwards it in its `tap_in` report; the control center checks
//! the device signature and so knows the rider's open entry even if the
//! phone later withholds the token. A second entry without an exit, or a
//! token that expires unused, is then charged the maximum fare once.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::signed::{self, signed_object};

const PURPOSE: &[u8] = b"wayfare/entry-consent/v1";
/// Longest id or code accepted in a consent.
const MAX_FIELD_LEN: usize = 128;

/// What the rider's device signs at an entry. Fields in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryConsentBody {
    /// Protocol version.
    pub version: u16,
    /// The tap-in token this entry received.
    pub token_id: String,
    /// The entry terminal.
    pub terminal_id: String,
    /// The rider's account.
    pub account_id: String,
    /// The signing device.
    pub device_id: String,
    /// The most the rider agrees to pay if the journey is never completed.
    pub maximum_fare_minor: u64,
    /// Currency of that fare (ISO 4217).
    pub currency: String,
    /// The token's expiry: a journey not completed by then is charged.
    pub expires_at_ms: u64,
    /// When the device signed (Unix ms).
    pub signed_at_ms: u64,
}

signed_object!(
    /// A device-signed entry consent (COSE_Sign1).
    EntryConsent
);

impl EntryConsent {
    /// Signs a consent with the device key.
    pub fn sign(device: &SigningKey, body: &EntryConsentBody) -> Result<Self> {
        body.check_lengths()?;
        Ok(Self(signed::sign(device, PURPOSE, body)?))
    }

    /// Reads the body without checking the signature (the gate cannot:
    /// it does not know device keys; it checks that the consent names its
    /// own token, and the control center checks the signature).
    pub fn peek(&self) -> Result<EntryConsentBody> {
        let body: EntryConsentBody = signed::peek(&self.0, "entry consent")?;
        body.check_lengths()?;
        Ok(body)
    }

    /// Verifies the device signature.
    pub fn verify(&self, device: &PublicKey) -> Result<EntryConsentBody> {
        let body: EntryConsentBody = signed::verify(&self.0, PURPOSE, device, "entry consent")?;
        body.check_lengths()?;
        Ok(body)
    }
}

impl EntryConsentBody {
    fn check_lengths(&self) -> Result<()> {
        for (field, value) in [
            ("token_id", &self.token_id),
            ("terminal_id", &self.terminal_id),
            ("account_id", &self.account_id),
            ("device_id", &self.device_id),
            ("currency", &self.currency),
        ] {
            if value.is_empty() || value.len() > MAX_FIELD_LEN {
                return Err(ProtocolError::InvalidField {
                    field,
                    reason: format!("must be 1 to {MAX_FIELD_LEN} bytes"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> EntryConsentBody {
        EntryConsentBody {
            version: 1,
            token_id: "tap_1".into(),
            terminal_id: "term_1".into(),
            account_id: "acc_1".into(),
            device_id: "dev_1".into(),
            maximum_fare_minor: 500,
            currency: "CNY".into(),
            expires_at_ms: 9,
            signed_at_ms: 7,
        }
    }

    #[test]
    fn signed_by_the_device_and_nobody_else() {
        let device = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let consent = EntryConsent::sign(&device, &body()).unwrap();
        assert_eq!(consent.verify(&device.public_key()).unwrap(), body());
        assert_eq!(consent.peek().unwrap(), body());
        // Wrong key.
        assert!(consent.verify(&other.public_key()).is_err());
        // Tampered: the maximum fare lowered.
        let mut bytes = consent.as_bytes().to_vec();
        let at = bytes.windows(5).position(|w| w == b"acc_1").unwrap();
        bytes[at + 4] = b'2';
        assert!(EntryConsent::from_bytes(bytes)
            .verify(&device.public_key())
            .is_err());
        // Truncated.
        let cut = consent.as_bytes()[..consent.as_bytes().len() / 2].to_vec();
        assert!(EntryConsent::from_bytes(cut).peek().is_err());
        // Oversized fields are refused before signing.
        let mut long = body();
        long.token_id = "x".repeat(500);
        assert!(EntryConsent::sign(&device, &long).is_err());
    }

    #[test]
    fn a_tap_in_token_signature_is_not_a_consent() {
        // Another object's signature with the same key does not verify as
        // a consent (purpose-bound external AAD).
        let device = SigningKey::generate().unwrap();
        let bytes = signed::sign(&device, b"wayfare/tap-in/v1", &body()).unwrap();
        assert!(EntryConsent::from_bytes(bytes)
            .verify(&device.public_key())
            .is_err());
    }
}
