//! Alert delivery to the guardian's phone: the device's server-sent-event
//! stream (`GET /v1/devices/me/events`), resumed with `Last-Event-ID` from
//! the stored cursor, filtered to `guardian.alert` events. Each alert is
//! queued in the wallet's persisted event queue, kept in the alert store and
//! marked seen (by alert id) before the cursor moves past it, so an alert
//! made while the phone was offline arrives after reconnecting, and the app
//! sees it exactly once even across crashes and replays.

use std::sync::Arc;

use wayfare_protocol::ids::redact;

use super::store::AlertStore;
use super::types::{GuardianAlert, WireAlert};
use crate::device_events::{DeviceEventReader, DeviceEventStream, RefusalCode};
use crate::error::WalletError;
use crate::events::{EventKind, EventQueue};
use crate::listener::notify;
use crate::wallet::WalletInner;

/// The kind of the server's alert events.
pub(crate) const ALERT_KIND: &str = "guardian.alert";

/// Hands one alert to the app unless it was seen before: queued (once per
/// alert id), kept, marked seen, listener called. Returns it when new. The
/// caller advances the cursor afterwards.
pub(crate) async fn deliver(
    inner: &WalletInner,
    alert: GuardianAlert,
) -> Result<Option<GuardianAlert>, WalletError> {
    let state = inner.opened()?;
    let store = AlertStore::new(&state.store)?;
    let queue = EventQueue::new(&state.store)?;
    queue
        .push_once(
            EventKind::GuardianAlert,
            &format!("guardian_alert:{}", alert.alert_id),
            &alert,
        )
        .await?;
    if !store.keep_first(&alert)? {
        tracing::debug!(target: "wayfare_core::guardians", event = alert.event_id, "duplicate alert dropped");
        return Ok(None);
    }
    crate::events::nudge_if_pending(inner);
    tracing::info!(target: "wayfare_core::guardians", event = alert.event_id, alert = %redact(&alert.alert_id), "guardian alert received");
    let copy = alert.clone();
    notify(inner.listener(), |l| l.on_guardian_alert(copy));
    Ok(Some(alert))
}

/// The guardian's live alerts. Get one with `wallet.guardians().alert_stream()`;
/// call `next()` in a loop. Dropping it (or `cancel()`) closes the
/// connection.
#[derive(uniffi::Object)]
pub struct GuardianAlertStream {
    inner: Arc<WalletInner>,
    events: DeviceEventStream,
}

impl std::fmt::Debug for GuardianAlertStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardianAlertStream")
    }
}

impl GuardianAlertStream {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self {
            events: DeviceEventStream::new(inner.clone()),
            inner,
        }
    }
}

impl DeviceEventReader for GuardianAlertStream {
    type Item = GuardianAlert;
    const NAME: &'static str = "alert stream";
    const REFUSAL: RefusalCode = RefusalCode::Fixed("stream_refused");

    fn cursor(&self) -> Result<Option<u64>, WalletError> {
        let state = self.inner.opened()?;
        Ok(AlertStore::new(&state.store)?.cursor()?)
    }

    fn connected(&self, device_id: &str, after: Option<u64>) {
        tracing::debug!(target: "wayfare_core::guardians", device = %redact(device_id), ?after, "alert stream connected");
    }

    /// Handles one server event; `Some` for a new alert.
    async fn handle(
        &self,
        event: eventsource_stream::Event,
    ) -> Result<Option<GuardianAlert>, WalletError> {
        let state = self.inner.opened()?;
        let store = AlertStore::new(&state.store)?;
        let Ok(event_id) = event.id.trim().parse::<u64>() else {
            return Ok(None);
        };
        if event.event != ALERT_KIND {
            store.advance(event_id).await?;
            return Ok(None);
        }
        let wire: WireAlert = match serde_json::from_str(&event.data) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(target: "wayfare_core::guardians", event = event_id, error = %e, "unreadable alert skipped");
                store.advance(event_id).await?;
                return Ok(None);
            }
        };
        let delivered = deliver(&self.inner, wire.into_alert(event_id)).await?;
        store.advance(event_id).await?;
        Ok(delivered)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl GuardianAlertStream {
    /// Waits for the next new alert (alerts already seen are dropped
    /// silently). Connects, or resumes after the last event handled, as
    /// needed. A `Network` error means the connection ended: call `next()`
    /// again (after a pause) to resume; nothing is lost.
    pub async fn next(&self) -> Result<GuardianAlert, WalletError> {
        self.events.next(self).await
    }

    /// Ends the stream: a waiting `next()` returns `Cancelled`, and so does
    /// every later call. Get a new stream from `guardians().alert_stream()`.
    pub fn cancel(&self) {
        self.events.cancel();
    }
}
