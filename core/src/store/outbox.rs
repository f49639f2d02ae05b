//! The payment outbox: a payment intent is recorded (and flushed) before
//! the server is called, so a crash, a lost link or a lost response never
//! leaves a payment ambiguous. Pending intents are re-sent with the same
//! idempotency key and the same signed instruction until the server gives a
//! definitive answer.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Result, Store};

const TREE: &str = "outbox";

/// Where an intent stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum IntentState {
    /// Recorded; the server's answer is not known yet.
    Pending,
    /// The server completed the payment; the receipt is stored.
    Completed {
        /// Server payment id.
        payment_id: String,
    },
    /// The server refused definitively; nothing was charged.
    Failed {
        /// Stable error code from the server.
        code: String,
        /// The server's explanation.
        reason: String,
    },
}

/// A payment the user authorised, with the exact signed instruction sent
/// (and re-sent) to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentIntent {
    /// Idempotency key (also the record key).
    pub idempotency_key: String,
    /// The device-signed COSE instruction, base64url: re-sent byte for byte.
    pub instruction: String,
    /// Terminal order id.
    pub order_id: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Merchant id.
    pub merchant_id: String,
    /// Merchant display name.
    pub merchant_name: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// What is paid for.
    pub description: String,
    /// The terminal's deadline (Unix ms).
    pub expires_at_ms: u64,
    /// When the intent was recorded (Unix ms).
    pub created_at_ms: u64,
    /// How many times it was sent to the server.
    pub attempts: u32,
    /// The last transient error, for diagnostics.
    pub last_error: Option<String>,
    /// Current state.
    pub state: IntentState,
    /// Loyalty points the signed instruction spends (absent in older
    /// intents: none).
    #[serde(default)]
    pub points_spent: u64,
}

impl Store {
    /// The intent with this idempotency key, if any.
    pub(crate) fn intent(&self, idempotency_key: &str) -> Result<Option<PaymentIntent>> {
        match self.outbox.get(idempotency_key.as_bytes())? {
            None => Ok(None),
            Some(raw) => decode(TREE, &raw).map(Some),
        }
    }

    /// Writes an intent (new or updated) and flushes it to disk before
    /// returning: the caller may talk to the server only afterwards.
    pub(crate) async fn put_intent(&self, intent: &PaymentIntent) -> Result<()> {
        self.outbox
            .insert(intent.idempotency_key.as_bytes(), encode(TREE, intent)?)?;
        self.flush().await
    }

    /// All intents still waiting for a definitive answer, oldest first.
    pub(crate) fn pending_intents(&self) -> Result<Vec<PaymentIntent>> {
        let mut out = Vec::new();
        for item in self.outbox.iter() {
            let (_, raw) = item?;
            let intent: PaymentIntent = decode(TREE, &raw)?;
            if intent.state == IntentState::Pending {
                out.push(intent);
            }
        }
        out.sort_by_key(|i| i.created_at_ms);
        Ok(out)
    }

    /// How many intents are pending.
    pub(crate) fn pending_count(&self) -> Result<u32> {
        Ok(u32::try_from(self.pending_intents()?.len()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    pub(crate) fn intent(key: &str, created_at_ms: u64) -> PaymentIntent {
        PaymentIntent {
            idempotency_key: key.into(),
            instruction: "AAAA".into(),
            order_id: "ord_1".into(),
            terminal_id: "term_1".into(),
            merchant_id: "mer_1".into(),
            merchant_name: "Shop".into(),
            amount_minor: 250,
            currency: "EUR".into(),
            description: "coffee".into(),
            expires_at_ms: 10_000,
            created_at_ms,
            attempts: 0,
            last_error: None,
            state: IntentState::Pending,
            points_spent: 0,
        }
    }

    #[tokio::test]
    async fn intent_survives_reopen_and_states_are_tracked() {
        let scratch = ScratchDb::new();
        {
            let store = scratch.open().await;
            store.put_intent(&intent("idem_b", 2)).await.unwrap();
            store.put_intent(&intent("idem_a", 1)).await.unwrap();
            store.put_intent(&intent("idem_c", 3)).await.unwrap();
            assert_eq!(store.pending_count().unwrap(), 3);
        }
        let store = scratch.open().await;
        let pending = store.pending_intents().unwrap();
        let keys: Vec<_> = pending.iter().map(|i| i.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["idem_a", "idem_b", "idem_c"]);
        assert_eq!(pending[0], intent("idem_a", 1));

        let mut done = pending[0].clone();
        done.state = IntentState::Completed {
            payment_id: "pay_1".into(),
        };
        store.put_intent(&done).await.unwrap();
        let mut failed = pending[1].clone();
        failed.state = IntentState::Failed {
            code: "insufficient_funds".into(),
            reason: "top up".into(),
        };
        store.put_intent(&failed).await.unwrap();
        let mut retried = pending[2].clone();
        retried.attempts = 2;
        retried.last_error = Some("connection refused".into());
        store.put_intent(&retried).await.unwrap();
        drop(store);

        let store = scratch.open().await;
        assert_eq!(store.pending_count().unwrap(), 1);
        assert_eq!(store.intent("idem_a").unwrap().unwrap().state, done.state);
        assert_eq!(store.intent("idem_b").unwrap().unwrap().state, failed.state);
        assert_eq!(store.intent("idem_c").unwrap().unwrap().attempts, 2);
        assert_eq!(store.intent("idem_x").unwrap(), None);
    }
}
