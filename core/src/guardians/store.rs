//! The guardian area's records in the wallet database (tree
//! `guardian_alerts`): received alerts by server event id (kept, so
//! `guardians().alerts()` works offline), the ids of alerts already handed
//! to the app (so a replayed event is never shown twice, even after a
//! restart) and the stream cursor (the last server event id handled).
//!
//! Alerts are keyed newest first (`newest/` + `u64::MAX - event_id`), so
//! the newest are read with a forward scan: sled's reverse iterator would
//! compile a 1 MiB constant into the library (see `store::receipts`).
//! Alerts kept by earlier versions under `alert/` + `event_id` are moved
//! when the tree is opened.

use crate::store::stream_tree::{Area, StreamTree};
use crate::store::StoreError;

use super::types::GuardianAlert;

const ALERT_PREFIX: &[u8] = b"newest/";
/// Where versions before schema 2 kept alerts (oldest first).
const OLD_ALERT_PREFIX: &[u8] = b"alert/";
const SEEN_PREFIX: &str = "seen/";

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::corrupt(Alerts::TREE, reason)
}

fn alert_key(event_id: u64) -> Vec<u8> {
    let mut key = ALERT_PREFIX.to_vec();
    key.extend_from_slice(&(u64::MAX - event_id).to_be_bytes());
    key
}

/// The guardian area: alerts kept under old keys are moved on open.
pub(crate) enum Alerts {}

impl Area for Alerts {
    const TREE: &'static str = "guardian_alerts";

    fn opened(tree: &sled::Tree) -> Result<(), StoreError> {
        move_old_alerts(tree)
    }
}

/// A handle on the tree. Cheap to create.
pub(crate) type AlertStore = StreamTree<Alerts>;

impl AlertStore {
    /// Keeps `alert` and marks its id seen; false (and nothing written)
    /// when an alert with this id was already kept.
    pub(crate) fn keep_first(&self, alert: &GuardianAlert) -> Result<bool, StoreError> {
        let seen = format!("{SEEN_PREFIX}{}", alert.alert_id).into_bytes();
        let first = self.mark_first(seen, &alert.event_id.to_be_bytes())?;
        if first {
            let raw = serde_json::to_vec(alert).map_err(corrupt)?;
            self.tree().insert(alert_key(alert.event_id), raw)?;
        }
        Ok(first)
    }

    /// Kept alerts, oldest first, at most `limit` of the newest.
    pub(crate) fn alerts(&self, limit: usize) -> Result<Vec<GuardianAlert>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree().scan_prefix(ALERT_PREFIX).take(limit) {
            let (_, raw) = item?;
            out.push(serde_json::from_slice(&raw).map_err(corrupt)?);
        }
        out.reverse();
        Ok(out)
    }
}

/// Moves alerts kept under the old oldest-first keys to the newest-first
/// ones, each in one batch with its removal, so a crash leaves every alert
/// under exactly one key.
fn move_old_alerts(tree: &sled::Tree) -> Result<(), StoreError> {
    for item in tree.scan_prefix(OLD_ALERT_PREFIX) {
        let (key, raw) = item?;
        let event_id: [u8; 8] = key[OLD_ALERT_PREFIX.len()..]
            .try_into()
            .map_err(|_| corrupt("old alert key is not prefix + 8 bytes"))?;
        let mut batch = sled::Batch::default();
        batch.insert(alert_key(u64::from_be_bytes(event_id)), raw);
        batch.remove(key);
        tree.apply_batch(batch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    fn alert(event_id: u64, alert_id: &str) -> GuardianAlert {
        GuardianAlert {
            event_id,
            alert_id: alert_id.into(),
            binding_id: "bnd_1".into(),
            rider_name: "Mia".into(),
            payment_id: "pay_1".into(),
            amount_minor: 200,
            currency: "CNY".into(),
            amount_text: "¥2.00".into(),
            merchant_name: "Tram".into(),
            at_ms: 1,
            local_time: "08:12".into(),
            utc_offset: "+08:00".into(),
            transit: None,
            text_en: "Mia paid".into(),
            text_zh: "Mia支付".into(),
        }
    }

    #[tokio::test]
    async fn alerts_are_kept_once_and_the_cursor_survives_a_restart() {
        let scratch = ScratchDb::new();
        {
            let store = scratch.open().await;
            let alerts = AlertStore::new(&store).unwrap();
            assert!(alerts.keep_first(&alert(3, "alr_a")).unwrap());
            assert!(!alerts.keep_first(&alert(9, "alr_a")).unwrap());
            assert!(alerts.keep_first(&alert(5, "alr_b")).unwrap());
            alerts.advance(5).await.unwrap();
            alerts.advance(4).await.unwrap();
        }
        let store = scratch.open().await;
        let alerts = AlertStore::new(&store).unwrap();
        assert_eq!(alerts.cursor().unwrap(), Some(5));
        let kept: Vec<_> = alerts
            .alerts(10)
            .unwrap()
            .into_iter()
            .map(|a| a.event_id)
            .collect();
        assert_eq!(kept, [3, 5]);
        assert_eq!(alerts.alerts(1).unwrap()[0].event_id, 5);
        assert!(!alerts.keep_first(&alert(3, "alr_a")).unwrap());
    }

    #[tokio::test]
    async fn alerts_kept_oldest_first_by_an_earlier_version_are_moved() {
        let scratch = ScratchDb::new();
        let store = scratch.open().await;
        let tree = store.tree(Alerts::TREE).unwrap();
        for id in [7u64, 2, 11] {
            let mut key = OLD_ALERT_PREFIX.to_vec();
            key.extend_from_slice(&id.to_be_bytes());
            tree.insert(
                key,
                serde_json::to_vec(&alert(id, &format!("alr_{id}"))).unwrap(),
            )
            .unwrap();
        }
        for _ in 0..2 {
            let alerts = AlertStore::new(&store).unwrap();
            let kept: Vec<_> = alerts
                .alerts(2)
                .unwrap()
                .into_iter()
                .map(|a| a.event_id)
                .collect();
            assert_eq!(kept, [7, 11]);
            assert_eq!(tree.scan_prefix(OLD_ALERT_PREFIX).count(), 0);
            assert_eq!(tree.scan_prefix(ALERT_PREFIX).count(), 3);
        }
        let mut short = OLD_ALERT_PREFIX.to_vec();
        short.push(1);
        tree.insert(short, b"{}".to_vec()).unwrap();
        assert!(AlertStore::new(&store).is_err());
    }
}
