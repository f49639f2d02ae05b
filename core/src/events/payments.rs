//! The payment events: queued by `payments::execute::submit` at the moment
//! the outcome is known, before the intent leaves the pending state.

use serde::{Deserialize, Serialize};
use wayfare_protocol::ids::redact;

use super::queue::{EventKind, EventQueue};
use crate::payments::PaymentFailure;
use crate::store::outbox::PaymentIntent;
use crate::store::receipts::ReceiptRecord;
use crate::store::{Store, StoreError};
use crate::wallet::WalletInner;

/// Payload of a `payment_failed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailedPayload {
    pub idempotency_key: String,
    pub order_id: String,
    pub amount_minor: u64,
    pub currency: String,
    pub error: String,
}

impl From<FailedPayload> for PaymentFailure {
    fn from(p: FailedPayload) -> Self {
        PaymentFailure {
            idempotency_key: p.idempotency_key,
            order_id: p.order_id,
            amount_minor: p.amount_minor,
            currency: p.currency,
            error: p.error,
            will_retry: false,
        }
    }
}

/// Queues "payment completed" once per payment (a settlement re-run after a
/// crash finds the same receipt and queues nothing new) and nudges.
pub(crate) async fn queue_completed(
    inner: &WalletInner,
    store: &Store,
    record: &ReceiptRecord,
) -> Result<(), StoreError> {
    let queue = EventQueue::new(store)?;
    let key = format!("payment_completed:{}", record.idempotency_key);
    queue
        .push_once(EventKind::PaymentCompleted, &key, record)
        .await?;
    tracing::debug!(target: "wayfare_core::events", payment = %redact(&record.payment_id), "payment completed event queued");
    inner.events.nudge(queue.pending_count());
    Ok(())
}

/// Queues "payment failed" (definitive: nothing was charged) once per
/// payment and nudges.
pub(crate) async fn queue_failed(
    inner: &WalletInner,
    store: &Store,
    intent: &PaymentIntent,
    error: String,
) -> Result<(), StoreError> {
    let queue = EventQueue::new(store)?;
    let key = format!("payment_failed:{}", intent.idempotency_key);
    let payload = FailedPayload {
        idempotency_key: intent.idempotency_key.clone(),
        order_id: intent.order_id.clone(),
        amount_minor: intent.amount_minor,
        currency: intent.currency.clone(),
        error,
    };
    queue
        .push_once(EventKind::PaymentFailed, &key, &payload)
        .await?;
    inner.events.nudge(queue.pending_count());
    Ok(())
}
