//! Identifiers, encodings and redaction for logs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::Result;
use crate::keys::random_bytes;

/// A new random identifier such as `pay_5f1c0e9a2b7d4c3e8a6f1b2c`: a type
/// prefix and 96 random bits in hex.
pub fn new_id(prefix: &str) -> Result<String> {
    let bytes = random_bytes::<12>()?;
    Ok(format!("{prefix}_{}", hex_lower(&bytes)))
}

/// A shortened identifier for log lines: the prefix and the first four
/// characters, so logs can be correlated without exposing the whole id.
pub fn redact(id: &str) -> String {
    match id.split_once('_') {
        Some((prefix, rest)) => format!("{prefix}_{}…", rest.chars().take(4).collect::<String>()),
        None => format!("{}…", id.chars().take(4).collect::<String>()),
    }
}

/// Lower-case hex.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Unpadded base64url, the encoding of binary fields in JSON.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url.
pub fn b64_decode(text: &str) -> std::result::Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The idempotency key of a payment: derived from the order, the terminal
/// and the paying account, so the same order paid again by the same wallet
/// maps to the same key on every retry and after a crash.
pub fn payment_idempotency_key(account_id: &str, terminal_id: &str, order_id: &str) -> String {
    let mut material = Vec::new();
    for part in [account_id, terminal_id, order_id] {
        material.extend_from_slice(&(part.len() as u32).to_be_bytes());
        material.extend_from_slice(part.as_bytes());
    }
    format!("idem_{}", hex_lower(&sha256(&material)[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_redacted() {
        let a = new_id("pay").unwrap();
        let b = new_id("pay").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("pay_") && a.len() == 28);
        assert_eq!(redact("pay_abcdef"), "pay_abcd…");
    }

    #[test]
    fn idempotency_key_is_stable_and_unambiguous() {
        let k = payment_idempotency_key("acc_1", "term_1", "ord_1");
        assert_eq!(k, payment_idempotency_key("acc_1", "term_1", "ord_1"));
        assert_ne!(k, payment_idempotency_key("acc_1", "term_1o", "rd_1"));
    }
}
