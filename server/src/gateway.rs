//! The outbound gateway: how alerts leave the control center by SMS or
//! push. [`OutboundGateway`] is the seam; [`WebhookGateway`] posts each
//! message to a configured URL (an SMS/push provider or a relay) and
//! [`LogGateway`] only writes a redacted log line. The outbox worker
//! (`outbox.rs`) calls the gateway and retries with backoff until it
//! answers success, so a gateway sees a message at least once: receivers
//! de-duplicate on `message_id` (also sent as the `idempotency-key` header).

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use wayfare_protocol::ids::redact;

/// One message for one recipient.
#[derive(Clone, Debug, Serialize)]
pub struct OutboundMessage {
    /// Unique id (the alert id); stable across retries.
    pub message_id: String,
    /// What it is, e.g. `guardian.alert`.
    pub kind: String,
    /// The recipient's pseudonymous handle.
    pub to_handle: String,
    /// The recipient's registered phone number, for SMS. Sent to the
    /// gateway only; never logged.
    pub to_phone_number: Option<String>,
    /// The text in English.
    pub text_en: String,
    /// The text in Chinese.
    pub text_zh: String,
    /// The structured fields (the alert as the app receives it).
    pub data: Value,
}

/// Why a delivery attempt failed; every failure is retried later.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The gateway could not be reached or timed out.
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with a non-success status.
    #[error("gateway answered HTTP {0}")]
    Rejected(u16),
}

/// Something that can send a message to a person (SMS, push...).
pub trait OutboundGateway: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Sends one message; `Ok` means the gateway took responsibility for it.
    fn deliver<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<(), GatewayError>>;
}

/// Writes one redacted log line per message and reports success.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogGateway;

impl OutboundGateway for LogGateway {
    fn name(&self) -> &'static str {
        "log"
    }

    fn deliver<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            tracing::info!(
                message = %redact(&message.message_id),
                kind = %message.kind,
                sms = message.to_phone_number.is_some(),
                "outbound message (log gateway)"
            );
            Ok(())
        })
    }
}

/// Posts each message as JSON to a URL; 2xx means delivered.
#[derive(Clone, Debug)]
pub struct WebhookGateway {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl WebhookGateway {
    /// A gateway posting to `url` (http or https), each attempt bounded by
    /// `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("webhook URL {url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("webhook URL {url} is not http(s)"));
        }
        // reqwest is built without a default rustls provider; install ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Self { url, client })
    }
}

impl OutboundGateway for WebhookGateway {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn deliver<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            let answer = self
                .client
                .post(self.url.clone())
                .header("idempotency-key", &message.message_id)
                .json(message)
                .send()
                .await
                .map_err(|e| GatewayError::Unreachable(e.without_url().to_string()))?;
            if answer.status().is_success() {
                Ok(())
            } else {
                Err(GatewayError::Rejected(answer.status().as_u16()))
            }
        })
    }
}
