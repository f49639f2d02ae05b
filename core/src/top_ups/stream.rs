//! The wallet hears that a top-up ended: the device's server-sent-event
//! stream (`GET /v1/devices/me/events`, resumed with `Last-Event-ID` from
//! the stored cursor), filtered to `top_up.completed` and `top_up.failed`.
//! Each is queued in the wallet's persisted event queue (`TopUpCompleted` /
//! `TopUpFailed`, once per reference) before the cursor moves past it, so
//! the app learns of every top-up exactly once, across crashes and replays.

use std::sync::Arc;

use wayfare_protocol::ids::redact;

use super::store::TopUpStore;
use super::types::{TopUp, TopUpStatus, WireEvent};
use crate::device_events::{DeviceEventReader, DeviceEventStream, RefusalCode};
use crate::error::WalletError;
use crate::events::{EventKind, EventQueue};
use crate::wallet::WalletInner;

/// The server's event kinds of finished top-ups.
const COMPLETED_KIND: &str = "top_up.completed";
const FAILED_KIND: &str = "top_up.failed";

/// Queues the event of a finished top-up (once per reference) and nudges
/// the app; returns it when this is the first time. Pending top-ups are not
/// events.
pub(crate) async fn deliver(inner: &WalletInner, top_up: &TopUp) -> Result<bool, WalletError> {
    let kind = match top_up.status {
        TopUpStatus::Confirmed => EventKind::TopUpCompleted,
        TopUpStatus::Failed => EventKind::TopUpFailed,
        TopUpStatus::Pending | TopUpStatus::Expired => return Ok(false),
    };
    let state = inner.opened()?;
    let queue = EventQueue::new(&state.store)?;
    // Queued first, then marked seen: a crash in between re-runs this and
    // push_once stores nothing new.
    queue
        .push_once(kind, &format!("top_up:{}", top_up.reference), top_up)
        .await?;
    let first = TopUpStore::new(&state.store)?.first_sighting(&top_up.reference)?;
    if first {
        crate::events::nudge_if_pending(inner);
        tracing::info!(target: "wayfare_core::top_ups", reference = %redact(&top_up.reference), status = ?top_up.status, "top-up finished");
    }
    Ok(first)
}

/// The wallet's live top-up outcomes. Get one with
/// `wallet.account().top_up_stream()`; call `next()` in a loop while a
/// top-up is pending. Dropping it (or `cancel()`) closes the connection.
#[derive(uniffi::Object)]
pub struct TopUpStream {
    inner: Arc<WalletInner>,
    events: DeviceEventStream,
}

impl std::fmt::Debug for TopUpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopUpStream")
    }
}

impl TopUpStream {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self {
            events: DeviceEventStream::new(inner.clone()),
            inner,
        }
    }
}

impl DeviceEventReader for TopUpStream {
    type Item = TopUp;
    const NAME: &'static str = "top-up stream";
    const REFUSAL: RefusalCode = RefusalCode::FromBody;

    fn cursor(&self) -> Result<Option<u64>, WalletError> {
        let state = self.inner.opened()?;
        Ok(TopUpStore::new(&state.store)?.cursor()?)
    }

    fn connected(&self, device_id: &str, after: Option<u64>) {
        tracing::debug!(target: "wayfare_core::top_ups", device = %redact(device_id), ?after, "top-up stream connected");
    }

    /// Handles one server event; `Some` for a top-up that just finished.
    async fn handle(&self, event: eventsource_stream::Event) -> Result<Option<TopUp>, WalletError> {
        let state = self.inner.opened()?;
        let store = TopUpStore::new(&state.store)?;
        let Ok(event_id) = event.id.trim().parse::<u64>() else {
            return Ok(None);
        };
        if event.event != COMPLETED_KIND && event.event != FAILED_KIND {
            store.advance(event_id).await?;
            return Ok(None);
        }
        let top_up = match serde_json::from_str::<WireEvent>(&event.data) {
            Ok(wire) => wire.top_up(),
            Err(e) => {
                tracing::warn!(target: "wayfare_core::top_ups", event = event_id, error = %e, "unreadable top-up event skipped");
                store.advance(event_id).await?;
                return Ok(None);
            }
        };
        let first = deliver(&self.inner, &top_up).await?;
        store.advance(event_id).await?;
        Ok(first.then_some(top_up))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl TopUpStream {
    /// Waits for the next top-up that finishes (confirmed or failed); each
    /// is also queued as a `TopUpCompleted` / `TopUpFailed` wallet event.
    /// Connects, or resumes after the last event handled, as needed. A
    /// `Network` error means the connection ended: call `next()` again
    /// (after a pause) to resume; nothing is lost.
    pub async fn next(&self) -> Result<TopUp, WalletError> {
        self.events.next(self).await
    }

    /// Ends the stream: a waiting `next()` returns `Cancelled`, and so does
    /// every later call. Get a new one from `account().top_up_stream()`.
    pub fn cancel(&self) {
        self.events.cancel();
    }
}
