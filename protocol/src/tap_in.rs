//! Tap-in tokens: an entry terminal's signed record of where and when a
//! trip began (P3.6). The exit terminal verifies it and prices the trip.

use serde::{Deserialize, Serialize};

use crate::certificate::{CertificateBody, TerminalCertificate};
use crate::certified::{self, CertifiedBody};
use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::signed::{self, check_validity, signed_object};

const PURPOSE: &[u8] = b"wayfare/tap-in/v1";

/// What the entry terminal records. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapInBody {
    /// Protocol version.
    pub version: u16,
    /// Unique token id; an exit terminal accepts each id once.
    pub token_id: String,
    /// Entry terminal.
    pub terminal_id: String,
    /// Line of the trip.
    pub line: String,
    /// Boarding station.
    pub station: String,
    /// Position of the boarding station on the line.
    pub station_index: u32,
    /// Direction of travel, "from → towards".
    pub direction_from: String,
    /// Direction of travel terminus.
    pub direction_towards: String,
    /// Boarding time (Unix ms).
    pub tapped_in_at_ms: u64,
    /// After this the token is no longer honoured (Unix ms).
    pub expires_at_ms: u64,
    /// The entry terminal's certificate, so any exit terminal can check it.
    pub certificate: TerminalCertificate,
}

signed_object!(
    /// A terminal-signed tap-in token (COSE_Sign1).
    TapInToken
);

impl TapInToken {
    /// Signs a token with the entry terminal's key.
    pub fn issue(terminal: &SigningKey, body: &TapInBody) -> Result<Self> {
        Ok(Self(signed::sign(terminal, PURPOSE, body)?))
    }

    /// Verifies: the embedded certificate is the operator's, it names the
    /// token's terminal, the token is signed by that terminal's key and is
    /// within its validity.
    pub fn verify(
        &self,
        operator: &PublicKey,
        now_ms: u64,
    ) -> Result<(TapInBody, CertificateBody)> {
        certified::verify_certified_fresh(&self.0, operator, now_ms)
    }

    /// Verifies that the token is genuine (an operator-certified terminal,
    /// valid now, signed it) without checking the token's own validity
    /// window, so an exit terminal can tell an expired token of its line
    /// (maximum fare) from a forged one. Check
    /// [`TapInBody::check_fresh`] before honouring the entry.
    pub fn verify_authentic(
        &self,
        operator: &PublicKey,
        now_ms: u64,
    ) -> Result<(TapInBody, CertificateBody)> {
        certified::verify_certified(&self.0, operator, now_ms)
    }
}

impl CertifiedBody for TapInBody {
    const WHAT: &'static str = "tap-in token";
    const PURPOSE: &'static [u8] = PURPOSE;

    fn certificate(&self) -> &TerminalCertificate {
        &self.certificate
    }

    /// A token naming another terminal than its certificate is refused
    /// before its signature is checked.
    fn check_unverified(&self, cert: &CertificateBody) -> Result<()> {
        self.check(cert)
    }

    fn check(&self, cert: &CertificateBody) -> Result<()> {
        if cert.terminal_id != self.terminal_id {
            return Err(ProtocolError::UnknownSigner(
                "tap-in token terminal differs from its certificate",
            ));
        }
        Ok(())
    }

    fn window(&self) -> (u64, u64) {
        (self.tapped_in_at_ms, self.expires_at_ms)
    }
}

impl TapInBody {
    /// Checks the token's validity window at `now_ms`.
    pub fn check_fresh(&self, now_ms: u64) -> Result<()> {
        let (from, until) = self.window();
        check_validity(Self::WHAT, from, until, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::TerminalKind;

    struct Setup {
        operator: SigningKey,
        terminal: SigningKey,
        body: TapInBody,
    }

    fn setup(cert_terminal_id: &str) -> Setup {
        let operator = SigningKey::generate().unwrap();
        let terminal = SigningKey::generate().unwrap();
        let certificate = TerminalCertificate::issue(
            &operator,
            &CertificateBody {
                version: 1,
                terminal_id: cert_terminal_id.into(),
                merchant_id: "mer_1".into(),
                merchant_name: "Tram".into(),
                kind: TerminalKind::Tram,
                terminal_key: terminal.public_key(),
                not_before_ms: 0,
                not_after_ms: 1_000_000,
                transit: None,
            },
        )
        .unwrap();
        let body = TapInBody {
            version: 1,
            token_id: "tap_1".into(),
            terminal_id: "term_1".into(),
            line: "T1".into(),
            station: "Central".into(),
            station_index: 4,
            direction_from: "Airport".into(),
            direction_towards: "Harbour".into(),
            tapped_in_at_ms: 1_000,
            expires_at_ms: 5_000,
            certificate,
        };
        Setup {
            operator,
            terminal,
            body,
        }
    }

    #[test]
    fn a_genuine_token_verifies_within_its_validity() {
        let s = setup("term_1");
        let token = TapInToken::issue(&s.terminal, &s.body).unwrap();
        let (body, cert) = token.verify(&s.operator.public_key(), 2_000).unwrap();
        assert_eq!(body, s.body);
        assert_eq!(cert.terminal_id, "term_1");
        let back = TapInToken::from_base64(&token.to_base64()).unwrap();
        assert_eq!(back, token);
    }

    #[test]
    fn expired_and_early_tokens_are_refused() {
        let s = setup("term_1");
        let token = TapInToken::issue(&s.terminal, &s.body).unwrap();
        assert!(matches!(
            token.verify(&s.operator.public_key(), 5_001),
            Err(ProtocolError::Expired { .. })
        ));
        assert!(matches!(
            token.verify(&s.operator.public_key(), 999),
            Err(ProtocolError::NotYetValid { .. })
        ));
        // Genuine but expired: authentic, not fresh.
        let (body, _) = token
            .verify_authentic(&s.operator.public_key(), 5_001)
            .unwrap();
        assert!(body.check_fresh(5_001).is_err());
        assert!(body.check_fresh(5_000).is_ok());
    }

    #[test]
    fn forged_tampered_and_foreign_tokens_are_refused() {
        let s = setup("term_1");
        // Signed by a key that is not the certified terminal key.
        let thief = SigningKey::generate().unwrap();
        let forged = TapInToken::issue(&thief, &s.body).unwrap();
        assert!(matches!(
            forged.verify(&s.operator.public_key(), 2_000),
            Err(ProtocolError::BadSignature(_))
        ));
        assert!(forged
            .verify_authentic(&s.operator.public_key(), 2_000)
            .is_err());
        // Certified by another operator.
        let other = SigningKey::generate().unwrap();
        let token = TapInToken::issue(&s.terminal, &s.body).unwrap();
        assert!(token.verify(&other.public_key(), 2_000).is_err());
        // A station changed after signing.
        let mut bytes = token.as_bytes().to_vec();
        let pos = bytes.windows(7).position(|w| w == b"Central").unwrap();
        bytes[pos] = b'X';
        assert!(TapInToken::from_bytes(bytes)
            .verify(&s.operator.public_key(), 2_000)
            .is_err());
        // Garbage.
        assert!(TapInToken::from_bytes(vec![1, 2, 3])
            .verify(&s.operator.public_key(), 2_000)
            .is_err());
    }

    #[test]
    fn a_token_naming_another_terminal_than_its_certificate_is_refused() {
        let s = setup("term_2");
        let token = TapInToken::issue(&s.terminal, &s.body).unwrap();
        assert!(matches!(
            token.verify(&s.operator.public_key(), 2_000),
            Err(ProtocolError::UnknownSigner(_))
        ));
    }
}
