//! The Apple Push Notification service over HTTP/2 with token-based
//! authentication.
//!
//! The provider token is an ES256 JWT (header `alg` ES256 and `kid` the key
//! id, claims `iss` the team id and `iat`) signed with the team's `.p8`
//! key. Apple refuses tokens older than an hour and throttles a provider
//! that makes them more often than every 20 minutes, so one token is reused
//! for up to 50 minutes, and a `403 ExpiredProviderToken` makes a new one
//! and sends again, once.
//!
//! Answers: `410` (`Unregistered`, `ExpiredToken`) and `400`
//! `BadDeviceToken`/`DeviceTokenNotForTopic` mean the token is dead
//! ([`GatewayError::TokenInvalid`]: deleted, not retried); a topic Apple
//! refuses and other `403`s are configuration ([`GatewayError::Credentials`],
//! retried with backoff); other `400`s and `413` are messages APNs will
//! never take ([`GatewayError::Refused`]); `429` and `5xx` are retried, not
//! before their `Retry-After`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Value};
use wayfare_protocol::ids::{hex_lower, sha256};

use super::config::{base_url, client, read, ApnsConfig, PushConfigError};
use super::jwt::Es256Key;
use super::{notification, single_target, PushPlatform, PushTarget};
use crate::db::now_ms;
use crate::gateway::{retry_after, GatewayError, OutboundGateway, OutboundMessage};

/// Apple's production endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.push.apple.com";
/// How long one provider token is used (Apple: at most 60 minutes, new
/// ones no more often than every 20).
const TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);
/// How long APNs keeps trying a device that is offline (`apns-expiration`).
const EXPIRATION_S: u64 = 86_400;
/// The longest `apns-collapse-id` Apple takes, in bytes.
const MAX_COLLAPSE_ID: usize = 64;

/// A provider token and when it was made.
struct ProviderToken {
    value: String,
    issued: Instant,
}

/// Sends pushes to iOS devices through APNs.
pub struct ApnsGateway {
    client: reqwest::Client,
    endpoint: String,
    topic: String,
    key_id: String,
    team_id: String,
    key: Es256Key,
    token: Mutex<Option<ProviderToken>>,
}

impl std::fmt::Debug for ApnsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsGateway")
            .field("endpoint", &self.endpoint)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> PushConfigError {
    PushConfigError::Invalid {
        section: "apns",
        reason: reason.into(),
    }
}

/// Apple's ids (key id, team id) are 10 upper-case letters and digits.
fn check_apple_id(field: &str, value: &str) -> Result<(), PushConfigError> {
    if value.len() == 10
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field} {value:?} must be 10 upper-case letters and digits, as Apple shows it"
        )))
    }
}

impl ApnsGateway {
    /// Reads the `.p8` key and checks the ids, the topic and the URL.
    pub fn from_config(config: &ApnsConfig) -> Result<Self, PushConfigError> {
        check_apple_id("key_id", &config.key_id)?;
        check_apple_id("team_id", &config.team_id)?;
        let topic_ok = !config.topic.is_empty()
            && config.topic.len() <= 200
            && config
                .topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !topic_ok {
            return Err(invalid(format!(
                "topic {:?} must be the app's bundle id",
                config.topic
            )));
        }
        let key = Es256Key::from_pem(&read(&config.key_file)?)
            .map_err(|e| invalid(format!("key_file {}: {e}", config.key_file.display())))?;
        let endpoint = base_url(
            "apns",
            "endpoint",
            config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT),
        )?;
        Ok(Self {
            client: client("apns", config.extra_root_ca_file.as_deref(), true)?,
            endpoint,
            topic: config.topic.clone(),
            key_id: config.key_id.clone(),
            team_id: config.team_id.clone(),
            key,
            token: Mutex::new(None),
        })
    }

    /// The provider token to send with: the current one, unless it is 50
    /// minutes old or `stale` (just refused by APNs as expired).
    fn provider_token(&self, stale: Option<&str>) -> Result<String, GatewayError> {
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = cached.as_ref() {
            if stale != Some(token.value.as_str()) && token.issued.elapsed() < TOKEN_REUSE {
                return Ok(token.value.clone());
            }
        }
        let value = self
            .key
            .sign(
                &json!({ "alg": "ES256", "kid": self.key_id }),
                &json!({ "iss": self.team_id, "iat": now_ms() / 1000 }),
            )
            .map_err(|e| GatewayError::Credentials(e.to_string()))?;
        *cached = Some(ProviderToken {
            value: value.clone(),
            issued: Instant::now(),
        });
        Ok(value)
    }

    async fn post(
        &self,
        provider_token: &str,
        message: &OutboundMessage,
        target: &PushTarget,
    ) -> Result<Answer, GatewayError> {
        let (title, body) = notification(message, &target.locale);
        let payload = json!({
            // content-available wakes the app in the background to catch
            // the event up and post it from the core's queue.
            "aps": { "alert": { "title": title, "body": body }, "sound": "default", "content-available": 1 },
            "id": message.message_id,
            "kind": message.kind,
        });
        let answer = self
            .client
            .post(format!("{}/3/device/{}", self.endpoint, target.token))
            .header("authorization", format!("bearer {provider_token}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header(
                "apns-id",
                notification_id(&message.message_id, &target.device_id),
            )
            .header("apns-collapse-id", collapse_id(&message.message_id))
            .header(
                "apns-expiration",
                (now_ms() / 1000 + EXPIRATION_S).to_string(),
            )
            .json(&payload)
            .send()
            .await
            // No URL in the error: it holds the device token.
            .map_err(|e| GatewayError::Unreachable(format!("APNs: {}", e.without_url())))?;
        let status = answer.status().as_u16();
        let retry_after = retry_after(answer.headers(), now_ms());
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        Ok(Answer {
            status,
            retry_after,
            reason: body["reason"].as_str().unwrap_or_default().to_string(),
        })
    }
}

/// The `apns-id`: a UUID (RFC 9562 version 8) from SHA-256 of the message
/// id and the device, the same on every retry of one push.
pub(crate) fn notification_id(message_id: &str, device_id: &str) -> String {
    let digest = sha256(format!("wayfare-apns-id:v1:{message_id}:{device_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex_lower(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The `apns-collapse-id`: the message id, so a push sent twice (an answer
/// lost, then a retry) shows once; hashed if it were ever too long.
fn collapse_id(message_id: &str) -> String {
    if message_id.len() <= MAX_COLLAPSE_ID {
        message_id.to_string()
    } else {
        hex_lower(&sha256(message_id.as_bytes()))
    }
}

/// APNs' answer to one push.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    reason: String,
}

impl Answer {
    fn is_expired_provider_token(&self) -> bool {
        self.status == 403 && self.reason == "ExpiredProviderToken"
    }

    /// What the answer means for this push.
    fn outcome(&self) -> Result<(), GatewayError> {
        let (status, reason) = (self.status, self.reason.as_str());
        match status {
            200..=299 => Ok(()),
            410 => Err(GatewayError::TokenInvalid(format!("APNs: {reason}"))),
            400 if matches!(reason, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
                Err(GatewayError::TokenInvalid(format!("APNs: {reason}")))
            }
            400 if matches!(reason, "BadTopic" | "TopicDisallowed" | "MissingTopic") => Err(
                GatewayError::Credentials(format!("APNs refused the topic: {reason}")),
            ),
            400 | 413 => Err(GatewayError::Refused {
                status,
                reason: reason.to_string(),
            }),
            403 => Err(GatewayError::Credentials(format!(
                "APNs refused the provider token: {reason}"
            ))),
            429 | 500..=599 => Err(GatewayError::Unavailable {
                status,
                retry_after: self.retry_after,
            }),
            _ => Err(GatewayError::Rejected(status)),
        }
    }
}

impl OutboundGateway for ApnsGateway {
    fn name(&self) -> &'static str {
        "apns"
    }

    fn deliver<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            let target = single_target(message, PushPlatform::Apns)?;
            let token = self.provider_token(None)?;
            let answer = self.post(&token, message, target).await?;
            if !answer.is_expired_provider_token() {
                return answer.outcome();
            }
            let fresh = self.provider_token(Some(&token))?;
            self.post(&fresh, message, target).await?.outcome()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, reason: &str) -> Result<(), GatewayError> {
        Answer {
            status,
            retry_after: None,
            reason: reason.into(),
        }
        .outcome()
    }

    #[test]
    fn notification_ids_are_stable_uuids() {
        let a = notification_id("alr_1", "dev_1");
        assert_eq!(a, notification_id("alr_1", "dev_1"));
        assert_ne!(a, notification_id("alr_1", "dev_2"));
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "8");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(collapse_id("alr_1"), "alr_1");
        assert_eq!(collapse_id(&"x".repeat(65)).len(), 64);
    }

    #[test]
    fn answers_are_classified_as_apple_documents_them() {
        assert!(outcome(200, "").is_ok());
        for dead in [
            (410, "Unregistered"),
            (410, "ExpiredToken"),
            (400, "BadDeviceToken"),
        ] {
            assert!(matches!(
                outcome(dead.0, dead.1),
                Err(GatewayError::TokenInvalid(_))
            ));
        }
        assert!(matches!(
            outcome(400, "BadTopic"),
            Err(GatewayError::Credentials(_))
        ));
        assert!(matches!(
            outcome(413, "PayloadTooLarge"),
            Err(GatewayError::Refused { .. })
        ));
        assert!(matches!(
            outcome(403, "InvalidProviderToken"),
            Err(GatewayError::Credentials(_))
        ));
        assert!(matches!(
            outcome(503, "ServiceUnavailable"),
            Err(GatewayError::Unavailable { status: 503, .. })
        ));
    }
}
