//! Ed25519 signing keys and public keys (ring); `random_bytes` is re-exported
//! from `random` where callers have always found it.

use std::fmt;

use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};

pub use crate::random::random_bytes;

/// An Ed25519 signing key kept as its 32-byte seed, so it can be sealed and
/// stored by the platform key store and rebuilt without PKCS#8 parsing.
pub struct SigningKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// Generates a fresh key from the system CSPRNG.
    pub fn generate() -> Result<Self> {
        Self::from_seed(&random_bytes::<32>()?)
    }

    /// Rebuilds a key from its 32-byte seed.
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| ProtocolError::InvalidKey("Ed25519 seed must be 32 bytes"))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| ProtocolError::InvalidKey("Ed25519 seed rejected"))?;
        Ok(Self { seed, pair })
    }

    /// The seed; handle as a secret.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(out)
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public={})", self.public_key())
    }
}

/// An Ed25519 public key. Displayed and serialised in JSON as unpadded
/// base64url; in CBOR as a byte string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses a key from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ProtocolError::InvalidKey("Ed25519 public key must be 32 bytes"))?;
        Ok(Self(arr))
    }

    /// Parses a key from unpadded base64url.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = crate::ids::b64_decode(text)
            .map_err(|_| ProtocolError::InvalidKey("public key is not base64url"))?;
        Self::from_bytes(&bytes)
    }

    /// Unpadded base64url form, as used in JSON.
    pub fn to_base64(&self) -> String {
        crate::ids::b64_encode(&self.0)
    }

    /// Verifies an Ed25519 signature.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, signature)
            .map_err(|_| ProtocolError::BadSignature("Ed25519"))
    }

    /// A short, stable identifier of the key (first 8 bytes of its SHA-256,
    /// hex) for COSE `kid` headers and logs.
    pub fn key_id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        crate::ids::hex_lower(&digest.as_ref()[..8])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_base64())
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            PublicKey::from_base64(&text).map_err(serde::de::Error::custom)
        } else {
            let bytes = serde_bytes::ByteBuf::deserialize(d)?;
            PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_and_reject_wrong_key() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::generate().unwrap();
        let sig = a.sign(b"msg");
        a.public_key().verify(b"msg", &sig).unwrap();
        assert!(b.public_key().verify(b"msg", &sig).is_err());
        assert!(a.public_key().verify(b"msh", &sig).is_err());
        let again = SigningKey::from_seed(a.seed()).unwrap();
        assert_eq!(again.public_key(), a.public_key());
    }

    #[test]
    fn public_key_base64_round_trip() {
        let k = SigningKey::generate().unwrap().public_key();
        assert_eq!(PublicKey::from_base64(&k.to_base64()).unwrap(), k);
        assert!(PublicKey::from_base64("short").is_err());
    }
}
