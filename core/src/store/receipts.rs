//! Verified receipts, newest first.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Result, Store};

const TREE: &str = "receipts";

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

fn record_key(completed_at_ms: u64, payment_id: &str) -> Vec<u8> {
    let mut key = completed_at_ms.to_be_bytes().to_vec();
    key.extend_from_slice(payment_id.as_bytes());
    key
}

impl Store {
    /// Stores a verified receipt durably. Storing the same payment twice
    /// keeps one record.
    pub(crate) async fn put_receipt(&self, record: &ReceiptRecord) -> Result<()> {
        self.receipts.insert(
            record_key(record.completed_at_ms, &record.payment_id),
            encode(TREE, record)?,
        )?;
        self.flush().await
    }

    /// The newest `limit` receipts, newest first.
    pub(crate) fn recent_receipts(&self, limit: usize) -> Result<Vec<ReceiptRecord>> {
        let mut out = Vec::new();
        for item in self.receipts.iter().rev().take(limit) {
            let (_, raw) = item?;
            out.push(decode(TREE, &raw)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(path.clone()).await.unwrap();
            store.put_receipt(&record("pay_a", 5)).await.unwrap();
            store.put_receipt(&record("pay_b", 300)).await.unwrap();
            store.put_receipt(&record("pay_a", 5)).await.unwrap();
        }
        let store = Store::open(path).await.unwrap();
        let all = store.recent_receipts(10).unwrap();
        let ids: Vec<_> = all.iter().map(|r| r.payment_id.as_str()).collect();
        assert_eq!(ids, ["pay_b", "pay_a"]);
        assert_eq!(store.recent_receipts(1).unwrap().len(), 1);
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
