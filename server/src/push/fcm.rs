//! Firebase Cloud Messaging through the HTTP v1 API.
//!
//! Authentication is Google's OAuth 2.0 JWT bearer grant: a JWT signed
//! with the service account's RSA key (RS256; `iss` the account's email,
//! `scope` firebase.messaging, `aud` the token endpoint, valid one hour)
//! is exchanged at the token endpoint for an access token, kept until
//! shortly before it expires and fetched by one sender at a time. A `401`
//! from FCM refreshes it once and sends again.
//!
//! Answers: `404` with `UNREGISTERED` and `400 INVALID_ARGUMENT` about the
//! registration token mean the token is dead ([`GatewayError::TokenInvalid`]:
//! deleted, not retried); any other `400` is a message FCM will never take
//! ([`GatewayError::Refused`]); `429` and `5xx` are retried, not before
//! their `Retry-After`; `401`/`403`/other `404`s are credentials or project
//! problems an operator must fix (retried with backoff, never deleting
//! tokens: a wrong project id must not wipe every token).

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{base_url, client, read, FcmConfig, PushConfigError};
use super::jwt::Rs256Key;
use super::{notification, single_target, PushPlatform, PushTarget};
use crate::db::now_ms;
use crate::gateway::{retry_after, GatewayError, OutboundGateway, OutboundMessage};

/// Google's FCM API.
pub const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth scope that may send FCM messages.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The grant type of a JWT exchanged for an access token (RFC 7523).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of the signed assertion (Google accepts at most one hour).
const ASSERTION_LIFETIME_S: u64 = 3600;
/// An access token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// How long an Android device keeps a push it could not get yet.
const ANDROID_TTL: &str = "86400s";

/// The fields of a service-account key file this adapter uses.
#[derive(Deserialize)]
struct ServiceAccount {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    project_id: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

/// A cached access token.
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

/// Sends pushes to Android devices through FCM.
pub struct FcmGateway {
    client: reqwest::Client,
    send_url: String,
    token_uri: String,
    client_email: String,
    key_id: Option<String>,
    key: Rs256Key,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for FcmGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmGateway")
            .field("send_url", &self.send_url)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> PushConfigError {
    PushConfigError::Invalid {
        section: "fcm",
        reason: reason.into(),
    }
}

impl FcmGateway {
    /// Reads the service-account file and checks its key and URLs.
    pub fn from_config(config: &FcmConfig) -> Result<Self, PushConfigError> {
        let file = read(&config.service_account_file)?;
        let account: ServiceAccount = serde_json::from_slice(&file).map_err(|e| {
            invalid(format!(
                "service_account_file {} is not a service-account JSON key: {e}",
                config.service_account_file.display()
            ))
        })?;
        if account
            .kind
            .as_deref()
            .is_some_and(|k| k != "service_account")
        {
            return Err(invalid(
                "service_account_file: \"type\" is not \"service_account\"",
            ));
        }
        let project_ok = !account.project_id.is_empty()
            && account
                .project_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':' || b == b'.');
        if !project_ok {
            return Err(invalid(
                "service_account_file: project_id is not a project id",
            ));
        }
        let key = Rs256Key::from_pem(&account.private_key)
            .map_err(|e| invalid(format!("service_account_file: {e}")))?;
        let token_uri = config
            .token_uri
            .as_deref()
            .or(account.token_uri.as_deref())
            .unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri = base_url("fcm", "token_uri", token_uri)?;
        let endpoint = base_url(
            "fcm",
            "endpoint",
            config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT),
        )?;
        Ok(Self {
            client: client("fcm", config.extra_root_ca_file.as_deref(), false)?,
            send_url: format!(
                "{endpoint}/v1/projects/{}/messages:send",
                account.project_id
            ),
            token_uri,
            client_email: account.client_email,
            key_id: account.private_key_id,
            key,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// The access token to send with: the cached one, unless it is due for
    /// refresh or is `stale` (just refused by FCM). One fetch at a time.
    async fn access_token(&self, stale: Option<&str>) -> Result<String, GatewayError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if stale != Some(token.value.as_str()) && Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        let fresh = self.fetch_access_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// The JWT bearer grant.
    async fn fetch_access_token(&self) -> Result<AccessToken, GatewayError> {
        let iat = now_ms() / 1000;
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_S,
        });
        let assertion = self
            .key
            .sign(&header, &claims)
            .map_err(|e| GatewayError::Credentials(e.to_string()))?;
        let answer = self
            .client
            .post(&self.token_uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            // The assertion is base64url and dots: nothing to escape.
            .body(format!(
                "grant_type={}&assertion={assertion}",
                GRANT_TYPE.replace(':', "%3A")
            ))
            .send()
            .await
            .map_err(|e| {
                GatewayError::Unreachable(format!("OAuth token endpoint: {}", e.without_url()))
            })?;
        let status = answer.status().as_u16();
        let wait = retry_after(answer.headers(), now_ms());
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if status == 429 || status >= 500 {
            return Err(GatewayError::Unavailable {
                status,
                retry_after: wait,
            });
        }
        let token = body["access_token"].as_str().filter(|t| !t.is_empty());
        match token {
            Some(value) if (200..300).contains(&status) => {
                let lifetime = Duration::from_secs(
                    body["expires_in"].as_u64().unwrap_or(3600).clamp(60, 3600),
                );
                let margin = REFRESH_MARGIN.min(lifetime / 2);
                Ok(AccessToken {
                    value: value.to_string(),
                    refresh_at: Instant::now() + lifetime - margin,
                })
            }
            _ => Err(GatewayError::Credentials(format!(
                "the OAuth token endpoint answered HTTP {status}: {} {}",
                body["error"].as_str().unwrap_or("no access_token"),
                body["error_description"].as_str().unwrap_or_default()
            ))),
        }
    }

    /// The request body: a data-only message (the token; the id, kind,
    /// title and short text as data) at high priority. Nothing else of the
    /// message. Data-only, because a message with a `notification` part is
    /// shown by Android itself while the app is in the background and never
    /// reaches the app: the app must get it to catch the event up and post
    /// it from the core's queue (the push text is only its fallback when
    /// the control center cannot be reached).
    fn body(message: &OutboundMessage, target: &PushTarget) -> Value {
        let (title, body) = notification(message, &target.locale);
        json!({ "message": {
            "token": target.token,
            "data": { "id": message.message_id, "kind": message.kind, "title": title, "body": body },
            "android": { "priority": "HIGH", "collapse_key": message.message_id, "ttl": ANDROID_TTL },
        }})
    }

    async fn post(&self, access_token: &str, body: &Value) -> Result<Answer, GatewayError> {
        let answer = self
            .client
            .post(&self.send_url)
            .bearer_auth(access_token)
            .json(body)
            .send()
            .await
            .map_err(|e| GatewayError::Unreachable(format!("FCM: {}", e.without_url())))?;
        let status = answer.status().as_u16();
        let retry_after = retry_after(answer.headers(), now_ms());
        let body = answer.json().await.unwrap_or(Value::Null);
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// FCM's answer to one send.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
}

impl Answer {
    /// What the answer means for this push.
    fn outcome(&self) -> Result<(), GatewayError> {
        let status = self.status;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let error = &self.body["error"];
        let details = error["details"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let fcm_code = details
            .iter()
            .find_map(|d| d["errorCode"].as_str())
            .or_else(|| error["status"].as_str())
            .unwrap_or("");
        let message = error["message"].as_str().unwrap_or("").to_string();
        let violations: Vec<&str> = details
            .iter()
            .filter_map(|d| d["fieldViolations"].as_array())
            .flatten()
            .filter_map(|v| v["field"].as_str())
            .collect();
        match status {
            404 if fcm_code == "UNREGISTERED" => {
                Err(GatewayError::TokenInvalid("FCM: UNREGISTERED".into()))
            }
            400 if fcm_code == "INVALID_ARGUMENT"
                && (violations.is_empty() || violations.contains(&"message.token")) =>
            {
                Err(GatewayError::TokenInvalid(
                    "FCM: INVALID_ARGUMENT (registration token)".into(),
                ))
            }
            400 => Err(GatewayError::Refused {
                status,
                reason: format!("{fcm_code}: {message}"),
            }),
            401 | 403 | 404 => Err(GatewayError::Credentials(format!(
                "FCM answered HTTP {status} {fcm_code}: {message}"
            ))),
            429 | 500..=599 => Err(GatewayError::Unavailable {
                status,
                retry_after: self.retry_after,
            }),
            _ => Err(GatewayError::Rejected(status)),
        }
    }
}

impl OutboundGateway for FcmGateway {
    fn name(&self) -> &'static str {
        "fcm"
    }

    fn deliver<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            let target = single_target(message, PushPlatform::Fcm)?;
            let body = Self::body(message, target);
            let token = self.access_token(None).await?;
            let answer = self.post(&token, &body).await?;
            if answer.status != 401 {
                return answer.outcome();
            }
            // The access token was revoked or expired early: once more with
            // a fresh one.
            let fresh = self.access_token(Some(&token)).await?;
            self.post(&fresh, &body).await?.outcome()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Result<(), GatewayError> {
        Answer {
            status,
            retry_after: Some(Duration::from_secs(7)),
            body,
        }
        .outcome()
    }

    fn fcm_error(code: u16, status: &str, error_code: &str) -> Value {
        json!({ "error": { "code": code, "message": "m", "status": status, "details": [
            { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code }
        ] } })
    }

    #[test]
    fn answers_are_classified_as_google_documents_them() {
        assert!(answer(200, json!({ "name": "projects/p/messages/1" })).is_ok());
        assert!(matches!(
            answer(404, fcm_error(404, "NOT_FOUND", "UNREGISTERED")),
            Err(GatewayError::TokenInvalid(_))
        ));
        // A 404 that is not about the token (a wrong project) keeps tokens.
        assert!(matches!(
            answer(
                404,
                json!({ "error": { "status": "NOT_FOUND", "message": "Requested entity was not found." } })
            ),
            Err(GatewayError::Credentials(_))
        ));
        assert!(matches!(
            answer(400, fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")),
            Err(GatewayError::TokenInvalid(_))
        ));
        let bad_payload = json!({ "error": { "code": 400, "status": "INVALID_ARGUMENT", "details": [
            { "@type": "type.googleapis.com/google.rpc.BadRequest",
              "fieldViolations": [{ "field": "message.data[0].value" }] }] } });
        assert!(matches!(
            answer(400, bad_payload),
            Err(GatewayError::Refused { status: 400, .. })
        ));
        let unavailable = answer(503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")).unwrap_err();
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(7)));
        assert!(!unavailable.is_final());
        assert!(matches!(
            answer(
                403,
                fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH")
            ),
            Err(GatewayError::Credentials(_))
        ));
    }
}
