//! The `funding_intents` rows and the providers' clearing accounts: every
//! SQL statement of the funding area.

use sqlx::{AnyConnection, AnyPool};
use wayfare_protocol::money::Currency;

use crate::db::{lock_clause, RowLock};
use crate::error::ApiError;

/// A top-up a rider started: pending until its provider confirms or fails
/// it (the sandbox confirms at once).
/// Read straight from its row (`COLUMNS`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct Intent {
    /// `fi_…`, shown to the rider and sent to the provider.
    pub reference: String,
    /// The rider's account.
    pub account_id: String,
    /// The device that started it.
    pub device_id: String,
    /// The device's idempotency key (unique per account).
    pub idempotency_key: String,
    /// The provider id.
    pub provider: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `pending`, `confirmed` or `failed`.
    pub status: String,
    /// Where the rider pays (checkout providers).
    pub checkout_url: Option<String>,
    /// The provider's reference, from its callback.
    pub provider_reference: Option<String>,
    /// The top-up (`top_…`) once confirmed.
    pub top_up_id: Option<String>,
    /// Why the provider failed it.
    pub failure_reason: Option<String>,
    /// When it was started (Unix ms).
    pub created_at_ms: i64,
    /// After this a pending intent shows as `expired`.
    pub expires_at_ms: i64,
    /// When it was confirmed or failed.
    pub completed_at_ms: Option<i64>,
}

const COLUMNS: &str = "reference, account_id, device_id, idempotency_key, provider, amount_minor, \
     currency, status, checkout_url, provider_reference, top_up_id, failure_reason, created_at_ms, \
     expires_at_ms, completed_at_ms";

impl Intent {
    /// The status shown: a pending intent past its expiry is `expired`
    /// (its provider may still confirm it: the money was then taken).
    pub fn shown_status(&self, now_ms: i64) -> &str {
        if self.status == "pending" && now_ms > self.expires_at_ms {
            "expired"
        } else {
            &self.status
        }
    }
}

/// Stores a new intent.
pub(crate) async fn insert(conn: &mut AnyConnection, i: &Intent) -> Result<(), ApiError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO funding_intents ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(i.reference.clone())
    .bind(i.account_id.clone())
    .bind(i.device_id.clone())
    .bind(i.idempotency_key.clone())
    .bind(i.provider.clone())
    .bind(i.amount_minor)
    .bind(i.currency.clone())
    .bind(i.status.clone())
    .bind(i.checkout_url.clone())
    .bind(i.provider_reference.clone())
    .bind(i.top_up_id.clone())
    .bind(i.failure_reason.clone())
    .bind(i.created_at_ms)
    .bind(i.expires_at_ms)
    .bind(i.completed_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The intent with this reference; `lock` holds it until the commit.
pub(crate) async fn by_reference(
    conn: &mut AnyConnection,
    reference: &str,
    lock: Option<RowLock>,
) -> Result<Option<Intent>, ApiError> {
    let clause = lock.map(|l| lock_clause(conn, l)).unwrap_or("");
    let row: Option<Intent> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM funding_intents WHERE reference = $1{clause}"
    )))
    .bind(reference.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

/// The intent an account started with this idempotency key.
pub(crate) async fn by_idempotency_key(
    conn: &mut AnyConnection,
    account_id: &str,
    key: &str,
) -> Result<Option<Intent>, ApiError> {
    let row: Option<Intent> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM funding_intents WHERE account_id = $1 AND idempotency_key = $2"
    )))
    .bind(account_id.to_string())
    .bind(key.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

/// Pending → confirmed. A provider reference already used by another
/// intent of the provider fails with a unique violation.
pub(crate) async fn mark_confirmed(
    conn: &mut AnyConnection,
    reference: &str,
    provider_reference: &str,
    top_up_id: &str,
    at_ms: i64,
) -> Result<(), ApiError> {
    let done = sqlx::query(
        "UPDATE funding_intents SET status = 'confirmed', provider_reference = $2, \
         top_up_id = $3, completed_at_ms = $4 WHERE reference = $1 AND status = 'pending'",
    )
    .bind(reference.to_string())
    .bind(provider_reference.to_string())
    .bind(top_up_id.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    expect_one(done.rows_affected())
}

/// Pending → failed.
pub(crate) async fn mark_failed(
    conn: &mut AnyConnection,
    reference: &str,
    provider_reference: &str,
    reason: &str,
    at_ms: i64,
) -> Result<(), ApiError> {
    let done = sqlx::query(
        "UPDATE funding_intents SET status = 'failed', provider_reference = $2, \
         failure_reason = $3, completed_at_ms = $4 WHERE reference = $1 AND status = 'pending'",
    )
    .bind(reference.to_string())
    .bind(provider_reference.to_string())
    .bind(reason.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    expect_one(done.rows_affected())
}

fn expect_one(rows: u64) -> Result<(), ApiError> {
    if rows == 1 {
        Ok(())
    } else {
        // The row was read pending under a lock in the same transaction.
        Err(ApiError::Internal(
            "a funding intent changed under its lock".into(),
        ))
    }
}

/// The provider's clearing account of a currency, created on first use.
/// Its balance goes negative by what the provider has paid in and not yet
/// settled with the operator.
pub(crate) async fn clearing_account(
    conn: &mut AnyConnection,
    provider: &str,
    currency: &Currency,
    now_ms: i64,
) -> Result<String, ApiError> {
    let id = format!(
        "acc_clearing_{provider}_{}",
        currency.code().to_ascii_lowercase()
    );
    sqlx::query(
        "INSERT INTO accounts (id, kind, display_name, currency, created_at_ms) \
         VALUES ($1, 'funding', $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.clone())
    .bind(format!("Clearing of {provider} ({})", currency.code()))
    .bind(currency.code().to_string())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The newest intents with `status` (all when `None`), at most `limit`.
pub(crate) async fn list(
    pool: &AnyPool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Intent>, ApiError> {
    let rows: Vec<Intent> = match status {
        Some(status) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM funding_intents WHERE status = $1 \
                 ORDER BY created_at_ms DESC LIMIT $2"
            )))
            .bind(status.to_string())
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM funding_intents ORDER BY created_at_ms DESC LIMIT $1"
            )))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows)
}
