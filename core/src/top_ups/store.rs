//! The top-up area's records in the wallet database (tree `top_ups`): the
//! references of finished top-ups already handed to the app (so a replayed
//! event or a later status check never queues one twice, even after a
//! restart) and the stream cursor (the last server event id handled).

use crate::store::stream_tree::{Area, StreamTree};
use crate::store::StoreError;

const SEEN_PREFIX: &str = "seen/";

/// The top-up area.
pub(crate) enum TopUps {}

impl Area for TopUps {
    const TREE: &'static str = "top_ups";
}

/// A handle on the tree. Cheap to create.
pub(crate) type TopUpStore = StreamTree<TopUps>;

impl TopUpStore {
    /// Marks the finished top-up `reference` handed to the app; false when
    /// it already was.
    pub(crate) fn first_sighting(&self, reference: &str) -> Result<bool, StoreError> {
        self.mark_first(format!("{SEEN_PREFIX}{reference}").into_bytes(), b"1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    #[tokio::test]
    async fn sightings_and_the_cursor_survive_a_restart() {
        let scratch = ScratchDb::new();
        {
            let store = scratch.open().await;
            let top_ups = TopUpStore::new(&store).unwrap();
            assert!(top_ups.first_sighting("fi_1").unwrap());
            assert!(!top_ups.first_sighting("fi_1").unwrap());
            top_ups.advance(7).await.unwrap();
            top_ups.advance(3).await.unwrap();
        }
        let store = scratch.open().await;
        let top_ups = TopUpStore::new(&store).unwrap();
        assert_eq!(top_ups.cursor().unwrap(), Some(7));
        assert!(!top_ups.first_sighting("fi_1").unwrap());
    }
}
