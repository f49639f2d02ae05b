//! The merchant area's records in the wallet database (tree
//! `merchant_prompts`): the order keys already announced (kept, so a later
//! copy is dropped even after a restart), the stream cursor (the last
//! server event id handled) and the device's prompt settings.

use crate::store::stream_tree::{Area, StreamTree};
use crate::store::StoreError;

use super::types::PromptSettings;

const SETTINGS: &[u8] = b"settings";

/// The merchant area.
pub(crate) enum Prompts {}

impl Area for Prompts {
    const TREE: &'static str = "merchant_prompts";
}

/// A handle on the tree. Cheap to create.
pub(crate) type PromptStore = StreamTree<Prompts>;

impl PromptStore {
    /// Records the order key as announced; false when it was already.
    pub(crate) fn first_sighting(
        &self,
        merchant_id: &str,
        dedupe_key: &str,
        event_id: u64,
    ) -> Result<bool, StoreError> {
        let key = format!("seen/{merchant_id}/{dedupe_key}").into_bytes();
        self.mark_first(key, &event_id.to_be_bytes())
    }

    /// The device's prompt settings (defaults: everything on).
    pub(crate) fn settings(&self) -> Result<PromptSettings, StoreError> {
        match self.tree().get(SETTINGS)? {
            None => Ok(PromptSettings::default()),
            Some(raw) => serde_json::from_slice(&raw).map_err(|e| self.corrupt(e)),
        }
    }

    /// Stores the device's prompt settings.
    pub(crate) fn set_settings(&self, settings: &PromptSettings) -> Result<(), StoreError> {
        let raw = serde_json::to_vec(settings).map_err(|e| self.corrupt(e))?;
        self.tree().insert(SETTINGS, raw)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    #[tokio::test]
    async fn sightings_cursor_and_settings_survive_a_reopen() {
        let scratch = ScratchDb::new();
        {
            let store = scratch.open().await;
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
        let store = scratch.open().await;
        let p = PromptStore::new(&store).unwrap();
        assert!(!p.first_sighting("mer_1", "k1", 9).unwrap());
        assert_eq!(p.cursor().unwrap(), Some(5));
        assert!(!p.settings().unwrap().speak);
        p.clear_cursor().unwrap();
        assert_eq!(p.cursor().unwrap(), None);
    }
}
