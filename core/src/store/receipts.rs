//! Verified receipts, newest first.
//!
//! Keys are `u64::MAX - completed_at_ms` (big-endian) then the payment id,
//! so a forward scan reads the newest first. Schema 1 keyed them oldest
//! first and read them with sled's reverse iterator, whose unbounded end is
//! a 1 MiB constant key of 0xFF bytes compiled into the library: a fifth
//! of what an app shipped. [`migrate_to_newest_first`] moves old records.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Result, Store};

/// The tree of schema 2.
pub(super) const TREE: &str = "receipts_newest_first";
/// The tree of schema 1 (oldest first), emptied by the migration.
const TREE_V1: &str = "receipts";

/// A receipt whose server signature was verified, with what the wallet knew
/// about the payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReceiptRecord {
    /// Server payment id.
    pub payment_id: String,
    /// Idempotency key of the payment.
    pub idempotency_key: String,
    /// The COSE receipt, base64url.
    pub receipt: String,
    /// Terminal order id.
    pub order_id: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Merchant id.
    pub merchant_id: String,
    /// Merchant display name.
    pub merchant_name: String,
    /// What was paid for.
    pub description: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// Balance right after the payment.
    pub balance_after_minor: i64,
    /// Payer handle in the receipt.
    pub payer: String,
    /// When the server committed the payment (Unix ms).
    pub completed_at_ms: u64,
    /// Loyalty points spent on the payment (absent in older records).
    #[serde(default)]
    pub points_spent: u64,
    /// What the points paid, in minor units (absent in older records).
    #[serde(default)]
    pub points_value_minor: u64,
}

fn record_key(completed_at_ms: u64, payment_id: &[u8]) -> Vec<u8> {
    let mut key = (u64::MAX - completed_at_ms).to_be_bytes().to_vec();
    key.extend_from_slice(payment_id);
    key
}

/// Moves schema 1's records (`completed_at_ms` big-endian, then the payment
/// id) to the newest-first tree, then drops the old tree. Idempotent: run
/// again after a crash, it rewrites the same keys.
pub(super) fn migrate_to_newest_first(db: &sled::Db) -> Result<()> {
    if !db
        .tree_names()
        .iter()
        .any(|n| n.as_ref() == TREE_V1.as_bytes())
    {
        return Ok(());
    }
    let old = db.open_tree(TREE_V1)?;
    let new = db.open_tree(TREE)?;
    for item in old.iter() {
        let (key, raw) = item?;
        let at: [u8; 8] =
            key.get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or(super::StoreError::Corrupt {
                    tree: TREE_V1,
                    reason: "key shorter than its 8-byte time".into(),
                })?;
        new.insert(record_key(u64::from_be_bytes(at), &key[8..]), raw)?;
    }
    new.flush()?;
    db.drop_tree(TREE_V1)?;
    Ok(())
}

impl Store {
    /// Stores a verified receipt durably. Storing the same payment twice
    /// keeps one record.
    pub(crate) async fn put_receipt(&self, record: &ReceiptRecord) -> Result<()> {
        self.receipts.insert(
            record_key(record.completed_at_ms, record.payment_id.as_bytes()),
            encode(TREE, record)?,
        )?;
        self.flush().await
    }

    /// The newest `limit` receipts, newest first.
    pub(crate) fn recent_receipts(&self, limit: usize) -> Result<Vec<ReceiptRecord>> {
        let mut out = Vec::new();
        for item in self.receipts.iter().take(limit) {
            let (_, raw) = item?;
            out.push(decode(TREE, &raw)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    fn record(payment_id: &str, at: u64) -> ReceiptRecord {
        ReceiptRecord {
            payment_id: payment_id.into(),
            idempotency_key: format!("idem_{payment_id}"),
            receipt: "AAAA".into(),
            order_id: "ord".into(),
            terminal_id: "term".into(),
            merchant_id: "mer".into(),
            merchant_name: "Shop".into(),
            description: "coffee".into(),
            amount_minor: 100,
            currency: "EUR".into(),
            balance_after_minor: 900,
            payer: "rider".into(),
            completed_at_ms: at,
            points_spent: 0,
            points_value_minor: 0,
        }
    }

    #[tokio::test]
    async fn receipts_are_newest_first_deduplicated_and_durable() {
        let scratch = ScratchDb::new();
        {
            let store = scratch.open().await;
            store.put_receipt(&record("pay_a", 5)).await.unwrap();
            store.put_receipt(&record("pay_b", 300)).await.unwrap();
            store.put_receipt(&record("pay_a", 5)).await.unwrap();
        }
        let store = scratch.open().await;
        let all = store.recent_receipts(10).unwrap();
        let ids: Vec<_> = all.iter().map(|r| r.payment_id.as_str()).collect();
        assert_eq!(ids, ["pay_b", "pay_a"]);
        assert_eq!(store.recent_receipts(1).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn schema_1_receipts_are_moved_newest_first_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            // A schema-1 database: receipts oldest first in `receipts`.
            let db = sled::Config::new().path(&path).open().unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(b"schema_version", &1u32.to_be_bytes())
                .unwrap();
            let v1 = db.open_tree(TREE_V1).unwrap();
            for (id, at) in [("pay_a", 5u64), ("pay_c", 900), ("pay_b", 300)] {
                let mut key = at.to_be_bytes().to_vec();
                key.extend_from_slice(id.as_bytes());
                v1.insert(key, serde_json::to_vec(&record(id, at)).unwrap())
                    .unwrap();
            }
            db.flush().unwrap();
        }
        for _ in 0..2 {
            let store = Store::open(path.clone()).await.unwrap();
            assert_eq!(store.schema_version().unwrap(), 2);
            let ids: Vec<_> = store
                .recent_receipts(10)
                .unwrap()
                .into_iter()
                .map(|r| r.payment_id)
                .collect();
            assert_eq!(ids, ["pay_c", "pay_b", "pay_a"]);
            assert!(!store
                .db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == TREE_V1.as_bytes()));
        }
    }

    #[tokio::test]
    async fn a_schema_1_key_too_short_for_its_time_is_reported_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = sled::Config::new().path(&path).open().unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(b"schema_version", &1u32.to_be_bytes())
                .unwrap();
            db.open_tree(TREE_V1)
                .unwrap()
                .insert(b"short", b"{}".to_vec())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(path.clone()).await.err().unwrap();
        assert!(err.to_string().contains("8-byte time"), "{err}");
    }

    #[test]
    fn a_record_stored_before_points_reads_as_no_points() {
        let mut old = serde_json::to_value(record("pay_old", 1)).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("points_spent");
        fields.remove("points_value_minor");
        let bytes = serde_json::to_vec(&old).unwrap();
        let read: ReceiptRecord = crate::store::decode(TREE, &bytes).unwrap();
        assert_eq!(read, record("pay_old", 1));
    }
}
