//! The push queue: one `push_deliveries` row per (outbound message, device
//! with a push token), made by the outbox worker when it takes the message
//! ([`enqueue`]), sent by [`deliver_due`] through the adapter of the
//! token's platform with the outbox's lease, backoff and bookkeeping
//! ([`Queue::Push`]).
//!
//! Per device, so each push has its own fate: a `503` from APNs delays the
//! iPhone's push without sending the Android one twice. A delivery is
//! closed (`delivered_at_ms` set) when sent, and also, with `last_error`
//! saying why, when no retry can help: the token was refused (it is then
//! deleted, if the device has not registered another meanwhile), removed,
//! the message was refused for good, or [`PUSH_TTL_MS`] passed.
//!
//! What is sent is read afresh at each attempt (the device's current token
//! and locale, the message's kind and texts) and is only the message id,
//! its kind and its short text: the message's structured data never goes
//! to Google or Apple.

use futures::StreamExt;
use serde_json::Value;
use wayfare_protocol::ids::redact;

use super::{PushGateways, PushPlatform, PushTarget};
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::gateway::{GatewayError, OutboundMessage};
use crate::outbox::queue::{Queue, RetryPolicy};
use crate::state::AppState;

/// A push not sent within a day of its message is dropped: the app shows
/// the alert from the API when it next opens, and a day-old notification
/// would only confuse.
pub const PUSH_TTL_MS: i64 = 86_400_000;
/// Rows attempted per pass.
const BATCH: i64 = 100;
/// Pushes in flight at once (APNs multiplexes them on one HTTP/2
/// connection; FCM takes them in parallel).
const CONCURRENCY: usize = 8;

/// Makes the push deliveries of message `message_id` for every device of
/// `account_id` with a token of a configured platform (none twice: a retry
/// of the message adds only devices registered since). Returns how many
/// were added.
pub(crate) async fn enqueue(
    state: &AppState,
    push: &PushGateways,
    message_id: &str,
    account_id: &str,
    created_at_ms: i64,
) -> Result<u64, ApiError> {
    let platforms: Vec<&'static str> = push.platforms().iter().map(|p| p.as_str()).collect();
    if platforms.is_empty() {
        return Ok(0);
    }
    let (message_id, account_id) = (message_id.to_string(), account_id.to_string());
    state
        .db()
        .write_tx(move |conn| {
            let (message_id, account_id, platforms) =
                (message_id.clone(), account_id.clone(), platforms.clone());
            Box::pin(async move {
                let devices: Vec<(String, String)> = sqlx::query_as(
                    "SELECT device_id, platform FROM push_tokens WHERE account_id = $1 \
                     ORDER BY device_id",
                )
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?;
                let mut added = 0;
                for (device_id, platform) in devices {
                    if !platforms.contains(&platform.as_str()) {
                        continue;
                    }
                    added += sqlx::query(
                        "INSERT INTO push_deliveries (id, message_id, device_id, \
                         next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $4) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(format!("{message_id}:{device_id}"))
                    .bind(message_id.clone())
                    .bind(device_id)
                    .bind(created_at_ms)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                }
                Ok(added)
            })
        })
        .await
}

/// One due row of `push_deliveries`.
#[derive(sqlx::FromRow)]
struct Due {
    id: String,
    message_id: String,
    device_id: String,
    attempts: i64,
    #[sqlx(rename = "next_attempt_at_ms")]
    due_at: i64,
    #[sqlx(rename = "created_at_ms")]
    created_at: i64,
}

/// Attempts every due push once; returns when the next one is due.
pub(crate) async fn deliver_due(
    state: &AppState,
    push: &PushGateways,
    policy: RetryPolicy,
) -> Result<Option<i64>, ApiError> {
    if push.is_empty() {
        return Ok(None);
    }
    let rows: Vec<Due> = sqlx::query_as(
        "SELECT id, message_id, device_id, attempts, next_attempt_at_ms, created_at_ms \
         FROM push_deliveries WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= $1 \
         ORDER BY next_attempt_at_ms, id LIMIT $2",
    )
    .bind(to_i64(now_ms()))
    .bind(BATCH)
    .fetch_all(&state.db().pool)
    .await?;
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(rows)
        .map(|due| deliver_one(state, push, due, policy))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), ApiError>>()?;
    Queue::Push.next_due(state).await
}

/// The target and the message of a delivery, as they are now.
async fn load(state: &AppState, due: &Due) -> Result<Option<OutboundMessage>, ApiError> {
    let pool = &state.db().pool;
    let token: Option<(String, String, String)> =
        sqlx::query_as("SELECT platform, token, locale FROM push_tokens WHERE device_id = $1")
            .bind(due.device_id.clone())
            .fetch_optional(pool)
            .await?;
    let Some((platform, token, locale)) = token else {
        return Ok(None);
    };
    let Some(platform) = PushPlatform::parse(&platform) else {
        return Ok(None);
    };
    let (kind, data): (String, String) =
        sqlx::query_as("SELECT kind, data FROM outbound_messages WHERE id = $1")
            .bind(due.message_id.clone())
            .fetch_one(pool)
            .await?;
    let data: Value = serde_json::from_str(&data).map_err(|e| ApiError::Internal(e.to_string()))?;
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_string();
    Ok(Some(OutboundMessage {
        message_id: due.message_id.clone(),
        kind,
        to_handle: String::new(),
        to_phone_number: None,
        text_en: text("text_en"),
        text_zh: text("text_zh"),
        data: Value::Null,
        push: vec![PushTarget {
            device_id: due.device_id.clone(),
            platform,
            token,
            locale,
        }],
    }))
}

async fn deliver_one(
    state: &AppState,
    push: &PushGateways,
    due: Due,
    policy: RetryPolicy,
) -> Result<(), ApiError> {
    if !Queue::Push.claim(state, &due.id, due.due_at).await? {
        return Ok(());
    }
    let attempts = due.attempts + 1;
    let log_id = (redact(&due.message_id), redact(&due.device_id));
    if to_i64(now_ms()) - due.created_at > PUSH_TTL_MS {
        tracing::info!(message = %log_id.0, device = %log_id.1, attempts, "push dropped: too old");
        return Queue::Push
            .close(state, &due.id, due.attempts, "expired")
            .await;
    }
    let Some(message) = load(state, &due).await? else {
        tracing::info!(message = %log_id.0, device = %log_id.1, "push dropped: the device has no push token any more");
        return Queue::Push
            .close(state, &due.id, due.attempts, "no push token")
            .await;
    };
    let target = message.push[0].clone();
    let Some(gateway) = push.for_platform(target.platform) else {
        return Queue::Push
            .close(state, &due.id, due.attempts, "platform not configured")
            .await;
    };
    let platform = target.platform.as_str();
    match gateway.deliver(&message).await {
        Ok(()) => {
            tracing::info!(message = %log_id.0, device = %log_id.1, platform, attempts, "push delivered");
            Queue::Push
                .record(state, &due.id, attempts, Ok(()), policy)
                .await
        }
        Err(GatewayError::TokenInvalid(reason)) => {
            tracing::info!(message = %log_id.0, device = %log_id.1, platform, %reason, "push token refused; deleted");
            forget_token(state, &target).await?;
            Queue::Push.close(state, &due.id, attempts, &reason).await
        }
        Err(e) if e.is_final() => {
            tracing::warn!(message = %log_id.0, device = %log_id.1, platform, error = %e, "push refused; not retried");
            Queue::Push
                .close(state, &due.id, attempts, &e.to_string())
                .await
        }
        Err(e) => {
            tracing::warn!(message = %log_id.0, device = %log_id.1, platform, attempts, error = %e, "push failed; will retry");
            let floor = e.retry_after().unwrap_or_default();
            Queue::Push
                .record_after(state, &due.id, attempts, Err(e.to_string()), policy, floor)
                .await
        }
    }
}

/// Deletes a refused token, unless the device registered another since.
async fn forget_token(state: &AppState, target: &PushTarget) -> Result<(), ApiError> {
    let (device_id, token) = (target.device_id.clone(), target.token.clone());
    state
        .db()
        .write_tx(move |conn| {
            let (device_id, token) = (device_id.clone(), token.clone());
            Box::pin(async move {
                sqlx::query("DELETE FROM push_tokens WHERE device_id = $1 AND token = $2")
                    .bind(device_id)
                    .bind(token)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
}
