//! Push to a closed app (decision 0019): `wallet.account()
//! .register_push_token(...)` hands the control center the token the
//! platform gave the app (Firebase Cloud Messaging on Android, APNs on
//! iOS), so guardian alerts and merchant prompts wake the app when it is
//! closed. A push carries only the message id, its kind and a short text;
//! the woken app reads the details as usual (its event stream, the alerts
//! list), over signed requests. Server contract: `docs/api.md`, Push to a
//! closed app.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use wayfare_protocol::ids::redact;

use crate::account::AccountApi;
use crate::error::WalletError;
use crate::http::HttpError;

/// The longest token accepted (the server's limit).
const MAX_TOKEN_CHARS: usize = 1024;

/// Which push service a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushPlatform {
    /// Firebase Cloud Messaging (Android): the registration token from
    /// `FirebaseMessaging.getToken()`.
    Fcm,
    /// Apple Push Notification service (iOS): the device token from
    /// `didRegisterForRemoteNotificationsWithDeviceToken`, as hex.
    Apns,
}

impl PushPlatform {
    fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Fcm => "fcm",
            PushPlatform::Apns => "apns",
        }
    }
}

#[derive(Serialize)]
struct PushTokenBody<'a> {
    platform: &'static str,
    token: &'a str,
    locale: &'static str,
}

#[derive(Deserialize)]
struct RemovedResponse {
    removed: bool,
}

/// The language the server writes pushes in: `zh` for any Chinese tag
/// (`zh`, `zh-Hans-CN`, `zh_TW`), else `en`.
fn push_locale(locale: &str) -> &'static str {
    if locale.trim().to_ascii_lowercase().starts_with("zh") {
        "zh"
    } else {
        "en"
    }
}

/// The token as the server wants it: trimmed; an APNs token in plain hex
/// (the `<abcd ef01 …>` form older iOS code prints is accepted).
fn normalize_token(platform: PushPlatform, token: &str) -> Result<String, WalletError> {
    let token: String = match platform {
        PushPlatform::Fcm => token.trim().to_string(),
        PushPlatform::Apns => token
            .chars()
            .filter(|c| !matches!(c, '<' | '>' | ' '))
            .collect(),
    };
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
        return Err(WalletError::invalid(format!(
            "a push token has 1 to {MAX_TOKEN_CHARS} characters"
        )));
    }
    Ok(token)
}

/// The server's refusal of a token is the app's input problem.
fn push_error(e: HttpError) -> WalletError {
    match e {
        HttpError::Api { code, reason, .. } if code == "invalid_field" => {
            WalletError::InvalidInput { reason }
        }
        other => other.into(),
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl AccountApi {
    /// Registers this device's push token, so guardian alerts and merchant
    /// prompts reach the app when it is closed. Call it whenever the
    /// platform hands the app a token (at start and on every refresh): a
    /// new token replaces the old one. `locale` is the app's language tag
    /// (`zh-Hans-CN`, `en-GB`…): pushes are written in Chinese for Chinese,
    /// else in English. A push shows one short line; tapping it opens the
    /// app, which reads the details as usual.
    pub async fn register_push_token(
        &self,
        platform: PushPlatform,
        token: String,
        locale: String,
    ) -> Result<(), WalletError> {
        let (_, id) = self.inner().device()?;
        let token = normalize_token(platform, &token)?;
        let body = PushTokenBody {
            platform: platform.as_str(),
            token: &token,
            locale: push_locale(&locale),
        };
        let _: (_, serde_json::Value) = self
            .inner()
            .api
            .signed(
                Method::PUT,
                "/v1/devices/push-token",
                Some(&body),
                &id.signer(),
                &[],
            )
            .await
            .map_err(push_error)?;
        tracing::info!(target: "wayfare_core::account", device = %redact(&id.device_id), platform = platform.as_str(), "push token registered");
        Ok(())
    }

    /// Stops pushes to this device (the user turned notifications off, or
    /// signs out). Returns whether a token was registered.
    pub async fn remove_push_token(&self) -> Result<bool, WalletError> {
        let (_, id) = self.inner().device()?;
        let (_, answer): (_, RemovedResponse) = self
            .inner()
            .api
            .signed::<(), _>(
                Method::DELETE,
                "/v1/devices/push-token",
                None,
                &id.signer(),
                &[],
            )
            .await
            .map_err(push_error)?;
        Ok(answer.removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spawn_server, unpinned_config, Keys, PayMode};
    use crate::{InMemoryKeyStore, Wallet};

    #[test]
    fn locales_and_tokens_are_put_in_the_server_s_form() {
        assert_eq!(push_locale("zh-Hans-CN"), "zh");
        assert_eq!(push_locale("ZH_tw"), "zh");
        assert_eq!(push_locale("en-GB"), "en");
        assert_eq!(push_locale("fr"), "en");
        assert_eq!(
            normalize_token(PushPlatform::Apns, "<7f3c9a1b e4d25f60>").unwrap(),
            "7f3c9a1be4d25f60"
        );
        assert_eq!(
            normalize_token(PushPlatform::Fcm, " dXNl:APA91b \n").unwrap(),
            "dXNl:APA91b"
        );
        for bad in ["", "  ", &"x".repeat(1025)] {
            assert!(matches!(
                normalize_token(PushPlatform::Fcm, bad),
                Err(WalletError::InvalidInput { .. })
            ));
        }
    }

    #[tokio::test]
    async fn the_token_goes_to_the_server_signed_and_can_be_removed() {
        let keys = Keys::new();
        let server = spawn_server(&keys, PayMode::Pay).await;
        let dir = tempfile::tempdir().unwrap();
        let config = unpinned_config(dir.path(), &server.url);
        let w = Wallet::new(config, InMemoryKeyStore::new()).unwrap();
        w.open().await.unwrap();
        assert_eq!(
            w.account()
                .register_push_token(PushPlatform::Fcm, "t".into(), "en".into())
                .await,
            Err(WalletError::NotRegistered)
        );
        w.account().register("Ann".into(), None).await.unwrap();
        w.account()
            .register_push_token(PushPlatform::Apns, "<AB12 cd34>".into(), "zh-Hans".into())
            .await
            .unwrap();
        assert_eq!(
            server.state.lock().unwrap().push_tokens,
            [serde_json::json!({"platform": "apns", "token": "AB12cd34", "locale": "zh"})]
        );
        // The fake server refuses what the real one would (422 invalid_field).
        let err = w
            .account()
            .register_push_token(PushPlatform::Fcm, "bad token!".into(), "en".into())
            .await
            .unwrap_err();
        assert!(matches!(err, WalletError::InvalidInput { .. }), "{err:?}");
        assert!(w.account().remove_push_token().await.unwrap());
        assert!(!w.account().remove_push_token().await.unwrap());
        // register (x1) + two registrations + two removals, each verified.
        assert_eq!(server.state.lock().unwrap().verified, 5);
        w.close().await;
    }
}
