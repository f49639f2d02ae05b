//! Signed HTTP requests from devices and terminals to the control center.
//!
//! The signature covers the method, the path with query, a timestamp, a
//! random nonce and the SHA-256 of the body, so a captured request can be
//! neither altered nor replayed (the server keeps seen nonces for the
//! accepted clock skew window).

use crate::error::{ProtocolError, Result};
use crate::ids::{b64_decode, b64_encode, hex_lower, sha256};
use crate::keys::{random_bytes, PublicKey, SigningKey};

/// Header naming the signer: a device id or a terminal id.
pub const HEADER_KEY_ID: &str = "x-wayfare-key-id";
/// Header with the signing time (Unix ms).
pub const HEADER_TIMESTAMP: &str = "x-wayfare-timestamp";
/// Header with a fresh random nonce.
pub const HEADER_NONCE: &str = "x-wayfare-nonce";
/// Header with the Ed25519 signature (base64url).
pub const HEADER_SIGNATURE: &str = "x-wayfare-signature";

/// How far a request's timestamp may be from the server clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// The signature headers of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSignature {
    /// Device or terminal id.
    pub key_id: String,
    /// Unix ms at signing.
    pub timestamp_ms: u64,
    /// Random nonce (base64url).
    pub nonce: String,
    /// Signature (base64url).
    pub signature: String,
}

impl RequestSignature {
    /// The headers to attach, as (name, value) pairs.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_KEY_ID, self.key_id.clone()),
            (HEADER_TIMESTAMP, self.timestamp_ms.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// The exact bytes that get signed.
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    timestamp_ms: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    format!(
        "WAYFARE-REQUEST-V1\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        timestamp_ms,
        nonce,
        hex_lower(&sha256(body))
    )
    .into_bytes()
}

/// Signs a request.
pub fn sign_request(
    key: &SigningKey,
    key_id: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_ms: u64,
) -> Result<RequestSignature> {
    let nonce = b64_encode(&random_bytes::<16>()?);
    let signature = key.sign(&canonical_request(
        method,
        path_and_query,
        now_ms,
        &nonce,
        body,
    ));
    Ok(RequestSignature {
        key_id: key_id.to_string(),
        timestamp_ms: now_ms,
        nonce,
        signature: b64_encode(&signature),
    })
}

/// Verifies a request's signature and freshness. Nonce uniqueness is the
/// caller's job (it needs storage).
pub fn verify_request(
    key: &PublicKey,
    sig: &RequestSignature,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_ms: u64,
) -> Result<()> {
    if sig.timestamp_ms.abs_diff(now_ms) > MAX_CLOCK_SKEW_MS {
        return Err(ProtocolError::Expired {
            what: "request signature (timestamp outside the allowed clock skew)",
            expired_at_ms: sig.timestamp_ms,
            now_ms,
        });
    }
    if sig.nonce.len() < 16 || sig.nonce.len() > 64 {
        return Err(ProtocolError::InvalidField {
            field: HEADER_NONCE,
            reason: "must be 16 to 64 characters".into(),
        });
    }
    let raw = b64_decode(&sig.signature).map_err(|_| ProtocolError::BadSignature("request"))?;
    key.verify(
        &canonical_request(method, path_and_query, sig.timestamp_ms, &sig.nonce, body),
        &raw,
    )
    .map_err(|_| ProtocolError::BadSignature("request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_request_verifies_and_resists_tampering() {
        let k = SigningKey::generate().unwrap();
        let pk = k.public_key();
        let sig = sign_request(&k, "dev_1", "POST", "/v1/payments", b"{}", 1_000_000).unwrap();
        verify_request(&pk, &sig, "POST", "/v1/payments", b"{}", 1_000_500).unwrap();
        // other body, path, method
        assert!(verify_request(&pk, &sig, "POST", "/v1/payments", b"{ }", 1_000_500).is_err());
        assert!(verify_request(&pk, &sig, "POST", "/v1/wallet", b"{}", 1_000_500).is_err());
        assert!(verify_request(&pk, &sig, "GET", "/v1/payments", b"{}", 1_000_500).is_err());
        // stale
        assert!(verify_request(
            &pk,
            &sig,
            "POST",
            "/v1/payments",
            b"{}",
            1_000_000 + MAX_CLOCK_SKEW_MS + 1
        )
        .is_err());
        // wrong key
        let other = SigningKey::generate().unwrap().public_key();
        assert!(verify_request(&other, &sig, "POST", "/v1/payments", b"{}", 1_000_500).is_err());
    }
}
