//! The prompt stream: the device's server-sent-event stream
//! (`GET /v1/devices/me/events`, resumed with `Last-Event-ID` from the
//! stored cursor), filtered to `merchant.prompt` events, de-duplicated by
//! order key (the earliest wins, even across restarts), rendered in the
//! merchant's locale and queued in the wallet's persisted event queue
//! before the cursor moves past them.

use std::sync::Arc;

use wayfare_protocol::ids::redact;
use wayfare_protocol::prompt::{render, PromptData, PromptEvent};

use super::store::PromptStore;
use super::types::{MerchantPrompt, MerchantPromptEvent, PromptSettings};
use crate::device_events::{DeviceEventReader, DeviceEventStream, RefusalCode};
use crate::error::WalletError;
use crate::events::{EventKind, EventQueue};
use crate::wallet::WalletInner;

/// The kind of the server's prompt events.
const PROMPT_KIND: &str = "merchant.prompt";
/// The prefix of prompt keys in the wallet's event queue.
pub(crate) const QUEUE_KIND: &str = "merchant_prompt";

/// A device's live prompts. Get one with `wallet.merchant().prompts()`;
/// call `next()` in a loop. Dropping it (or `cancel()`) closes the
/// connection.
#[derive(uniffi::Object)]
pub struct PromptStream {
    inner: Arc<WalletInner>,
    events: DeviceEventStream,
}

impl std::fmt::Debug for PromptStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptStream")
    }
}

impl PromptStream {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self {
            events: DeviceEventStream::new(inner.clone()),
            inner,
        }
    }
}

impl PromptStream {
    /// Every prompt after the cursor, then done (see
    /// `MerchantApi::sync_prompts`).
    pub(crate) async fn catch_up(&self) -> Result<Vec<MerchantPrompt>, WalletError> {
        self.events.catch_up(self).await
    }
}

impl DeviceEventReader for PromptStream {
    type Item = MerchantPrompt;
    const NAME: &'static str = "prompt stream";
    const REFUSAL: RefusalCode = RefusalCode::FromBody;

    fn cursor(&self) -> Result<Option<u64>, WalletError> {
        let state = self.inner.opened()?;
        Ok(PromptStore::new(&state.store)?.cursor()?)
    }

    fn connected(&self, device_id: &str, after: Option<u64>) {
        tracing::debug!(target: "wayfare_core::merchant", device = %redact(device_id), ?after, "prompt stream connected");
    }

    /// Handles one server event; `Some` for a prompt to announce.
    async fn handle(
        &self,
        event: eventsource_stream::Event,
    ) -> Result<Option<MerchantPrompt>, WalletError> {
        let state = self.inner.opened()?;
        let store = PromptStore::new(&state.store)?;
        let Ok(event_id) = event.id.trim().parse::<u64>() else {
            return Ok(None);
        };
        if event.event != PROMPT_KIND {
            store.advance(event_id).await?;
            return Ok(None);
        }
        let data: PromptData = match serde_json::from_str(&event.data) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target: "wayfare_core::merchant", event = event_id, error = %e, "unreadable prompt skipped");
                store.advance(event_id).await?;
                return Ok(None);
            }
        };
        let settings = store.settings()?;
        let prompt = to_prompt(event_id, &data, &event.data, settings);
        // Queued first (once per order key), then marked seen, then the
        // cursor moves: a crash in between re-reads the event and nothing
        // is lost or queued twice.
        let queue_key = format!("{QUEUE_KIND}:{}:{}", data.merchant_id, data.dedupe_key);
        let queue = EventQueue::new(&state.store)?;
        queue
            .push_once(EventKind::MerchantPrompt, &queue_key, &prompt)
            .await?;
        let first = store.first_sighting(&data.merchant_id, &data.dedupe_key, event_id)?;
        store.advance(event_id).await?;
        if first {
            crate::events::nudge_if_pending(&self.inner);
            tracing::info!(target: "wayfare_core::merchant", event = event_id, "merchant prompt");
            Ok(Some(prompt))
        } else {
            tracing::debug!(target: "wayfare_core::merchant", event = event_id, "duplicate prompt dropped");
            Ok(None)
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl PromptStream {
    /// Waits for the next prompt to announce (duplicates of an order already
    /// announced are dropped silently). Connects, or resumes after the last
    /// event handled, as needed. A `Network` error means the connection
    /// ended: call `next()` again (after a pause) to resume.
    pub async fn next(&self) -> Result<MerchantPrompt, WalletError> {
        self.events.next(self).await
    }

    /// Ends the stream: a waiting `next()` returns `Cancelled`, and so does
    /// every later call. Get a new stream from `merchant().prompts()`.
    pub fn cancel(&self) {
        self.events.cancel();
    }
}

/// Builds the prompt the app receives from the server's data.
pub(crate) fn to_prompt(
    event_id: u64,
    data: &PromptData,
    raw: &str,
    settings: PromptSettings,
) -> MerchantPrompt {
    let rendered = render(data, &data.locale);
    MerchantPrompt {
        event_id,
        merchant_id: data.merchant_id.clone(),
        event: match data.event {
            PromptEvent::Payment => MerchantPromptEvent::Payment,
            PromptEvent::Refund => MerchantPromptEvent::Refund,
            PromptEvent::External => MerchantPromptEvent::External,
        },
        dedupe_key: data.dedupe_key.clone(),
        locale: data.locale.clone(),
        order_id: data.order_id.clone(),
        payer_name: data.payer_name.clone(),
        payee_name: data.payee_name.clone(),
        payment_type: data.payment_type.clone(),
        amount_minor: data.amount_minor,
        currency: data.currency.clone(),
        at_ms: data.at_ms,
        payment_platform: data.payment_platform.clone(),
        payment_id: data.payment_id.clone(),
        display_text: rendered.display,
        speech_text: rendered.speech,
        show_text: settings.show_text,
        speak: settings.speak,
        vibrate: settings.vibrate,
        raw_json: raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_render_what_was_received_and_follow_the_settings() {
        let raw = r#"{"merchant_id":"mer_1","event":"refund","dedupe_key":"k","locale":"zh",
            "amount_minor":300,"currency":"CNY","payment_platform":"Wayfare"}"#;
        let data: PromptData = serde_json::from_str(raw).unwrap();
        let settings = PromptSettings {
            show_text: false,
            speak: true,
            vibrate: true,
        };
        let p = to_prompt(7, &data, raw, settings);
        assert_eq!(p.event, MerchantPromptEvent::Refund);
        assert_eq!(p.speech_text, "Wayfare退款3.00元");
        assert_eq!((p.payer_name, p.order_id), (None, None));
        assert!(!p.show_text && p.speak && p.vibrate);
        assert_eq!(p.raw_json, raw);
    }
}
