//! The tree of an area that follows a server event stream (guardian alerts,
//! merchant prompts, top-up outcomes): each keeps, in its own tree, the
//! stream cursor (the last server event id handled, under `cursor`) and
//! first-sighting marks (so a replayed event is handed to the app once,
//! even after a restart). The areas differ only in their tree's name, their
//! keys and what else they keep beside, so this is written once here.

use std::marker::PhantomData;

use super::{Result, Store, StoreError};

const CURSOR: &[u8] = b"cursor";

/// An area that follows a stream: its tree, and what it does when the tree
/// is opened. The area's own records are methods on `StreamTree<Area>`.
pub(crate) trait Area {
    /// The tree's name.
    const TREE: &'static str;

    /// Brings records written by earlier versions up to date (nothing by
    /// default).
    fn opened(_tree: &sled::Tree) -> Result<()> {
        Ok(())
    }
}

/// One area's tree and the store it belongs to (for flushing). Cheap to
/// create.
pub(crate) struct StreamTree<A> {
    store: Store,
    tree: sled::Tree,
    area: PhantomData<A>,
}

impl<A: Area> StreamTree<A> {
    /// The area's tree of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self> {
        let tree = store.tree(A::TREE)?;
        A::opened(&tree)?;
        Ok(Self {
            store: store.clone(),
            tree,
            area: PhantomData,
        })
    }

    /// The sled tree, for the area's own records.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// A record of this tree that could not be decoded.
    pub(crate) fn corrupt(&self, reason: impl ToString) -> StoreError {
        StoreError::corrupt(A::TREE, reason)
    }

    /// Writes `value` under `key` unless something is there already: true
    /// when this is the first sighting (and it was written).
    pub(crate) fn mark_first(&self, key: Vec<u8>, value: &[u8]) -> Result<bool> {
        Ok(self
            .tree
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))?
            .is_ok())
    }

    /// The last server event id handled.
    pub(crate) fn cursor(&self) -> Result<Option<u64>> {
        match self.tree.get(CURSOR)? {
            None => Ok(None),
            Some(raw) => {
                let bytes: [u8; 8] = raw
                    .as_ref()
                    .try_into()
                    .map_err(|_| self.corrupt("cursor is not 8 bytes"))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// Moves the cursor forward (never back) and flushes everything.
    pub(crate) async fn advance(&self, event_id: u64) -> Result<()> {
        if self.cursor()?.is_none_or(|c| event_id > c) {
            self.tree.insert(CURSOR, &event_id.to_be_bytes())?;
        }
        self.store.flush().await
    }

    /// Forgets the cursor (the stream starts again from the server's
    /// oldest kept event).
    pub(crate) fn clear_cursor(&self) -> Result<()> {
        self.tree.remove(CURSOR)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    enum Test {}

    impl Area for Test {
        const TREE: &'static str = "area";
    }

    #[tokio::test]
    async fn the_cursor_only_moves_forward_and_a_short_one_is_corrupt() {
        let scratch = ScratchDb::new();
        let store = scratch.open().await;
        let area = StreamTree::<Test>::new(&store).unwrap();
        assert_eq!(area.cursor().unwrap(), None);
        area.advance(5).await.unwrap();
        area.advance(4).await.unwrap();
        assert_eq!(area.cursor().unwrap(), Some(5));
        assert!(area.mark_first(b"seen/a".to_vec(), b"1").unwrap());
        assert!(!area.mark_first(b"seen/a".to_vec(), b"2").unwrap());
        area.clear_cursor().unwrap();
        assert_eq!(area.cursor().unwrap(), None);
        area.tree().insert(CURSOR, &[1u8][..]).unwrap();
        assert!(matches!(
            area.cursor(),
            Err(StoreError::Corrupt { tree: "area", .. })
        ));
    }
}
