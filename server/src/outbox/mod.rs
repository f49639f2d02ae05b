//! The outbound worker: delivers `outbound_messages` rows (written in the
//! transaction of the payment that caused them) through the configured
//! [`OutboundGateway`], retrying with exponential backoff until the gateway
//! answers success. Rows survive restarts, so nothing made before a crash
//! is lost; a row is claimed with a lease before each attempt so that two
//! server instances on one PostgreSQL database do not both send it.
//!
//! Taking a message also queues its pushes (`crate::push::deliveries`:
//! one per device of the recipient with a push token), which the same loop
//! then sends with their own retries. Guardian alerts go to the gateway
//! and to push; merchant prompts only to push: every sale of a shop must
//! not become an SMS.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wayfare_protocol::ids::redact;

use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::gateway::{GatewayError, OutboundGateway, OutboundMessage};
use crate::merchants::prompts::PROMPT_KIND;
use crate::push::{deliveries, PushGateways};
use crate::state::AppState;

pub(crate) mod queue;

pub use queue::RetryPolicy;
use queue::{idle_after, Queue};

/// Rows attempted per pass.
const BATCH: i64 = 50;

/// Runs until the server shuts down.
pub async fn run(
    state: AppState,
    gateway: Arc<dyn OutboundGateway>,
    push: PushGateways,
    policy: RetryPolicy,
) {
    let mut shutdown = state.shutdown_signal();
    loop {
        let pass = async {
            let messages = deliver_due(&state, gateway.as_ref(), &push, policy).await?;
            let pushes = deliveries::deliver_due(&state, &push, policy).await?;
            Ok::<_, ApiError>(match (messages, pushes) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
        };
        let idle = idle_after(pass.await, "outbound");
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.outbound_wake().notified() => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

/// A message due for delivery.
#[derive(sqlx::FromRow)]
struct DueRow {
    id: String,
    kind: String,
    account_id: String,
    data: String,
    attempts: i64,
    next_attempt_at_ms: i64,
    created_at_ms: i64,
}

/// Attempts every due message once; returns when the next one is due.
async fn deliver_due(
    state: &AppState,
    gateway: &dyn OutboundGateway,
    push: &PushGateways,
    policy: RetryPolicy,
) -> Result<Option<i64>, ApiError> {
    let pool = &state.db().pool;
    let now = to_i64(now_ms());
    let due: Vec<DueRow> = sqlx::query_as(
        "SELECT id, kind, account_id, data, attempts, next_attempt_at_ms, created_at_ms \
         FROM outbound_messages WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= $1 \
         ORDER BY created_at_ms, id LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    for DueRow {
        id,
        kind,
        account_id,
        data,
        attempts,
        next_attempt_at_ms: due_at,
        created_at_ms: created_at,
    } in due
    {
        if !Queue::Outbound.claim(state, &id, due_at).await? {
            continue;
        }
        // Pushes first: queued once, they go out whatever the gateway says.
        let outcome = match deliveries::enqueue(state, push, &id, &account_id, created_at).await {
            Err(e) => Err(Failure::from(e.to_string())),
            Ok(_) if kind == PROMPT_KIND => Ok(()),
            Ok(_) => match message(state, &id, &kind, &account_id, &data).await {
                Ok(msg) => gateway.deliver(&msg).await.map_err(Failure::from),
                Err(e) => Err(Failure::from(e.to_string())),
            },
        };
        finish(state, &id, attempts + 1, outcome, policy, gateway.name()).await?;
    }
    Queue::Outbound.next_due(state).await
}

/// A failed attempt: what to record, and the wait the gateway asked for.
struct Failure {
    error: String,
    retry_after: Duration,
}

impl From<String> for Failure {
    fn from(error: String) -> Self {
        Self {
            error,
            retry_after: Duration::ZERO,
        }
    }
}

impl From<GatewayError> for Failure {
    fn from(e: GatewayError) -> Self {
        Self {
            retry_after: e.retry_after().unwrap_or_default(),
            error: e.to_string(),
        }
    }
}

async fn message(
    state: &AppState,
    id: &str,
    kind: &str,
    account_id: &str,
    data: &str,
) -> Result<OutboundMessage, ApiError> {
    let account = crate::accounts::store::get(&state.db().pool, account_id).await?;
    let (handle, phone) = (account.handle, account.phone_number);
    let data: Value = serde_json::from_str(data).map_err(|e| ApiError::Internal(e.to_string()))?;
    let text = |key: &str| {
        data.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(OutboundMessage {
        message_id: id.to_string(),
        kind: kind.to_string(),
        to_handle: handle.unwrap_or_default(),
        to_phone_number: phone,
        text_en: text("text_en"),
        text_zh: text("text_zh"),
        data,
        push: Vec::new(),
    })
}

async fn finish(
    state: &AppState,
    id: &str,
    attempts: i64,
    outcome: Result<(), Failure>,
    policy: RetryPolicy,
    gateway: &str,
) -> Result<(), ApiError> {
    let (outcome, floor) = match outcome {
        Ok(()) => {
            tracing::info!(message = %redact(id), gateway, attempts, "outbound message delivered");
            (Ok(()), Duration::ZERO)
        }
        Err(f) => {
            tracing::warn!(message = %redact(id), gateway, attempts, error = %f.error, "outbound delivery failed; will retry");
            (Err(f.error), f.retry_after)
        }
    };
    Queue::Outbound
        .record_after(state, id, attempts, outcome, policy, floor)
        .await
}
