//! `wallet.events()`: what the app sees of the queue.

use std::sync::Arc;

use super::payments::FailedPayload;
use super::queue::{EventKind, EventQueue, StoredEvent};
use crate::error::WalletError;
use crate::guardians::GuardianAlert;
use crate::listener::WalletEventListener;
use crate::merchant::MerchantPrompt;
use crate::payments::{PaymentFailure, PaymentOutcome};
use crate::store::receipts::ReceiptRecord;
use crate::top_ups::TopUp;
use crate::wallet::WalletInner;

/// One money-relevant event, kept by the wallet until the app acknowledges
/// it. Delivered at least once: after a restart the same event (same
/// `event_id`) comes again until acknowledged, so handle it idempotently.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletEvent {
    /// Increasing id, unique in this wallet; pass it to `acknowledge`.
    pub event_id: u64,
    /// When the event was queued (Unix ms).
    pub created_at_ms: u64,
    /// What happened.
    pub body: WalletEventBody,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum WalletEventBody {
    /// A payment completed and its verified receipt is stored.
    PaymentCompleted {
        /// The payment (`terminal_done` is always empty here: the terminal's
        /// answer comes from the session call).
        outcome: PaymentOutcome,
    },
    /// The server refused a payment; nothing was charged
    /// (`failure.will_retry` is always false here).
    PaymentFailed {
        /// The payment and why it failed.
        failure: PaymentFailure,
    },
    /// A bound rider paid (this phone is the guardian).
    GuardianAlert {
        /// The alert.
        alert: GuardianAlert,
    },
    /// A merchant prompt to announce (this phone is the merchant's owner or
    /// staff); only the earliest notice of an order is queued.
    MerchantPrompt {
        /// The prompt, with its texts and how to announce it.
        prompt: MerchantPrompt,
    },
    /// An over-the-air top-up was confirmed: the money is in the wallet
    /// (balance and history show it).
    TopUpCompleted {
        /// The top-up.
        top_up: TopUp,
    },
    /// An over-the-air top-up failed at its provider: nothing was added.
    TopUpFailed {
        /// The top-up, with the provider's reason.
        top_up: TopUp,
    },
    /// An event written by a newer version of the app; acknowledge it or
    /// keep it for a later update.
    Unknown {
        /// Its kind, e.g. `guardian_alert`.
        kind: String,
    },
}

/// The persisted event queue: drain it with `pending`, confirm with
/// `acknowledge`. Get it with `wallet.events()`.
#[derive(uniffi::Object)]
pub struct EventsApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for EventsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventsApi")
    }
}

impl EventsApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }

    fn queue(&self) -> Result<EventQueue, WalletError> {
        Ok(EventQueue::new(&self.inner.opened()?.store)?)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl EventsApi {
    /// Up to `limit` events not yet acknowledged, oldest first. Reading does
    /// not remove them.
    pub fn pending(&self, limit: u32) -> Result<Vec<WalletEvent>, WalletError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self
            .queue()?
            .pending(limit)?
            .into_iter()
            .map(WalletEvent::from)
            .collect())
    }

    /// How many events wait for acknowledgement.
    pub fn pending_count(&self) -> Result<u32, WalletError> {
        Ok(u32::try_from(self.queue()?.pending_count()).unwrap_or(u32::MAX))
    }

    /// Removes a handled event for good (durably, before returning). Returns
    /// false when it was not pending (already acknowledged or unknown), so
    /// acknowledging twice is harmless.
    pub async fn acknowledge(&self, event_id: u64) -> Result<bool, WalletError> {
        Ok(self.queue()?.acknowledge(event_id).await?)
    }

    /// Sets the listener nudged (from a core thread) whenever events are
    /// queued, replacing any previous one. `wallet.close()` drops it.
    pub fn set_listener(&self, listener: Arc<dyn WalletEventListener>) {
        self.inner.events.set_listener(listener);
    }

    /// Calls the listener's `on_events_available` now, on the calling
    /// thread, with the number of pending events, and returns that number:
    /// e.g. at start-up right after `set_listener`. Returns the number
    /// without calling anything when no listener is set.
    pub fn notify_listener(&self) -> Result<u32, WalletError> {
        let pending = self.pending_count()?;
        if let Some(listener) = self.inner.events.listener() {
            if let Err(e) = listener.on_events_available(pending) {
                tracing::warn!(target: "wayfare_core::events", error = %e, "event listener failed");
            }
        }
        Ok(pending)
    }
}

impl From<StoredEvent> for WalletEvent {
    fn from(e: StoredEvent) -> Self {
        WalletEvent {
            event_id: e.event_id,
            created_at_ms: e.created_at_ms,
            body: body_from(e.kind, e.payload),
        }
    }
}

/// The exported body of a stored event; a payload that does not decode is
/// reported as `Unknown` (it can still be acknowledged).
fn body_from(kind: EventKind, payload: serde_json::Value) -> WalletEventBody {
    let unknown = |kind: &str| WalletEventBody::Unknown {
        kind: kind.to_string(),
    };
    match kind {
        EventKind::PaymentCompleted => match serde_json::from_value::<ReceiptRecord>(payload) {
            Ok(record) => WalletEventBody::PaymentCompleted {
                outcome: PaymentOutcome::from_record(record, None),
            },
            Err(_) => unknown("payment_completed"),
        },
        EventKind::PaymentFailed => match serde_json::from_value::<FailedPayload>(payload) {
            Ok(failed) => WalletEventBody::PaymentFailed {
                failure: failed.into(),
            },
            Err(_) => unknown("payment_failed"),
        },
        EventKind::GuardianAlert => match serde_json::from_value::<GuardianAlert>(payload) {
            Ok(alert) => WalletEventBody::GuardianAlert { alert },
            Err(_) => unknown("guardian_alert"),
        },
        EventKind::MerchantPrompt => match serde_json::from_value::<MerchantPrompt>(payload) {
            Ok(prompt) => WalletEventBody::MerchantPrompt { prompt },
            Err(_) => unknown("merchant_prompt"),
        },
        EventKind::TopUpCompleted => match serde_json::from_value::<TopUp>(payload) {
            Ok(top_up) => WalletEventBody::TopUpCompleted { top_up },
            Err(_) => unknown("top_up_completed"),
        },
        EventKind::TopUpFailed => match serde_json::from_value::<TopUp>(payload) {
            Ok(top_up) => WalletEventBody::TopUpFailed { top_up },
            Err(_) => unknown("top_up_failed"),
        },
        EventKind::Other(kind) => unknown(&kind),
    }
}

/// Nudges the listener if events are pending (after `open()`).
pub(crate) fn nudge_if_pending(inner: &WalletInner) {
    if let Ok(state) = inner.opened() {
        if let Ok(queue) = EventQueue::new(&state.store) {
            let pending = queue.pending_count();
            if pending > 0 {
                inner.events.nudge(pending);
            }
        }
    }
}
