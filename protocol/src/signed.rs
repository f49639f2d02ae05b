//! COSE_Sign1 envelopes (RFC 9052) over CBOR payloads, signed with Ed25519.
//!
//! Every signed object in Wayfare uses this one helper; the `purpose` string
//! goes into the COSE external AAD, so a signature made for one kind of object
//! (a receipt) can never be passed off as another (a certificate).

use coset::{iana, CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder};
use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{from_cbor, to_cbor};
use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};

/// Signs `body` for `purpose` and returns the COSE_Sign1 bytes.
pub(crate) fn sign<T: Serialize>(key: &SigningKey, purpose: &[u8], body: &T) -> Result<Vec<u8>> {
    let payload = to_cbor(body)?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(key.public_key().key_id().into_bytes())
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(purpose, |data| key.sign(data))
        .build()
        .to_vec()
        .map_err(|e| ProtocolError::Malformed(format!("COSE encode: {e}")))
}

fn parse(bytes: &[u8]) -> Result<CoseSign1> {
    CoseSign1::from_slice(bytes).map_err(|e| ProtocolError::Malformed(format!("COSE_Sign1: {e}")))
}

/// Verifies a COSE_Sign1 made for `purpose` by `key` and decodes its body.
pub(crate) fn verify<T: DeserializeOwned>(
    bytes: &[u8],
    purpose: &[u8],
    key: &PublicKey,
    what: &'static str,
) -> Result<T> {
    let sign1 = parse(bytes)?;
    let alg_ok = matches!(
        sign1.protected.header.alg,
        Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA
        ))
    );
    if !alg_ok {
        return Err(ProtocolError::BadSignature(what));
    }
    sign1
        .verify_signature(purpose, |sig, data| key.verify(data, sig))
        .map_err(|_| ProtocolError::BadSignature(what))?;
    let payload = sign1
        .payload
        .as_ref()
        .ok_or_else(|| ProtocolError::Malformed(format!("{what} has no payload")))?;
    from_cbor(payload)
}

/// Decodes the body without checking the signature: only to find out which
/// key to verify with. Never act on the result before calling [`verify`].
pub(crate) fn peek<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    let sign1 = parse(bytes)?;
    let payload = sign1
        .payload
        .as_ref()
        .ok_or_else(|| ProtocolError::Malformed(format!("{what} has no payload")))?;
    from_cbor(payload)
}

/// Checks `now_ms` against a validity window.
pub(crate) fn check_validity(
    what: &'static str,
    not_before_ms: u64,
    not_after_ms: u64,
    now_ms: u64,
) -> Result<()> {
    if now_ms < not_before_ms {
        return Err(ProtocolError::NotYetValid {
            what,
            valid_from_ms: not_before_ms,
            now_ms,
        });
    }
    if now_ms > not_after_ms {
        return Err(ProtocolError::Expired {
            what,
            expired_at_ms: not_after_ms,
            now_ms,
        });
    }
    Ok(())
}

/// Declares an opaque signed object type holding its COSE bytes.
macro_rules! signed_object {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(#[serde(with = "serde_bytes")] Vec<u8>);

        impl $name {
            /// Wraps received bytes; nothing is trusted until verified.
            pub fn from_bytes(bytes: Vec<u8>) -> Self {
                Self(bytes)
            }

            /// The COSE_Sign1 bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Unpadded base64url of the bytes, for JSON.
            pub fn to_base64(&self) -> String {
                crate::ids::b64_encode(&self.0)
            }

            /// Parses the base64url form used in JSON.
            pub fn from_base64(text: &str) -> crate::error::Result<Self> {
                crate::ids::b64_decode(text)
                    .map(Self)
                    .map_err(|_| crate::error::ProtocolError::Malformed(
                        concat!(stringify!($name), " is not base64url").to_string(),
                    ))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({} bytes)"), self.0.len())
            }
        }
    };
}
pub(crate) use signed_object;
