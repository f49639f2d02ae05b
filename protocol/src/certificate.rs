//! Terminal certificates: the operator vouches for an access terminal's key.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::messages::TerminalKind;
use crate::signed::{self, check_validity, signed_object};
use crate::PROTOCOL_VERSION;

const PURPOSE: &[u8] = b"wayfare/terminal-certificate/v1";

/// What the operator asserts about a terminal. Fields are in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateBody {
    /// Protocol version the certificate was issued for.
    pub version: u16,
    /// The terminal's identifier.
    pub terminal_id: String,
    /// The merchant (or transit operator) the terminal collects for.
    pub merchant_id: String,
    /// The name the phone shows to the user.
    pub merchant_name: String,
    /// What kind of access terminal this is.
    pub kind: TerminalKind,
    /// The terminal's Ed25519 key, which signs the handshake transcript.
    pub terminal_key: PublicKey,
    /// Start of validity (Unix ms).
    pub not_before_ms: u64,
    /// End of validity (Unix ms).
    pub not_after_ms: u64,
}

signed_object!(
    /// An operator-signed terminal certificate (COSE_Sign1).
    TerminalCertificate
);

impl TerminalCertificate {
    /// Issues a certificate; called by the control center.
    pub fn issue(operator: &SigningKey, body: &CertificateBody) -> Result<Self> {
        if body.not_after_ms <= body.not_before_ms {
            return Err(ProtocolError::InvalidField {
                field: "not_after_ms",
                reason: "must be after not_before_ms".into(),
            });
        }
        Ok(Self(signed::sign(operator, PURPOSE, body)?))
    }

    /// Verifies the operator's signature, the version and the validity period.
    pub fn verify(&self, operator: &PublicKey, now_ms: u64) -> Result<CertificateBody> {
        let body: CertificateBody =
            signed::verify(&self.0, PURPOSE, operator, "terminal certificate").map_err(
                |e| match e {
                    ProtocolError::BadSignature(_) => ProtocolError::UnknownSigner(
                        "terminal certificate not issued by the operator",
                    ),
                    other => other,
                },
            )?;
        if body.version != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(body.version));
        }
        check_validity(
            "terminal certificate",
            body.not_before_ms,
            body.not_after_ms,
            now_ms,
        )?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(key: PublicKey) -> CertificateBody {
        CertificateBody {
            version: PROTOCOL_VERSION,
            terminal_id: "term_1".into(),
            merchant_id: "mer_1".into(),
            merchant_name: "Corner Café".into(),
            kind: TerminalKind::Pos,
            terminal_key: key,
            not_before_ms: 1_000,
            not_after_ms: 2_000,
        }
    }

    #[test]
    fn issue_and_verify() {
        let op = SigningKey::generate().unwrap();
        let term = SigningKey::generate().unwrap();
        let cert = TerminalCertificate::issue(&op, &body(term.public_key())).unwrap();
        assert_eq!(
            cert.verify(&op.public_key(), 1_500).unwrap().terminal_id,
            "term_1"
        );
    }

    #[test]
    fn wrong_operator_expired_and_tampered_are_refused() {
        let op = SigningKey::generate().unwrap();
        let rogue = SigningKey::generate().unwrap();
        let term = SigningKey::generate().unwrap();
        let cert = TerminalCertificate::issue(&rogue, &body(term.public_key())).unwrap();
        assert!(matches!(
            cert.verify(&op.public_key(), 1_500),
            Err(ProtocolError::UnknownSigner(_))
        ));

        let cert = TerminalCertificate::issue(&op, &body(term.public_key())).unwrap();
        assert!(matches!(
            cert.verify(&op.public_key(), 2_001),
            Err(ProtocolError::Expired { .. })
        ));
        assert!(matches!(
            cert.verify(&op.public_key(), 999),
            Err(ProtocolError::NotYetValid { .. })
        ));

        let mut bytes = cert.as_bytes().to_vec();
        let pos = bytes.windows(6).position(|w| w == b"Corner").unwrap();
        bytes[pos] = b'K';
        assert!(TerminalCertificate::from_bytes(bytes)
            .verify(&op.public_key(), 1_500)
            .is_err());
    }
}
