//! Tap-in tokens: an entry terminal's signed record of where and when a
//! trip began (P3.6). The exit terminal verifies it and prices the trip.

use serde::{Deserialize, Serialize};

use crate::certificate::{CertificateBody, TerminalCertificate};
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
        let unverified: TapInBody = signed::peek(&self.0, "tap-in token")?;
        let cert = unverified.certificate.verify(operator, now_ms)?;
        if cert.terminal_id != unverified.terminal_id {
            return Err(ProtocolError::UnknownSigner(
                "tap-in token terminal differs from its certificate",
            ));
        }
        let body: TapInBody = signed::verify(&self.0, PURPOSE, &cert.terminal_key, "tap-in token")?;
        check_validity(
            "tap-in token",
            body.tapped_in_at_ms,
            body.expires_at_ms,
            now_ms,
        )?;
        Ok((body, cert))
    }
}
