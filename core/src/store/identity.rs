//! The device identity: sealed seed, account and device ids, pinned keys.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Result, Store};

const TREE: &str = "identity";
const KEY_IDENTITY: &[u8] = b"device";
const KEY_PINNED: &[u8] = b"pinned_keys";
const KEY_PENDING_SEED: &[u8] = b"pending_sealed_seed";

/// The registered device, as stored. The seed is sealed by the platform key
/// store and never stored in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredIdentity {
    /// The device's Ed25519 seed, sealed by the `KeyStore` (base64url).
    pub sealed_seed: String,
    /// Account id.
    pub account_id: String,
    /// Device id (the `x-wayfare-key-id` of signed requests).
    pub device_id: String,
    /// Pseudonymous handle shown to terminals.
    pub handle: String,
    /// Display name given at registration.
    pub display_name: String,
    /// Account currency.
    pub currency: String,
    /// When the device registered (Unix ms).
    pub registered_at_ms: u64,
}

/// Keys pinned on first use (fetched from `GET /v1/keys`), base64url.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PinnedKeys {
    /// The operator key that issues terminal certificates.
    pub operator_key: Option<String>,
    /// The payment server key that signs receipts.
    pub receipt_key: Option<String>,
}

impl Store {
    /// The registered identity, if any.
    pub(crate) fn identity(&self) -> Result<Option<StoredIdentity>> {
        match self.identity.get(KEY_IDENTITY)? {
            None => Ok(None),
            Some(raw) => decode(TREE, &raw).map(Some),
        }
    }

    /// The sealed seed of a registration that was started but not
    /// confirmed (base64url), so a retry reuses the same device key.
    pub(crate) fn pending_seed(&self) -> Result<Option<String>> {
        match self.identity.get(KEY_PENDING_SEED)? {
            None => Ok(None),
            Some(raw) => decode(TREE, &raw).map(Some),
        }
    }

    /// Records the sealed seed of a registration about to be sent.
    pub(crate) async fn save_pending_seed(&self, sealed_seed: &str) -> Result<()> {
        self.identity
            .insert(KEY_PENDING_SEED, encode(TREE, &sealed_seed)?)?;
        self.flush().await
    }

    /// Saves the identity and forgets the pending seed, atomically.
    pub(crate) async fn complete_registration(&self, identity: &StoredIdentity) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.insert(KEY_IDENTITY, encode(TREE, identity)?);
        batch.remove(KEY_PENDING_SEED);
        self.identity.apply_batch(batch)?;
        self.flush().await
    }

    /// The pinned keys (empty when nothing was pinned).
    pub(crate) fn pinned_keys(&self) -> Result<PinnedKeys> {
        match self.identity.get(KEY_PINNED)? {
            None => Ok(PinnedKeys::default()),
            Some(raw) => decode(TREE, &raw),
        }
    }

    /// Pins keys durably. Keys already pinned are never replaced.
    pub(crate) async fn pin_keys(&self, keys: &PinnedKeys) -> Result<PinnedKeys> {
        let mut current = self.pinned_keys()?;
        if current.operator_key.is_none() {
            current.operator_key.clone_from(&keys.operator_key);
        }
        if current.receipt_key.is_none() {
            current.receipt_key.clone_from(&keys.receipt_key);
        }
        self.identity.insert(KEY_PINNED, encode(TREE, &current)?)?;
        self.flush().await?;
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    #[tokio::test]
    async fn identity_and_pins_survive_reopen_and_pins_never_change() {
        let scratch = ScratchDb::new();
        let id = StoredIdentity {
            sealed_seed: "c2VlZA".into(),
            account_id: "acc_1".into(),
            device_id: "dev_1".into(),
            handle: "rider-1".into(),
            display_name: "Ann".into(),
            currency: "EUR".into(),
            registered_at_ms: 1,
        };
        {
            let store = scratch.open().await;
            assert_eq!(store.identity().unwrap(), None);
            store.save_pending_seed("c2VlZA").await.unwrap();
            assert_eq!(store.pending_seed().unwrap().as_deref(), Some("c2VlZA"));
            store.complete_registration(&id).await.unwrap();
            assert_eq!(store.pending_seed().unwrap(), None);
            let pinned = store
                .pin_keys(&PinnedKeys {
                    operator_key: Some("op".into()),
                    receipt_key: Some("rc".into()),
                })
                .await
                .unwrap();
            assert_eq!(pinned.operator_key.as_deref(), Some("op"));
        }
        let store = scratch.open().await;
        assert_eq!(store.identity().unwrap(), Some(id));
        let pinned = store
            .pin_keys(&PinnedKeys {
                operator_key: Some("other".into()),
                receipt_key: None,
            })
            .await
            .unwrap();
        assert_eq!(pinned.operator_key.as_deref(), Some("op"));
        assert_eq!(pinned.receipt_key.as_deref(), Some("rc"));
    }
}
