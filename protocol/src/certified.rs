//! Bodies a terminal signs with its certified key and that carry the
//! terminal's operator certificate (tap-in tokens, top-up offers): a
//! verifier needs only the operator's key, and every such body verifies
//! the same way — the certificate first, then the signature by the key it
//! certifies, then what the body must agree on with it.

use serde::de::DeserializeOwned;

use crate::certificate::{CertificateBody, TerminalCertificate};
use crate::error::Result;
use crate::keys::PublicKey;
use crate::signed::{check_validity, peek, verify};

/// A certified body ([`verify_certified`] verifies it); each says what it
/// must agree on with its certificate.
pub(crate) trait CertifiedBody: DeserializeOwned {
    /// What it is, for errors.
    const WHAT: &'static str;
    /// The purpose it is signed for.
    const PURPOSE: &'static [u8];

    /// The embedded certificate.
    fn certificate(&self) -> &TerminalCertificate;

    /// Checked on the body as received, once its certificate verifies and
    /// before the signature is (nothing by default).
    fn check_unverified(&self, _cert: &CertificateBody) -> Result<()> {
        Ok(())
    }

    /// What the verified body must agree on with its certificate.
    fn check(&self, cert: &CertificateBody) -> Result<()>;

    /// The body's own validity window: from, until (Unix ms).
    fn window(&self) -> (u64, u64);
}

/// Verifies a certified body, leaving out its own validity window: the
/// embedded certificate is the operator's and valid at `now_ms`, the body
/// is signed by the key it certifies and agrees with it.
pub(crate) fn verify_certified<B: CertifiedBody>(
    bytes: &[u8],
    operator: &PublicKey,
    now_ms: u64,
) -> Result<(B, CertificateBody)> {
    let unverified: B = peek(bytes, B::WHAT)?;
    let cert = unverified.certificate().verify(operator, now_ms)?;
    unverified.check_unverified(&cert)?;
    let body: B = verify(bytes, B::PURPOSE, &cert.terminal_key, B::WHAT)?;
    body.check(&cert)?;
    Ok((body, cert))
}

/// [`verify_certified`], then the body's own validity window at `now_ms`.
pub(crate) fn verify_certified_fresh<B: CertifiedBody>(
    bytes: &[u8],
    operator: &PublicKey,
    now_ms: u64,
) -> Result<(B, CertificateBody)> {
    let (body, cert) = verify_certified::<B>(bytes, operator, now_ms)?;
    let (from, until) = body.window();
    check_validity(B::WHAT, from, until, now_ms)?;
    Ok((body, cert))
}
