//! Push to a closed app (issue 13.4, decision 0019): guardian alerts and
//! merchant prompts reach a phone whose app is not running, through
//! Firebase Cloud Messaging (Android) and the Apple Push Notification
//! service (iOS).
//!
//! The flow: a device registers its push token (`tokens`, `PUT
//! /v1/devices/push-token`); the payment's transaction writes the
//! `outbound_messages` row as before; when the outbox worker takes it, it
//! makes one `push_deliveries` row per device of the recipient
//! (`deliveries`), and each is sent through the adapter of its platform
//! (`fcm`, `apns`), both [`OutboundGateway`]s, with its own retries. A push
//! carries only the message id, its kind and a short text in the token's
//! locale; the app, woken, fetches the details over the signed API (its
//! event stream, `GET /v1/guardians/alerts`).

use std::sync::Arc;

use crate::gateway::{OutboundGateway, OutboundMessage};
use crate::guardians::alerts::ALERT_KIND;
use crate::merchants::prompts::PROMPT_KIND;

mod apns;
mod config;
pub(crate) mod deliveries;
mod fcm;
mod jwt;
pub(crate) mod tokens;

pub use apns::ApnsGateway;
pub use config::{ApnsConfig, FcmConfig, PushConfig, PushConfigError};
pub use fcm::FcmGateway;

/// The longest push body, in characters: a notification line, not a
/// statement (the app shows the rest after fetching it).
const MAX_BODY_CHARS: usize = 178;

/// Which push service a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushPlatform {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
}

impl PushPlatform {
    /// The name in the API and the database (`fcm`, `apns`).
    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Fcm => "fcm",
            PushPlatform::Apns => "apns",
        }
    }

    /// The platform named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fcm" => Some(PushPlatform::Fcm),
            "apns" => Some(PushPlatform::Apns),
            _ => None,
        }
    }
}

/// One device to push to. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The device (for logs, redacted, and the APNs notification id).
    pub device_id: String,
    /// Its push service.
    pub platform: PushPlatform,
    /// The token its app got from that service.
    pub token: String,
    /// The language of its texts (`en` or `zh`).
    pub locale: String,
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("device_id", &wayfare_protocol::ids::redact(&self.device_id))
            .field("platform", &self.platform)
            .field("locale", &self.locale)
            .finish_non_exhaustive()
    }
}

/// The push adapters configured, one per platform; none by default (push
/// deliveries are then not made at all).
#[derive(Clone, Default)]
pub struct PushGateways {
    fcm: Option<Arc<dyn OutboundGateway>>,
    apns: Option<Arc<dyn OutboundGateway>>,
}

impl std::fmt::Debug for PushGateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushGateways")
            .field("fcm", &self.fcm.as_ref().map(|g| g.name()))
            .field("apns", &self.apns.as_ref().map(|g| g.name()))
            .finish()
    }
}

impl PushGateways {
    /// Sends `fcm` tokens through `gateway`.
    pub fn with_fcm(mut self, gateway: Arc<dyn OutboundGateway>) -> Self {
        self.fcm = Some(gateway);
        self
    }

    /// Sends `apns` tokens through `gateway`.
    pub fn with_apns(mut self, gateway: Arc<dyn OutboundGateway>) -> Self {
        self.apns = Some(gateway);
        self
    }

    /// The adapter of `platform`, if configured.
    pub(crate) fn for_platform(&self, platform: PushPlatform) -> Option<&dyn OutboundGateway> {
        match platform {
            PushPlatform::Fcm => self.fcm.as_deref(),
            PushPlatform::Apns => self.apns.as_deref(),
        }
    }

    /// The platforms with an adapter.
    pub(crate) fn platforms(&self) -> Vec<PushPlatform> {
        [PushPlatform::Fcm, PushPlatform::Apns]
            .into_iter()
            .filter(|p| self.for_platform(*p).is_some())
            .collect()
    }

    /// True when no adapter is configured.
    pub fn is_empty(&self) -> bool {
        self.fcm.is_none() && self.apns.is_none()
    }
}

/// What a push shows: a title naming the kind and the message's short text,
/// both in `locale`. Nothing else of the message is used.
pub(crate) fn notification(message: &OutboundMessage, locale: &str) -> (&'static str, String) {
    let zh = locale.starts_with("zh");
    let title = match (message.kind.as_str(), zh) {
        (ALERT_KIND, false) => "Guardian alert",
        (ALERT_KIND, true) => "监护提醒",
        (PROMPT_KIND, false) => "Payment notice",
        (PROMPT_KIND, true) => "收款提醒",
        _ => "Wayfare",
    };
    let text = message.text(locale);
    let body = if text.chars().count() > MAX_BODY_CHARS {
        let cut: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    };
    (title, body)
}

/// The target of a message handed to an adapter: exactly one (the push
/// queue sends one device at a time, so each failure is that device's).
pub(crate) fn single_target(
    message: &OutboundMessage,
    platform: PushPlatform,
) -> Result<&PushTarget, crate::gateway::GatewayError> {
    match message.push.as_slice() {
        [target] if target.platform == platform => Ok(target),
        _ => Err(crate::gateway::GatewayError::Refused {
            status: 0,
            reason: format!(
                "a {} push needs exactly one {} target",
                platform.as_str(),
                platform.as_str()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_notification_is_a_title_and_the_short_text_in_the_locale() {
        let mut m = OutboundMessage {
            message_id: "alr_1".into(),
            kind: ALERT_KIND.into(),
            to_handle: String::new(),
            to_phone_number: None,
            text_en: "The phone ending 1234 paid ¥2.00.".into(),
            text_zh: "尾号1234的手机支付了¥2.00。".into(),
            data: Value::Null,
            push: Vec::new(),
        };
        assert_eq!(
            notification(&m, "en"),
            ("Guardian alert", m.text_en.clone())
        );
        assert_eq!(notification(&m, "zh"), ("监护提醒", m.text_zh.clone()));
        m.text_en = "x".repeat(500);
        let (_, body) = notification(&m, "en");
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn a_target_never_shows_its_token() {
        let t = PushTarget {
            device_id: "dev_0123456789".into(),
            platform: PushPlatform::Apns,
            token: "a".repeat(64),
            locale: "en".into(),
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("aaaa"), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
    }
}
