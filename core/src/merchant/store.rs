//! The merchant area's records in the wallet database (tree
//! `merchant_prompts`): the order keys already announced (kept, so a later
//! copy is dropped even after a restart), the stream cursor (the last
//! server event id handled) and the device's prompt settings.

use crate::store::{Store, StoreError};

use super::types::PromptSettings;

const TREE: &str = "merchant_prompts";
const CURSOR: &[u8] = b"cursor";
const SETTINGS: &[u8] = b"settings";

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: TREE,
        reason: reason.to_string(),
    }
}

/// A handle on the tree. Cheap to create.
#[derive(Clone)]
pub(crate) struct PromptStore {
    store: Store,
    tree: sled::Tree,
}

impl PromptStore {
    /// The tree of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(TREE)?,
        })
    }

    fn seen_key(merchant_id: &str, dedupe_key: &str) -> Vec<u8> {
        format!("seen/{merchant_id}/{dedupe_key}").into_bytes()
    }

    /// Records the order key as announced; false when it was already.
    pub(crate) fn first_sighting(
        &self,
        merchant_id: &str,
        dedupe_key: &str,
        event_id: u64,
    ) -> Result<bool, StoreError> {
        let outcome = self.tree.compare_and_swap(
            Self::seen_key(merchant_id, dedupe_key),
            None as Option<&[u8]>,
            Some(&event_id.to_be_bytes()[..]),
        )?;
        Ok(outcome.is_ok())
    }

    /// The last server event id handled.
    pub(crate) fn cursor(&self) -> Result<Option<u64>, StoreError> {
        match self.tree.get(CURSOR)? {
            None => Ok(None),
            Some(raw) => {
                let bytes: [u8; 8] = raw
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("cursor is not 8 bytes"))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// Moves the cursor forward (never back) and flushes.
    pub(crate) async fn advance(&self, event_id: u64) -> Result<(), StoreError> {
        let newer = self.cursor()?.is_none_or(|c| event_id > c);
        if newer {
            self.tree.insert(CURSOR, &event_id.to_be_bytes())?;
        }
        self.store.flush().await
    }

    /// Forgets the cursor.
    pub(crate) fn clear_cursor(&self) -> Result<(), StoreError> {
        self.tree.remove(CURSOR)?;
        Ok(())
    }

    /// The device's prompt settings (defaults: everything on).
    pub(crate) fn settings(&self) -> Result<PromptSettings, StoreError> {
        match self.tree.get(SETTINGS)? {
            None => Ok(PromptSettings::default()),
            Some(raw) => serde_json::from_slice(&raw).map_err(corrupt),
        }
    }

    /// Stores the device's prompt settings.
    pub(crate) fn set_settings(&self, settings: &PromptSettings) -> Result<(), StoreError> {
        let raw = serde_json::to_vec(settings).map_err(corrupt)?;
        self.tree.insert(SETTINGS, raw)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sightings_cursor_and_settings_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.sled");
        {
            let store = Store::open(path.clone()).await.unwrap();
            let p = PromptStore::new(&store).unwrap();
            assert!(p.first_sighting("mer_1", "k1", 3).unwrap());
            assert!(!p.first_sighting("mer_1", "k1", 4).unwrap());
            assert!(p.first_sighting("mer_2", "k1", 5).unwrap());
            p.advance(5).await.unwrap();
            p.advance(2).await.unwrap();
            assert_eq!(p.cursor().unwrap(), Some(5));
            let quiet = PromptSettings {
                show_text: true,
                speak: false,
                vibrate: false,
            };
            p.set_settings(&quiet).unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(path.clone())
            .await
            .expect("the wallet database reopens");
        let p = PromptStore::new(&store).unwrap();
        assert!(!p.first_sighting("mer_1", "k1", 9).unwrap());
        assert_eq!(p.cursor().unwrap(), Some(5));
        assert!(!p.settings().unwrap().speak);
        p.clear_cursor().unwrap();
        assert_eq!(p.cursor().unwrap(), None);
    }
}
