//! The callback signature, Stripe-style: the header
//! `wayfare-signature: t=<Unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`
//! over the exact bytes of the body. Several `v1` entries may be sent while
//! a provider rotates its secret; one matching is enough. The tag is
//! checked in constant time (`ring::hmac::verify`) before the timestamp, so
//! a forged header always reads as a bad signature, and a genuine one
//! outside the window as stale.

use ring::hmac;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "wayfare-signature";

/// How far a callback's timestamp may be from the server's clock.
pub const TOLERANCE_S: i64 = 300;

/// Why a callback's signature is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    /// The header is not `t=…,v1=…`.
    #[error("the {SIGNATURE_HEADER} header is malformed ({0}); send t=<unix seconds>,v1=<hex hmac-sha256>")]
    Malformed(&'static str),
    /// No `v1` tag matches the body under the provider's secret.
    #[error("the {SIGNATURE_HEADER} does not match the body under this provider's secret")]
    Mismatch,
    /// Genuine, but signed too long ago (or too far ahead).
    #[error("the callback was signed {age_s} s from now; only callbacks within {TOLERANCE_S} s of the server's clock are accepted")]
    Stale {
        /// Seconds between the timestamp and now (negative: in the future).
        age_s: i64,
    },
}

/// Signs `body` as a provider does at `timestamp_s`: the header value.
pub fn sign_callback(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &signed_payload(timestamp_s, body));
    format!("t={timestamp_s},v1={}", hex::encode(tag.as_ref()))
}

fn signed_payload(timestamp_s: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{timestamp_s}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// Checks `header` for `body` under `key` at `now_s`.
pub(crate) fn verify(
    key: &hmac::Key,
    header: &str,
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    if header.len() > 1024 {
        return Err(SignatureError::Malformed("too long"));
    }
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("a part without ="))?;
        match name {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("t given twice"));
                }
                if value.is_empty()
                    || value.len() > 12
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(SignatureError::Malformed("t is not Unix seconds"));
                }
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed("t is not Unix seconds"))?,
                );
            }
            "v1" => {
                let tag = hex::decode(value)
                    .ok()
                    .filter(|t| t.len() == 32)
                    .ok_or(SignatureError::Malformed("v1 is not 64 hex digits"))?;
                tags.push(tag);
            }
            // Other schemes (a future v2) are ignored, as Stripe does.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no t"))?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed("no v1"));
    }
    let payload = signed_payload(timestamp, body);
    if !tags
        .iter()
        .any(|tag| hmac::verify(key, &payload, tag).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let age_s = now_s - timestamp;
    if age_s.abs() > TOLERANCE_S {
        return Err(SignatureError::Stale { age_s });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"provider-secret-0123456789";
    const NOW: i64 = 1_800_000_000;

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, SECRET)
    }

    #[test]
    fn a_fresh_genuine_signature_verifies_and_every_tampering_is_refused() {
        let body = br#"{"reference":"fi_1","amount_minor":500}"#;
        let header = sign_callback(SECRET, NOW, body);
        assert_eq!(verify(&key(), &header, body, NOW + 10), Ok(()));
        // Tampered body, truncated body, another secret.
        let tampered = br#"{"reference":"fi_1","amount_minor":900}"#;
        assert_eq!(
            verify(&key(), &header, tampered, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key(), &header, &body[..body.len() - 1], NOW),
            Err(SignatureError::Mismatch)
        );
        let other = sign_callback(b"another-secret-0123456789", NOW, body);
        assert_eq!(
            verify(&key(), &other, body, NOW),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the tag.
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(&key(), &moved, body, NOW),
            Err(SignatureError::Mismatch)
        );
        // Expired and future, each genuine.
        let old = sign_callback(SECRET, NOW - TOLERANCE_S - 1, body);
        assert!(matches!(
            verify(&key(), &old, body, NOW),
            Err(SignatureError::Stale { .. })
        ));
        let ahead = sign_callback(SECRET, NOW + TOLERANCE_S + 1, body);
        assert!(matches!(
            verify(&key(), &ahead, body, NOW),
            Err(SignatureError::Stale { .. })
        ));
        // A rotation: one of two tags matches.
        let tag = header.split("v1=").nth(1).unwrap();
        let rotated = format!("t={NOW},v1={},v1={tag}", "0".repeat(64));
        assert_eq!(verify(&key(), &rotated, body, NOW), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused_before_any_crypto() {
        let body = b"{}";
        for header in [
            "",
            "v1=00",
            &format!("v1={}", "0".repeat(64)),
            &format!("t=1,t=2,v1={}", "0".repeat(64)),
            "t=abc,v1=00",
            "t=1",
            &format!("t=1,v1={}", "z".repeat(64)),
            &"x".repeat(2000),
        ] {
            assert!(
                matches!(
                    verify(&key(), header, body, NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{header:?}"
            );
        }
    }
}
