//! The persisted queue itself: two sled trees in the wallet database.
//!
//! - `events`: big-endian event id → [`StoredEvent`] (JSON), oldest first;
//! - `event_keys`: deduplication key → event id (kept after acknowledgement).

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::store::{Store, StoreError};

const EVENTS: &str = "events";
const EVENT_KEYS: &str = "event_keys";

/// What an event is about. Stored as a snake_case string, so kinds added
/// later are readable (as `Other`) by older builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// A payment completed; payload: `store::receipts::ReceiptRecord`.
    PaymentCompleted,
    /// The server definitively refused a recorded payment; payload:
    /// `api::FailedPayload`.
    PaymentFailed,
    /// A guardian alert arrived; payload: `guardians::GuardianAlert`.
    GuardianAlert,
    /// A merchant prompt arrived (the first of its order); payload:
    /// `merchant::MerchantPrompt`.
    MerchantPrompt,
    /// A top-up was confirmed; payload: `top_ups::TopUp`.
    TopUpCompleted,
    /// A top-up failed at its provider; payload: `top_ups::TopUp`.
    TopUpFailed,
    /// A kind this build does not know.
    #[serde(untagged)]
    Other(String),
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    /// Increasing id (sled's monotonic id generator), unique in the wallet.
    pub event_id: u64,
    /// What it is about.
    pub kind: EventKind,
    /// When it was queued (Unix ms).
    pub created_at_ms: u64,
    /// The kind's payload.
    pub payload: serde_json::Value,
}

/// A handle on the queue in an open wallet database. Cheap to create.
#[derive(Clone)]
pub(crate) struct EventQueue {
    store: Store,
    events: sled::Tree,
    keys: sled::Tree,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventQueue")
    }
}

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: EVENTS,
        reason: reason.to_string(),
    }
}

impl EventQueue {
    /// The queue of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            events: store.tree(EVENTS)?,
            keys: store.tree(EVENT_KEYS)?,
        })
    }

    /// Queues an event and flushes it to disk; returns its id. (For the
    /// guardian and merchant areas; payments use `push_once`.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) async fn push<T: Serialize>(
        &self,
        kind: EventKind,
        payload: &T,
    ) -> Result<u64, StoreError> {
        let id = self.insert(kind, payload, None)?;
        self.store.flush().await?;
        Ok(id)
    }

    /// Queues an event unless one with `dedup_key` was queued before (even
    /// if acknowledged since); returns the id of the event with that key.
    pub(crate) async fn push_once<T: Serialize>(
        &self,
        kind: EventKind,
        dedup_key: &str,
        payload: &T,
    ) -> Result<u64, StoreError> {
        let id = self.insert(kind, payload, Some(dedup_key))?;
        self.store.flush().await?;
        Ok(id)
    }

    fn insert<T: Serialize>(
        &self,
        kind: EventKind,
        payload: &T,
        dedup_key: Option<&str>,
    ) -> Result<u64, StoreError> {
        let payload = serde_json::to_value(payload).map_err(corrupt)?;
        let db_id = self.store.generate_id()?;
        let event = StoredEvent {
            event_id: db_id,
            kind,
            created_at_ms: now_ms(),
            payload,
        };
        let value = serde_json::to_vec(&event).map_err(corrupt)?;
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional;
        let result = (&self.events, &self.keys).transaction(|(events, keys)| {
            if let Some(key) = dedup_key {
                if let Some(existing) = keys.get(key.as_bytes())? {
                    let bytes: [u8; 8] = existing.as_ref().try_into().map_err(|_| {
                        ConflictableTransactionError::Abort(corrupt("event key is not 8 bytes"))
                    })?;
                    return Ok(u64::from_be_bytes(bytes));
                }
                keys.insert(key.as_bytes(), &db_id.to_be_bytes())?;
            }
            events.insert(&db_id.to_be_bytes(), value.as_slice())?;
            Ok(db_id)
        });
        match result {
            Ok(id) => {
                if id == db_id {
                    tracing::debug!(target: "wayfare_core::events", event = id, "event queued");
                }
                Ok(id)
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Up to `limit` unacknowledged events, oldest first.
    pub(crate) fn pending(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.events
            .iter()
            .values()
            .take(limit)
            .map(|raw| serde_json::from_slice(&raw?).map_err(corrupt))
            .collect()
    }

    /// How many events wait for acknowledgement.
    pub(crate) fn pending_count(&self) -> usize {
        self.events.len()
    }

    /// Removes an event for good and flushes; false when it was not pending
    /// (unknown or already acknowledged).
    pub(crate) async fn acknowledge(&self, event_id: u64) -> Result<bool, StoreError> {
        let removed = self.events.remove(event_id.to_be_bytes())?.is_some();
        if removed {
            self.store.flush().await?;
            tracing::debug!(target: "wayfare_core::events", event = event_id, "event acknowledged");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;

    #[tokio::test]
    async fn events_persist_in_order_until_acknowledged_and_deduplicate() {
        let scratch = ScratchDb::new();
        let (first, second) = {
            let store = scratch.open().await;
            let q = EventQueue::new(&store).unwrap();
            let first = q
                .push_once(
                    EventKind::PaymentCompleted,
                    "k1",
                    &serde_json::json!({"a": 1}),
                )
                .await
                .unwrap();
            let again = q
                .push_once(
                    EventKind::PaymentCompleted,
                    "k1",
                    &serde_json::json!({"a": 2}),
                )
                .await
                .unwrap();
            assert_eq!(first, again);
            let second = q
                .push(EventKind::Other("future_kind".into()), &"x")
                .await
                .unwrap();
            assert!(second > first);
            (first, second)
        };
        // Reopened: both still pending, oldest first (a restart loses nothing).
        let store = scratch.open().await;
        let q = EventQueue::new(&store).unwrap();
        let pending = q.pending(10).unwrap();
        assert_eq!(
            pending.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            vec![first, second]
        );
        assert_eq!(pending[0].payload, serde_json::json!({"a": 1}));
        assert_eq!(pending[1].kind, EventKind::Other("future_kind".into()));
        assert_eq!(q.pending(1).unwrap().len(), 1);
        assert!(q.acknowledge(first).await.unwrap());
        assert!(!q.acknowledge(first).await.unwrap());
        // Acknowledged keys stay deduplicated.
        q.push_once(EventKind::PaymentCompleted, "k1", &1)
            .await
            .unwrap();
        assert_eq!(q.pending_count(), 1);
    }

    #[test]
    fn unknown_kinds_round_trip_as_other() {
        let kind: EventKind = serde_json::from_str("\"loyalty_reward\"").unwrap();
        assert_eq!(kind, EventKind::Other("loyalty_reward".into()));
        let merchant: EventKind = serde_json::from_str("\"merchant_prompt\"").unwrap();
        assert_eq!(merchant, EventKind::MerchantPrompt);
        let known: EventKind = serde_json::from_str("\"payment_failed\"").unwrap();
        assert_eq!(known, EventKind::PaymentFailed);
        assert_eq!(
            serde_json::to_string(&EventKind::Other("x".into())).unwrap(),
            "\"x\""
        );
    }
}
