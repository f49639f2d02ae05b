//! The top-up area's records in the wallet database (tree `top_ups`): the
//! references of finished top-ups already handed to the app (so a replayed
//! event or a later status check never queues one twice, even after a
//! restart) and the stream cursor (the last server event id handled).

use crate::store::{Store, StoreError};

const TREE: &str = "top_ups";
const CURSOR: &[u8] = b"cursor";
const SEEN_PREFIX: &str = "seen/";

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: TREE,
        reason: reason.to_string(),
    }
}

/// A handle on the tree. Cheap to create.
#[derive(Clone)]
pub(crate) struct TopUpStore {
    store: Store,
    tree: sled::Tree,
}

impl TopUpStore {
    /// The tree of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(TREE)?,
        })
    }

    /// Marks the finished top-up `reference` handed to the app; false when
    /// it already was.
    pub(crate) fn first_sighting(&self, reference: &str) -> Result<bool, StoreError> {
        let key = format!("{SEEN_PREFIX}{reference}").into_bytes();
        Ok(self
            .tree
            .compare_and_swap(key, None as Option<&[u8]>, Some(&b"1"[..]))?
            .is_ok())
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

    /// Moves the cursor forward (never back) and flushes everything.
    pub(crate) async fn advance(&self, event_id: u64) -> Result<(), StoreError> {
        if self.cursor()?.is_none_or(|c| event_id > c) {
            self.tree.insert(CURSOR, &event_id.to_be_bytes())?;
        }
        self.store.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sightings_and_the_cursor_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(path.clone()).await.unwrap();
            let top_ups = TopUpStore::new(&store).unwrap();
            assert!(top_ups.first_sighting("fi_1").unwrap());
            assert!(!top_ups.first_sighting("fi_1").unwrap());
            top_ups.advance(7).await.unwrap();
            top_ups.advance(3).await.unwrap();
        }
        let store = Store::open(path).await.unwrap();
        let top_ups = TopUpStore::new(&store).unwrap();
        assert_eq!(top_ups.cursor().unwrap(), Some(7));
        assert!(!top_ups.first_sighting("fi_1").unwrap());
    }
}
