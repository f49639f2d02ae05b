//! `PUT /v1/devices/push-token` and `DELETE /v1/devices/push-token`: a
//! device registers (or replaces, or removes) the token its app got from
//! FCM or APNs, and the language of its pushes. Signed by the device, and
//! only ever about the signing device: there is no way to name another.
//!
//! One token per device; a token belongs to one device (registering a
//! token another device had takes it over, see migration 0013). The token
//! itself is never logged and never answered back.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wayfare_protocol::ids::redact;

use super::PushPlatform;
use crate::auth::{Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The longest FCM registration token accepted (today's are ~160).
pub const MAX_FCM_TOKEN_CHARS: usize = 1024;
/// APNs device tokens are 32 bytes today, in hex; Apple says they may grow.
pub const APNS_TOKEN_HEX_CHARS: std::ops::RangeInclusive<usize> = 64..=200;
/// The languages pushes are written in.
pub const LOCALES: [&str; 2] = ["en", "zh"];

/// The routes and operations of push tokens.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register, remove))
}

/// A device's push token. An APNs token's stricter alphabet is a
/// conditional `crate::openapi` adds to this schema (utoipa has none).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushTokenRequest {
    #[schema(schema_with = platform)]
    platform: String,
    #[schema(min_length = 1, max_length = 1024, pattern = "^[A-Za-z0-9_:.-]+$")]
    token: String,
    #[schema(schema_with = locale)]
    locale: String,
}

/// `PushPlatform::parse`'s names.
fn platform() -> RefOr<Schema> {
    constraints::one_of(&["fcm", "apns"])
}

/// [`LOCALES`].
fn locale() -> RefOr<Schema> {
    constraints::one_of(&LOCALES)
}

/// The answer: what is registered, without the token.
#[derive(Serialize, ToSchema)]
#[schema(as = PushTokenRegistered)]
pub(crate) struct Registered {
    device_id: String,
    #[schema(schema_with = platform)]
    platform: &'static str,
    #[schema(schema_with = locale)]
    locale: String,
    updated_at_ms: i64,
}

/// A checked token: the platform's alphabet and length; APNs hex is
/// lower-cased.
fn check_token(platform: PushPlatform, token: &str) -> Result<String, ApiError> {
    if token.is_empty() {
        return Err(ApiError::field("token", "must not be empty"));
    }
    match platform {
        PushPlatform::Fcm => {
            if token.chars().count() > MAX_FCM_TOKEN_CHARS {
                return Err(ApiError::field(
                    "token",
                    format!(
                        "an FCM registration token has at most {MAX_FCM_TOKEN_CHARS} characters"
                    ),
                ));
            }
            let allowed =
                |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.');
            if !token.bytes().all(allowed) {
                return Err(ApiError::field(
                    "token",
                    "an FCM registration token has only letters, digits and - _ : .",
                ));
            }
            Ok(token.to_string())
        }
        PushPlatform::Apns => {
            let hex = token.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex
                || !APNS_TOKEN_HEX_CHARS.contains(&token.len())
                || !token.len().is_multiple_of(2)
            {
                return Err(ApiError::field(
                    "token",
                    format!(
                        "an APNs device token is the token's bytes in hexadecimal: {} to {} hex digits, an even number",
                        APNS_TOKEN_HEX_CHARS.start(),
                        APNS_TOKEN_HEX_CHARS.end()
                    ),
                ));
            }
            Ok(token.to_ascii_lowercase())
        }
    }
}

/// `PUT /v1/devices/push-token`.
#[utoipa::path(put, path = "/v1/devices/push-token", operation_id = "registerPushToken", tag = "push",
    summary = "The signing device registers the token its app got from Firebase Cloud Messaging (fcm: 1..1024 of A-Z a-z 0-9 - _ : .) or APNs (apns: the device token in hex, 64..200 hex digits, an even number), and the language of its pushes. One token per device: a new one replaces it; a token another device had moves to this one. Guardian alerts and merchant prompts then also reach the app when it is closed: a push carries only the message id, its kind and a short text in that language; the app fetches the rest over the signed API. The token is never answered back. 422 invalid_field names the field.",
    security(("deviceSignature" = [])),
    request_body = PushTokenRequest,
    responses((status = 200, description = "success", body = Registered), Fails<400, 401, 422>))]
pub(crate) async fn register(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<Registered>, ApiError> {
    let device = request.signer.clone();
    let req: PushTokenRequest = request.json()?;
    let platform = PushPlatform::parse(&req.platform)
        .ok_or_else(|| ApiError::field("platform", "must be \"fcm\" or \"apns\""))?;
    let token = check_token(platform, &req.token)?;
    if !LOCALES.contains(&req.locale.as_str()) {
        return Err(ApiError::field("locale", "must be \"en\" or \"zh\""));
    }
    let now = to_i64(now_ms());
    let row = (
        device.device_id.clone(),
        device.account_id.clone(),
        token,
        req.locale.clone(),
    );
    // A second try covers another device taking the same token at the same
    // moment (the unique index answers one of them with a violation).
    let mut result = Err(ApiError::Internal("not attempted".into()));
    for _ in 0..2 {
        let row = row.clone();
        result = state
            .db()
            .write_tx(move |conn| {
                let (device_id, account_id, token, locale) = row.clone();
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM push_tokens WHERE platform = $1 AND token = $2 \
                         AND device_id <> $3",
                    )
                    .bind(platform.as_str())
                    .bind(token.clone())
                    .bind(device_id.clone())
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO push_tokens (device_id, account_id, platform, token, locale, \
                         created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                         ON CONFLICT (device_id) DO UPDATE SET platform = excluded.platform, \
                         token = excluded.token, locale = excluded.locale, \
                         updated_at_ms = excluded.updated_at_ms",
                    )
                    .bind(device_id)
                    .bind(account_id)
                    .bind(platform.as_str())
                    .bind(token)
                    .bind(locale)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await;
        match &result {
            Err(e) if is_unique_violation(e) => continue,
            _ => break,
        }
    }
    result?;
    tracing::info!(device = %redact(&device.device_id), platform = platform.as_str(), "push token registered");
    Ok(Json(Registered {
        device_id: device.device_id,
        platform: platform.as_str(),
        locale: req.locale,
        updated_at_ms: now,
    }))
}

/// The answer to a removal.
#[derive(Serialize, ToSchema)]
#[schema(as = PushTokenRemoved)]
pub(crate) struct Removed {
    device_id: String,
    removed: bool,
}

/// `DELETE /v1/devices/push-token`: no more pushes to this device (the
/// app signed out of notifications). Removing nothing is not an error.
#[utoipa::path(delete, path = "/v1/devices/push-token", operation_id = "removePushToken", tag = "push",
    summary = "The signing device stops receiving pushes (removed is false when it had no token).",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = Removed), Fails<401>))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<Removed>, ApiError> {
    let device_id = request.signer.device_id.clone();
    let id = device_id.clone();
    let removed = state
        .db()
        .write_tx(move |conn| {
            let id = id.clone();
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM push_tokens WHERE device_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await?;
    tracing::info!(device = %redact(&device_id), removed, "push token removed");
    Ok(Json(Removed { device_id, removed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_per_platform() {
        assert!(check_token(PushPlatform::Fcm, "dGVzdA:APA91b-x_y.z").is_ok());
        assert_eq!(
            check_token(PushPlatform::Apns, &"AB".repeat(32)).unwrap(),
            "ab".repeat(32)
        );
        for (platform, bad) in [
            (PushPlatform::Fcm, String::new()),
            (PushPlatform::Fcm, "a b".to_string()),
            (PushPlatform::Fcm, "x".repeat(MAX_FCM_TOKEN_CHARS + 1)),
            (PushPlatform::Apns, "ab".repeat(31)),
            (PushPlatform::Apns, format!("{}0", "ab".repeat(32))),
            (PushPlatform::Apns, "zz".repeat(32)),
            (PushPlatform::Apns, "ab".repeat(101)),
        ] {
            assert!(check_token(platform, &bad).is_err(), "{platform:?} {bad}");
        }
    }
}
