//! The rider's consent to be registered with a merchant's platform (P3.5).
//!
//! In the optional identity step the phone tells an access terminal the
//! rider's pseudonym for that terminal's merchant (never the account id,
//! never a phone number, P2). If the rider also agreed to be registered,
//! the phone adds a [`RegistrationConsent`]: a COSE_Sign1 made with the
//! device key over the pseudonym, the merchant, the terminal, the device
//! and the time, with its own purpose string in the external AAD so that
//! no other device signature can pass for a consent. The terminal cannot
//! verify it (it does not know device keys); it forwards it to the control
//! center, which verifies the signature, checks the terminal and the
//! merchant, freshness and single use, and stores the registration.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::request_auth::MAX_CLOCK_SKEW_MS;
use crate::signed::{self, signed_object};

const PURPOSE: &[u8] = b"wayfare/registration-consent/v1";

/// Largest consent accepted, in bytes (a genuine one is about 350).
pub const MAX_CONSENT_BYTES: usize = 1024;

/// How long a consent may be presented after it was signed.
pub const CONSENT_TTL_MS: u64 = 5 * 60 * 1000;

/// The prefix of every pseudonym.
pub const PSEUDONYM_PREFIX: &str = "pn_";

/// Length of a pseudonym: the prefix and 160 bits in base32 (32 characters).
pub const PSEUDONYM_LEN: usize = PSEUDONYM_PREFIX.len() + 32;

/// True when `text` has the form of a pseudonym (`pn_` and 32 characters
/// of lower-case RFC 4648 base32). Says nothing about whose it is.
pub fn is_pseudonym(text: &str) -> bool {
    text.len() == PSEUDONYM_LEN
        && text.strip_prefix(PSEUDONYM_PREFIX).is_some_and(|rest| {
            rest.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        })
}

/// Lower-case RFC 4648 base32 without padding.
pub fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// What the rider consents to: being registered, under `pseudonym`, with
/// the platform of `merchant_id` by `terminal_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentBody {
    /// Protocol version.
    pub version: u16,
    /// A fresh random id: each consent registers at most once.
    pub consent_id: String,
    /// The rider's pseudonym for this merchant.
    pub pseudonym: String,
    /// The merchant whose platform registers the rider.
    pub merchant_id: String,
    /// The terminal the consent was given at.
    pub terminal_id: String,
    /// The device whose key signs the consent.
    pub device_id: String,
    /// When the device signed (Unix ms).
    pub issued_at_ms: u64,
}

signed_object!(
    /// A device-signed consent to registration (COSE_Sign1).
    RegistrationConsent
);

impl RegistrationConsent {
    /// Signs a consent with the device key.
    pub fn sign(device: &SigningKey, body: &ConsentBody) -> Result<Self> {
        Ok(Self(signed::sign(device, PURPOSE, body)?))
    }

    fn check_size(&self) -> Result<()> {
        if self.0.len() > MAX_CONSENT_BYTES {
            return Err(ProtocolError::InvalidField {
                field: "consent",
                reason: format!(
                    "{} bytes is more than the {MAX_CONSENT_BYTES} a consent may have",
                    self.0.len()
                ),
            });
        }
        Ok(())
    }

    /// Reads the body without verifying: to find the device and its key,
    /// or for a terminal's sanity checks. Never act on it unverified.
    pub fn peek(&self) -> Result<ConsentBody> {
        self.check_size()?;
        signed::peek(&self.0, "registration consent")
    }

    /// Verifies the device signature and returns the body. Freshness and
    /// the terminal are checked separately ([`ConsentBody::check_fresh`],
    /// [`ConsentBody::check_at`]).
    pub fn verify(&self, device: &PublicKey) -> Result<ConsentBody> {
        self.check_size()?;
        signed::verify(&self.0, PURPOSE, device, "registration consent")
    }
}

impl ConsentBody {
    /// Refuses a consent older than [`CONSENT_TTL_MS`] or signed in the
    /// future (beyond the allowed clock skew).
    pub fn check_fresh(&self, now_ms: u64) -> Result<()> {
        signed::check_validity(
            "registration consent",
            self.issued_at_ms.saturating_sub(MAX_CLOCK_SKEW_MS),
            self.issued_at_ms.saturating_add(CONSENT_TTL_MS),
            now_ms,
        )
    }

    /// Refuses a consent given to another terminal or merchant, or whose
    /// pseudonym is not of the pseudonym form.
    pub fn check_at(&self, merchant_id: &str, terminal_id: &str) -> Result<()> {
        if self.merchant_id != merchant_id {
            return Err(ProtocolError::InvalidField {
                field: "consent.merchant_id",
                reason: "the consent was given to another merchant".into(),
            });
        }
        if self.terminal_id != terminal_id {
            return Err(ProtocolError::InvalidField {
                field: "consent.terminal_id",
                reason: "the consent was given at another terminal".into(),
            });
        }
        if !is_pseudonym(&self.pseudonym) {
            return Err(ProtocolError::InvalidField {
                field: "consent.pseudonym",
                reason: "not a pseudonym".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> ConsentBody {
        ConsentBody {
            version: 1,
            consent_id: "con_1".into(),
            pseudonym: format!("{PSEUDONYM_PREFIX}{}", base32_lower(&[7u8; 20])),
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            device_id: "dev_1".into(),
            issued_at_ms: 1_000_000,
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32_lower(b""), "");
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base32_lower(b"fo"), "mzxq");
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32_lower(&[0xff; 20]).len(), 32);
        assert!(is_pseudonym(&body().pseudonym));
        assert!(!is_pseudonym("rider-7f3a"));
        assert!(!is_pseudonym(&format!(
            "{PSEUDONYM_PREFIX}{}",
            "A".repeat(32)
        )));
    }

    #[test]
    fn sign_verify_fresh_and_place() {
        let dev = SigningKey::generate().unwrap();
        let consent = RegistrationConsent::sign(&dev, &body()).unwrap();
        assert!(consent.as_bytes().len() < MAX_CONSENT_BYTES);
        assert_eq!(consent.peek().unwrap().device_id, "dev_1");
        let b = consent.verify(&dev.public_key()).unwrap();
        b.check_fresh(1_000_000 + CONSENT_TTL_MS).unwrap();
        b.check_fresh(1_000_000 - MAX_CLOCK_SKEW_MS).unwrap();
        assert!(matches!(
            b.check_fresh(1_000_001 + CONSENT_TTL_MS),
            Err(ProtocolError::Expired { .. })
        ));
        assert!(matches!(
            b.check_fresh(999_999 - MAX_CLOCK_SKEW_MS),
            Err(ProtocolError::NotYetValid { .. })
        ));
        b.check_at("mer_1", "term_1").unwrap();
        assert!(b.check_at("mer_2", "term_1").is_err());
        assert!(b.check_at("mer_1", "term_2").is_err());
    }

    #[test]
    fn wrong_key_tampering_other_purposes_and_oversize_are_refused() {
        let dev = SigningKey::generate().unwrap();
        let thief = SigningKey::generate().unwrap();
        let forged = RegistrationConsent::sign(&thief, &body()).unwrap();
        assert!(forged.verify(&dev.public_key()).is_err());

        let consent = RegistrationConsent::sign(&dev, &body()).unwrap();
        let mut bytes = consent.as_bytes().to_vec();
        let pos = bytes.windows(6).position(|w| w == b"term_1").unwrap();
        bytes[pos + 5] = b'2';
        assert!(RegistrationConsent::from_bytes(bytes)
            .verify(&dev.public_key())
            .is_err());

        // The same body signed for another purpose is not a consent.
        let other = signed::sign(&dev, b"wayfare/payment-instruction/v1", &body()).unwrap();
        assert!(RegistrationConsent::from_bytes(other)
            .verify(&dev.public_key())
            .is_err());

        let mut big = body();
        big.consent_id = "x".repeat(MAX_CONSENT_BYTES);
        let big = RegistrationConsent::sign(&dev, &big).unwrap();
        assert!(big.peek().is_err());
        assert!(big.verify(&dev.public_key()).is_err());
    }
}
