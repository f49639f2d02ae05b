//! The platform key store (a foreign trait) and an in-memory implementation.
//!
//! The device's Ed25519 seed is stored only sealed: on phones the app seals
//! it with a key held by the Android Keystore or the iOS Keychain; the
//! desktop CLI and the tests use [`InMemoryKeyStore`] (AES-256-GCM).

use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use wayfare_protocol::keys::random_bytes;

/// Why the key store failed. In Kotlin this is `KeyStoreException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyStoreError {
    /// The key store cannot be used right now (locked device, missing key,
    /// user authentication required).
    #[error("the key store is unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The sealed data could not be opened: it was modified, or it was
    /// sealed under another key (the app's key was reset).
    #[error("the sealed data could not be opened: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyStoreError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyStoreError::Unavailable { reason: e.reason }
    }
}

/// Seals and unseals small secrets with a key the platform protects.
/// Implemented by the app (Android Keystore, iOS Keychain). The core calls
/// it when the device key is created (`register`) and when the wallet is
/// opened; never while holding a lock.
///
/// Exported in both directions so that a Rust-implemented store
/// (`InMemoryKeyStore.as_key_store()`) can be handed back to `Wallet`.
#[uniffi::export(rust, foreign)]
pub trait KeyStore: Send + Sync {
    /// Encrypts and authenticates `plaintext`; returns the sealed bytes.
    fn seal(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;
    /// Reverses `seal`; fails if the bytes were modified or
    /// sealed under another key.
    fn unseal(&self, sealed: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;
}

/// A key store that keeps its AES-256-GCM wrapping key in memory. For tests
/// and the desktop CLI (which persists the key in a file with
/// `export_key()` and the `with_key(key)` constructor);
/// phones use the platform key store.
#[derive(uniffi::Object)]
pub struct InMemoryKeyStore {
    /// `None` only if the system random generator failed at creation: then
    /// every call fails with `Unavailable`.
    key: Option<(LessSafeKey, [u8; 32])>,
}

impl std::fmt::Debug for InMemoryKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InMemoryKeyStore")
    }
}

const AAD: &[u8] = b"wayfare/keystore/v1";

#[uniffi::export]
impl InMemoryKeyStore {
    /// A key store with a fresh random wrapping key: what it seals can only
    /// be unsealed by this instance (or one built from `export_key()`).
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        let key = random_bytes::<32>().ok().and_then(Self::aead_key);
        if key.is_none() {
            tracing::error!(target: "wayfare_core::keystore", "system random generator failed; the key store is unusable");
        }
        Arc::new(Self { key })
    }

    /// A key store using a 32-byte wrapping key the caller persisted.
    #[uniffi::constructor]
    pub fn with_key(key: Vec<u8>) -> Result<Arc<Self>, KeyStoreError> {
        let raw: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| KeyStoreError::Unavailable {
                reason: format!("the wrapping key must be 32 bytes, got {}", key.len()),
            })?;
        let key = Self::aead_key(raw).ok_or_else(|| KeyStoreError::Unavailable {
            reason: "AES-256-GCM key rejected".into(),
        })?;
        Ok(Arc::new(Self { key: Some(key) }))
    }

    /// The 32-byte wrapping key, so a desktop caller can persist it (in a
    /// file only its user can read). Treat it as a secret.
    pub fn export_key(&self) -> Vec<u8> {
        self.key
            .as_ref()
            .map(|(_, raw)| raw.to_vec())
            .unwrap_or_default()
    }

    /// This store as a `KeyStore`, to pass to the `Wallet` constructor from
    /// Kotlin, Swift or Python.
    pub fn as_key_store(self: Arc<Self>) -> Arc<dyn KeyStore> {
        self
    }
}

impl InMemoryKeyStore {
    fn aead_key(raw: [u8; 32]) -> Option<(LessSafeKey, [u8; 32])> {
        let unbound = UnboundKey::new(&AES_256_GCM, &raw).ok()?;
        Some((LessSafeKey::new(unbound), raw))
    }

    fn key(&self) -> Result<&LessSafeKey, KeyStoreError> {
        self.key
            .as_ref()
            .map(|(k, _)| k)
            .ok_or_else(|| KeyStoreError::Unavailable {
                reason: "the key store has no key (random generator failure)".into(),
            })
    }
}

impl KeyStore for InMemoryKeyStore {
    fn seal(&self, plaintext: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>().map_err(|e| KeyStoreError::Unavailable {
            reason: e.to_string(),
        })?;
        let mut body = plaintext;
        self.key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(AAD),
                &mut body,
            )
            .map_err(|_| KeyStoreError::Unavailable {
                reason: "sealing failed".into(),
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + body.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn unseal(&self, sealed: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(KeyStoreError::Rejected {
                reason: "sealed data is too short".into(),
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[..NONCE_LEN]);
        let mut body = sealed[NONCE_LEN..].to_vec();
        let plain = self
            .key()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut body,
            )
            .map_err(|_| KeyStoreError::Rejected {
                reason: "authentication failed (modified, or sealed under another key)".into(),
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_unseal_round_trip_and_persisted_key() {
        let ks = InMemoryKeyStore::new();
        let sealed = ks.seal(b"device seed".to_vec()).unwrap();
        assert_ne!(&sealed[NONCE_LEN..], b"device seed");
        assert_eq!(ks.unseal(sealed.clone()).unwrap(), b"device seed");
        let again = InMemoryKeyStore::with_key(ks.export_key()).unwrap();
        assert_eq!(again.unseal(sealed).unwrap(), b"device seed");
    }

    #[test]
    fn wrong_key_tampering_and_bad_keys_are_refused() {
        let ks = InMemoryKeyStore::new();
        let other = InMemoryKeyStore::new();
        let sealed = ks.seal(b"secret".to_vec()).unwrap();
        assert!(matches!(
            other.unseal(sealed.clone()),
            Err(KeyStoreError::Rejected { .. })
        ));
        let mut tampered = sealed;
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            ks.unseal(tampered),
            Err(KeyStoreError::Rejected { .. })
        ));
        assert!(ks.unseal(vec![1, 2, 3]).is_err());
        assert!(InMemoryKeyStore::with_key(vec![0u8; 31]).is_err());
    }
}
