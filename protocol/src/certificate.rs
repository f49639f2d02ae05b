//! Terminal certificates: the operator vouches for an access terminal's key.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::signed::{self, check_validity, signed_object};
use crate::terminal_kind::TerminalKind;
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
    /// Where a transit terminal stands, as the operator registered it.
    /// Exit terminals honour a tap-in token only if its issuer's
    /// certificate says it issues tap-ins on that line at the station the
    /// token claims (P3.6): a shop's POS or another merchant's gate cannot
    /// mint entries. Absent for POS terminals and older certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit: Option<TransitPlacement>,
}

/// A transit terminal's fixed place on its line, signed by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitPlacement {
    /// The line, e.g. "T1".
    pub line: String,
    /// The station the terminal stands at.
    pub station: String,
    /// The station's position on the line (fare tables count by it).
    pub station_index: u32,
    /// Whether the terminal records entries (tap-in), i.e. its role is
    /// entry or both.
    pub issues_tap_in: bool,
}

impl CertificateBody {
    /// Checks that this certificate lets its terminal issue a tap-in token
    /// for `line` at `station` (`station_index`); says why not otherwise.
    pub fn check_tap_in_issuer(
        &self,
        line: &str,
        station: &str,
        station_index: u32,
    ) -> std::result::Result<(), String> {
        if !matches!(self.kind, TerminalKind::Gate | TerminalKind::Tram) {
            return Err(format!(
                "a {} terminal cannot record a transit entry",
                self.kind.as_str()
            ));
        }
        let Some(place) = &self.transit else {
            return Err("the issuing terminal has no registered transit placement".into());
        };
        if !place.issues_tap_in {
            return Err("the issuing terminal does not record entries".into());
        }
        if place.line != line {
            return Err(format!(
                "the issuing terminal is registered on line {}, not {line}",
                place.line
            ));
        }
        if place.station != station || place.station_index != station_index {
            return Err(format!(
                "the token claims station {station} ({station_index}) but its terminal is registered at {} ({})",
                place.station, place.station_index
            ));
        }
        Ok(())
    }
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
            transit: None,
        }
    }

    #[test]
    fn only_a_placed_entry_terminal_of_the_line_and_station_issues_tap_ins() {
        let key = SigningKey::generate().unwrap().public_key();
        let pos = body(key);
        assert!(pos.check_tap_in_issuer("T1", "Harbour", 0).is_err());
        let mut gate = body(key);
        gate.kind = TerminalKind::Gate;
        assert!(gate.check_tap_in_issuer("T1", "Harbour", 0).is_err());
        gate.transit = Some(TransitPlacement {
            line: "T1".into(),
            station: "Harbour".into(),
            station_index: 0,
            issues_tap_in: true,
        });
        assert!(gate.check_tap_in_issuer("T1", "Harbour", 0).is_ok());
        assert!(gate.check_tap_in_issuer("T2", "Harbour", 0).is_err());
        assert!(gate.check_tap_in_issuer("T1", "Harbour", 9).is_err());
        assert!(gate.check_tap_in_issuer("T1", "University", 0).is_err());
        if let Some(p) = gate.transit.as_mut() {
            p.issues_tap_in = false;
        }
        assert!(gate.check_tap_in_issuer("T1", "Harbour", 0).is_err());
    }

    #[test]
    fn a_certificate_without_placement_still_decodes() {
        let op = SigningKey::generate().unwrap();
        let term = SigningKey::generate().unwrap();
        let cert = TerminalCertificate::issue(&op, &body(term.public_key())).unwrap();
        assert_eq!(cert.verify(&op.public_key(), 1_500).unwrap().transit, None);
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
