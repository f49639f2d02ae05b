//! The server's push of completed payments (P2): a background SSE
//! subscription to `GET /v1/terminals/me/events` that reconnects with
//! `Last-Event-ID`, and the book of pushed payments that sessions accept as
//! a platform confirmation.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::sync::watch;
use wayfare_protocol::ids::redact;

use crate::backoff::Backoff;
use crate::platform::{PlatformClient, PushedPayment};

/// How many pushed payments are remembered.
const PUSHES_KEPT: usize = 1_024;
/// Key of the last event id in the meta tree.
const LAST_EVENT_KEY: &[u8] = b"events.last_event_id";

#[derive(Default)]
struct Pushes {
    by_order: HashMap<String, PushedPayment>,
    order: VecDeque<String>,
}

/// Payments the server pushed to this terminal, by order id.
pub struct PushBook {
    inner: Mutex<Pushes>,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for PushBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushBook")
    }
}

impl Default for PushBook {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Pushes::default()),
            changed: watch::Sender::new(0),
        }
    }
}

impl PushBook {
    /// Records a pushed payment and wakes waiting sessions.
    pub fn insert(&self, payment: PushedPayment) {
        {
            let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if !p.by_order.contains_key(&payment.order_id) {
                p.order.push_back(payment.order_id.clone());
            }
            p.by_order.insert(payment.order_id.clone(), payment);
            while p.order.len() > PUSHES_KEPT {
                if let Some(old) = p.order.pop_front() {
                    p.by_order.remove(&old);
                }
            }
        }
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The pushed payment for an order, if any.
    pub fn get(&self, order_id: &str) -> Option<PushedPayment> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_order
            .get(order_id)
            .cloned()
    }

    /// A receiver that changes whenever a payment is pushed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Keeps the event stream open until `shutdown`, feeding `book`.
/// Reconnects with exponential backoff (1 s to 30 s), resuming from the
/// last event id, which is kept in `meta` across restarts.
pub async fn run_subscription(
    client: PlatformClient,
    book: std::sync::Arc<PushBook>,
    meta: sled::Tree,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut last_id: Option<String> = meta
        .get(LAST_EVENT_KEY)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v.to_vec()).ok());
    loop {
        if *shutdown.borrow() {
            return;
        }
        let opened = tokio::select! {
            r = client.open_events(last_id.as_deref()) => r,
            _ = shutdown.changed() => return,
        };
        match opened {
            Err(e) => {
                tracing::debug!(error = %e, retry_in_ms = backoff.next_ms(), "payment event stream unavailable");
            }
            Ok(response) => {
                tracing::info!("payment event stream connected");
                let mut stream = response.bytes_stream().eventsource();
                loop {
                    let next = tokio::select! {
                        n = stream.next() => n,
                        _ = shutdown.changed() => return,
                    };
                    match next {
                        None => {
                            tracing::info!("payment event stream closed by the server");
                            break;
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "payment event stream broke; reconnecting");
                            break;
                        }
                        Some(Ok(event)) => {
                            backoff.reset();
                            if event.event == "payment.completed" {
                                match serde_json::from_str::<PushedPayment>(&event.data) {
                                    Ok(p) => {
                                        tracing::info!(order = %redact(&p.order_id), payment = %redact(&p.payment_id), "payment completed (pushed)");
                                        book.insert(p);
                                    }
                                    Err(e) => {
                                        tracing::warn!(error = %e, "unreadable payment.completed event")
                                    }
                                }
                            }
                            if !event.id.is_empty() {
                                if let Err(e) = meta.insert(LAST_EVENT_KEY, event.id.as_bytes()) {
                                    tracing::warn!(error = %e, "cannot store the last event id");
                                }
                                last_id = Some(event.id);
                            }
                        }
                    }
                }
            }
        }
        if !backoff.wait(&mut shutdown).await {
            return;
        }
    }
}
