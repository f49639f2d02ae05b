//! Identifiers, encodings and redaction for logs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::Result;
use crate::random::random_bytes;

/// A new random identifier such as `pay_5f1c0e9a2b7d4c3e8a6f1b2c`: a type
/// prefix and 96 random bits in hex.
pub fn new_id(prefix: &str) -> Result<String> {
    let bytes = random_bytes::<12>()?;
    Ok(format!("{prefix}_{}", hex_lower(&bytes)))
}

/// Hex digits of the time at the start of a [`new_ordered_id`].
const ORDERED_TIME_DIGITS: usize = 12;

/// A new identifier that sorts by creation time, such as
/// `pay_0193a1b2c3d45f1c0e9a2b7d4c3e8a6f1b2c`: a type prefix, the Unix time
/// in milliseconds (12 hex digits), then 96 random bits in hex. For the rows
/// written by every payment (payments, ledger and points entries): inserts
/// then go to the right edge of the primary-key index instead of a random
/// page, which dirties (and, on PostgreSQL, logs in full after each
/// checkpoint) far fewer pages. The time is no secret there: receipts and
/// entries carry it anyway.
pub fn new_ordered_id(prefix: &str, now_ms: u64) -> Result<String> {
    let bytes = random_bytes::<12>()?;
    Ok(format!(
        "{prefix}_{:012x}{}",
        now_ms & 0xffff_ffff_ffff,
        hex_lower(&bytes)
    ))
}

/// A shortened identifier for log lines: the prefix and four characters of
/// its random part, so logs can be correlated without exposing the whole id.
pub fn redact(id: &str) -> String {
    match id.split_once('_') {
        Some((prefix, rest)) => {
            // An ordered id's first digits are its time, shared by every id
            // of the same minute: show the random part instead.
            let ordered = rest.len() == ORDERED_TIME_DIGITS + 24
                && rest.bytes().all(|b| b.is_ascii_hexdigit());
            let random = if ordered {
                &rest[ORDERED_TIME_DIGITS..]
            } else {
                rest
            };
            format!("{prefix}_{}…", random.chars().take(4).collect::<String>())
        }
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
    fn ordered_ids_sort_by_time_and_redact_their_random_part() {
        let early = new_ordered_id("led", 1_700_000_000_000).unwrap();
        let late = new_ordered_id("led", 1_700_000_000_001).unwrap();
        assert!(early < late, "{early} < {late}");
        assert_eq!(early.len(), "led_".len() + 36);
        assert!(early.starts_with("led_018bcfe56800"));
        assert_eq!(redact(&early), format!("led_{}…", &early[16..20]));
        assert_ne!(
            new_ordered_id("led", 5).unwrap(),
            new_ordered_id("led", 5).unwrap()
        );
    }

    #[test]
    fn idempotency_key_is_stable_and_unambiguous() {
        let k = payment_idempotency_key("acc_1", "term_1", "ord_1");
        assert_eq!(k, payment_idempotency_key("acc_1", "term_1", "ord_1"));
        assert_ne!(k, payment_idempotency_key("acc_1", "term_1o", "rd_1"));
    }
}
