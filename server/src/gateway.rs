//! The outbound gateway: how alerts leave the control center by SMS or
//! push. [`OutboundGateway`] is the seam; [`WebhookGateway`] posts each
//! message to a configured URL (an SMS/push provider or a relay) and
//! [`LogGateway`] only writes a redacted log line. The outbox worker
//! (`outbox.rs`) calls the gateway and retries with backoff until it
//! answers success, so a gateway sees a message at least once: receivers
//! de-duplicate on `message_id` (also sent as the `idempotency-key` header).
//!
//! The push adapters (`crate::push`: Firebase Cloud Messaging and the Apple
//! Push Notification service) sit behind the same trait: the push queue
//! hands them one message with one [`PushTarget`] at a time, and their
//! typed failures ([`GatewayError::TokenInvalid`], a `Retry-After`) tell
//! the queue what to do next.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use wayfare_protocol::ids::redact;

use crate::civil::days_from_civil;
pub use crate::push::{PushPlatform, PushTarget};

/// The longest `Retry-After` honoured: a longer one (or a date far away)
/// would park a message past its use; the backoff takes over after it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
    /// The structured fields (the alert as the app receives it). Empty
    /// (`null`) for pushes: they carry only the id, the kind and the text.
    pub data: Value,
    /// The devices to push to (push adapters only; never serialized, so a
    /// webhook never sees push tokens).
    #[serde(skip)]
    pub push: Vec<PushTarget>,
}

impl OutboundMessage {
    /// The text in `locale` (`zh`, else English).
    pub fn text(&self, locale: &str) -> &str {
        if locale.starts_with("zh") {
            &self.text_zh
        } else {
            &self.text_en
        }
    }
}

/// Why a delivery attempt failed. Retried later with backoff, except
/// [`GatewayError::TokenInvalid`] and [`GatewayError::Refused`], which no
/// retry can fix (see [`GatewayError::is_final`]).
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The gateway could not be reached or timed out.
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with a non-success status.
    #[error("gateway answered HTTP {0}")]
    Rejected(u16),
    /// The gateway is overloaded or down for now (429, 5xx); when it said
    /// how long to wait (`Retry-After`), the next attempt is no sooner.
    #[error("gateway busy: HTTP {status}{}", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The gateway's `Retry-After`, capped at [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
    /// The push token is not valid any more (app uninstalled, token expired
    /// or malformed, token of another app): the token is deleted and this
    /// push is not retried.
    #[error("push token refused: {0}")]
    TokenInvalid(String),
    /// The gateway refused this message for good (too large, malformed):
    /// sending it again cannot succeed, so it is not retried.
    #[error("gateway refused the message: HTTP {status}: {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The gateway's reason.
        reason: String,
    },
    /// The gateway refused our credentials (wrong key, project, team or
    /// topic): retried with backoff until an operator fixes the
    /// configuration; the reason is logged.
    #[error("gateway refused the credentials: {0}")]
    Credentials(String),
}

impl GatewayError {
    /// The wait the gateway asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when no retry can deliver this message to this recipient.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            GatewayError::TokenInvalid(_) | GatewayError::Refused { .. }
        )
    }
}

/// The `Retry-After` of an answer: delta-seconds or an HTTP date (RFC 9110
/// 10.2.3), capped at [`MAX_RETRY_AFTER`]. A value that parses as neither
/// gives `None` (the backoff decides).
pub fn retry_after(headers: &HeaderMap, now_ms: u64) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at_ms = http_date_ms(value)?;
            Duration::from_millis(at_ms.saturating_sub(now_ms))
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix ms.
fn http_date_ms(text: &str) -> Option<u64> {
    let rest = text.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = 1 + [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    Some(((days * 24 + h) * 60 + m) * 60_000 + s * 1000)
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
            let status = answer.status();
            if status.is_success() {
                Ok(())
            } else if status.as_u16() == 429 || status.is_server_error() {
                Err(GatewayError::Unavailable {
                    status: status.as_u16(),
                    retry_after: retry_after(answer.headers(), crate::db::now_ms()),
                })
            } else {
                Err(GatewayError::Rejected(status.as_u16()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_caps_them() {
        let now = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("999999"), now), Some(MAX_RETRY_AFTER));
        for bad in ["soon", "-1", "Sun, 06 Nov 1994 25:00:00 GMT", "06 Nov 1994"] {
            assert_eq!(retry_after(&headers(bad), now), None, "{bad}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
