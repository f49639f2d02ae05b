//! What the rider's phone hears when a top-up ends: a `top_up.completed` or
//! `top_up.failed` event on the device stream (`GET /v1/devices/me/events`),
//! appended in the transaction that changed the intent, so the wallet never
//! misses one and never gets one for a change that rolled back.

use serde_json::json;
use sqlx::AnyConnection;

use super::store::Intent;
use crate::error::ApiError;

/// The event of a confirmed top-up.
pub(crate) const COMPLETED: &str = "top_up.completed";
/// The event of a failed top-up.
pub(crate) const FAILED: &str = "top_up.failed";

/// Appends the event of `intent`'s new state (confirmed or failed). Call
/// `AppState::notify_account` after the commit.
pub(crate) async fn append(conn: &mut AnyConnection, intent: &Intent) -> Result<(), ApiError> {
    let kind = if intent.status == "confirmed" {
        COMPLETED
    } else {
        FAILED
    };
    let at = intent.completed_at_ms.unwrap_or(intent.created_at_ms);
    let data = json!({
        "reference": intent.reference,
        "provider": intent.provider,
        "status": intent.status,
        "amount_minor": intent.amount_minor,
        "currency": intent.currency,
        "top_up_id": intent.top_up_id,
        "failure_reason": intent.failure_reason,
        "at_ms": at,
    });
    crate::streams::device::append(conn, &intent.account_id, kind, &data.to_string(), at).await?;
    Ok(())
}
