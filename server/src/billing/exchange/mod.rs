//! Billing out, reconciliation back (issue 12.4). A closed day's billing
//! records (the settlement records and the day's payments) are frozen into
//! a `billing_exports` row, one per (day, UTC offset), and a worker posts
//! that exact body to the external billing system, signed with HMAC-SHA256,
//! retrying with backoff until a 2xx answer; rows survive restarts, as the
//! alert outbox does. The billing system's reconciliation file (JSON or
//! CSV) is compared with the ledger and the result kept in
//! `billing_reconciliations`.
//!
//! A delivery carries the headers `wayfare-delivery-id` (also
//! `idempotency-key`; the same on every retry, so the billing system
//! dedupes on it), `wayfare-timestamp` (Unix seconds of this attempt) and
//! `wayfare-signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.

use std::time::Duration;

use ring::hmac;
use serde_json::{json, Value};
use thiserror::Error;
use wayfare_protocol::ids::{new_id, redact};

use crate::billing::{self, StatementEntry};
use crate::civil::{civil_from_days, local_day_start, offset_label, parse_day};
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::outbox::queue::RetryPolicy;
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Why a billing endpoint cannot be configured.
#[derive(Debug, Error)]
pub enum BillingConfigError {
    /// The URL does not parse or is not http(s).
    #[error("billing endpoint URL: {0}")]
    Url(String),
    /// The signing secret is too short to be a secret.
    #[error("billing signing secret must be at least 16 bytes")]
    WeakSecret,
    /// The HTTP client could not be built.
    #[error("billing HTTP client: {0}")]
    Client(String),
    /// The daily close offset is outside -720..=840 minutes.
    #[error("billing close UTC offset must be within -720..=840 minutes")]
    Offset,
}

/// Where billing exports go: the external billing system's URL, the shared
/// secret that signs each delivery, and optionally the UTC offset at which
/// the server closes each day by itself.
#[derive(Clone)]
pub struct BillingEndpoint {
    url: reqwest::Url,
    key: hmac::Key,
    client: reqwest::Client,
    daily_close_offset: Option<i64>,
}

impl std::fmt::Debug for BillingEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("BillingEndpoint")
            .field("url", &self.url.as_str())
            .field("daily_close_offset", &self.daily_close_offset)
            .finish_non_exhaustive()
    }
}

impl BillingEndpoint {
    /// An endpoint posting to `url` (http or https), signing with `secret`
    /// (at least 16 bytes), each attempt bounded by `timeout`.
    pub fn new(url: &str, secret: &[u8], timeout: Duration) -> Result<Self, BillingConfigError> {
        let url = reqwest::Url::parse(url).map_err(|e| BillingConfigError::Url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BillingConfigError::Url(format!("{url} is not http(s)")));
        }
        if secret.len() < 16 {
            return Err(BillingConfigError::WeakSecret);
        }
        // reqwest is built without a default rustls provider; install ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| BillingConfigError::Client(e.to_string()))?;
        Ok(Self {
            url,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            client,
            daily_close_offset: None,
        })
    }

    /// Also close each day automatically once it has ended at
    /// `offset_minutes` east of UTC (the operator's zone): the sender
    /// creates the export of the previous day if it does not exist yet.
    pub fn with_daily_close(mut self, offset_minutes: i64) -> Result<Self, BillingConfigError> {
        if !(-720..=840).contains(&offset_minutes) {
            return Err(BillingConfigError::Offset);
        }
        self.daily_close_offset = Some(offset_minutes);
        Ok(self)
    }

    /// The `v1=` signature of `body` sent at `timestamp` (Unix seconds).
    fn signature(&self, timestamp: i64, body: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body.as_bytes());
        format!("v1={}", hex::encode(ctx.sign().as_ref()))
    }

    async fn deliver(&self, delivery_id: &str, body: &str) -> Result<(), String> {
        let timestamp = to_i64(now_ms()) / 1000;
        let answer = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("wayfare-delivery-id", delivery_id)
            .header("idempotency-key", delivery_id)
            .header("wayfare-timestamp", timestamp.to_string())
            .header("wayfare-signature", self.signature(timestamp, body))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("unreachable: {}", e.without_url()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", answer.status().as_u16()))
        }
    }
}

/// A billing export's row, without its body (`exports::EXPORT_COLUMNS`).
#[derive(sqlx::FromRow)]
struct ExportRow {
    id: String,
    date: String,
    utc_offset_minutes: i64,
    delivery_id: String,
    record_count: i64,
    payment_count: i64,
    created_at_ms: i64,
    attempts: i64,
    next_attempt_at_ms: i64,
    delivered_at_ms: Option<i64>,
    last_error: Option<String>,
}

mod exports;
mod reconcile;
mod sender;
#[cfg(test)]
mod tests;

pub use exports::{close_day, get_export, list_exports, ExportView};
pub use reconcile::{
    get_reconciliation, list_reconciliations, parse_statement_csv, store_reconciliation,
    ReconciliationInput, ReconciliationSummary, StoredReconciliation,
};
pub use sender::run;
