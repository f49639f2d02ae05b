//! Alert delivery to the guardian's phone: the device's server-sent-event
//! stream (`GET /v1/devices/me/events`), resumed with `Last-Event-ID` from
//! the stored cursor, filtered to `guardian.alert` events. Each alert is
//! queued in the wallet's persisted event queue, kept in the alert store and
//! marked seen (by alert id) before the cursor moves past it, so an alert
//! made while the phone was offline arrives after reconnecting, and the app
//! sees it exactly once even across crashes and replays.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::Url;
use wayfare_protocol::ids::redact;
use wayfare_protocol::request_auth::sign_request;

use super::store::AlertStore;
use super::types::{GuardianAlert, WireAlert};
use crate::clock::now_ms;
use crate::error::WalletError;
use crate::events::{EventKind, EventQueue};
use crate::listener::notify;
use crate::wallet::WalletInner;

/// The kind of the server's alert events.
pub(crate) const ALERT_KIND: &str = "guardian.alert";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Events = Pin<
    Box<
        dyn Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

fn network(reason: impl std::fmt::Display) -> WalletError {
    WalletError::Network {
        retryable: true,
        reason: format!("alert stream: {reason}"),
    }
}

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
    events: tokio::sync::Mutex<Option<Events>>,
    cancel: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for GuardianAlertStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardianAlertStream")
    }
}

impl GuardianAlertStream {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        let (cancel, _) = tokio::sync::watch::channel(false);
        Self {
            inner,
            events: tokio::sync::Mutex::new(None),
            cancel,
        }
    }

    async fn connect(&self, after: Option<u64>) -> Result<Events, WalletError> {
        let (_, id) = self.inner.device()?;
        let mut base = Url::parse(&self.inner.config.server_url)
            .map_err(|e| WalletError::invalid(format!("server URL: {e}")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let url = base
            .join("v1/devices/me/events")
            .map_err(|e| WalletError::invalid(format!("server URL: {e}")))?;
        let signature = sign_request(&id.key, &id.device_id, "GET", url.path(), b"", now_ms())
            .map_err(|e| WalletError::Server {
                code: "signing_failed".into(),
                reason: e.to_string(),
            })?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(network)?;
        let mut request = client.get(url).header("accept", "text/event-stream");
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        if let Some(after) = after {
            request = request.header("last-event-id", after.to_string());
        }
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            return Err(if status.is_server_error() {
                network(format!("the server answered {status}"))
            } else {
                WalletError::Server {
                    code: "stream_refused".into(),
                    reason: format!("the server refused the alert stream ({status})"),
                }
            });
        }
        tracing::debug!(target: "wayfare_core::guardians", device = %redact(&id.device_id), ?after, "alert stream connected");
        Ok(Box::pin(response.bytes_stream().eventsource()))
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

    async fn next_inner(&self) -> Result<GuardianAlert, WalletError> {
        let mut slot = self.events.lock().await;
        loop {
            let events = match slot.as_mut() {
                Some(events) => events,
                None => {
                    let state = self.inner.opened()?;
                    let after = AlertStore::new(&state.store)?.cursor()?;
                    slot.insert(self.connect(after).await?)
                }
            };
            match events.next().await {
                Some(Ok(event)) => {
                    if let Some(alert) = self.handle(event).await? {
                        return Ok(alert);
                    }
                }
                Some(Err(e)) => {
                    *slot = None;
                    return Err(network(e));
                }
                None => {
                    *slot = None;
                    return Err(network(
                        "the server closed the stream; call next() again to resume",
                    ));
                }
            }
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl GuardianAlertStream {
    /// Waits for the next new alert (alerts already seen are dropped
    /// silently). Connects, or resumes after the last event handled, as
    /// needed. A `Network` error means the connection ended: call `next()`
    /// again (after a pause) to resume; nothing is lost.
    pub async fn next(&self) -> Result<GuardianAlert, WalletError> {
        let mut cancelled = self.cancel.subscribe();
        if *cancelled.borrow() {
            return Err(WalletError::Cancelled);
        }
        tokio::select! {
            result = self.next_inner() => result,
            _ = cancelled.wait_for(|c| *c) => Err(WalletError::Cancelled),
        }
    }

    /// Ends the stream: a waiting `next()` returns `Cancelled`, and so does
    /// every later call. Get a new stream from `guardians().alert_stream()`.
    pub fn cancel(&self) {
        let _ = self.cancel.send(true);
    }
}
