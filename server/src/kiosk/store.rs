//! The kiosk tables: each top_up terminal's cash-float account and the
//! credited offers with their receipts.

use sqlx::{AnyConnection, AnyPool};

use crate::db::{to_i64, to_u64};
use crate::error::ApiError;

/// The kind of a cash-float account in `accounts`.
pub(super) const FLOAT_KIND: &str = "cash_float";

/// A credited offer, as answered to the phone and the terminal.
#[derive(Clone, Debug)]
pub(super) struct Credited {
    /// The top-up (`top_…`).
    pub top_up_id: String,
    /// The rider's account credited.
    pub account_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// The signed receipt (COSE, base64url).
    pub receipt: String,
}

/// The credited offer of `order_id` at `terminal_id`, if any.
pub(super) async fn find(
    pool: &AnyPool,
    terminal_id: &str,
    order_id: &str,
) -> Result<Option<Credited>, ApiError> {
    let row: Option<CreditedRow> = sqlx::query_as(
        "SELECT top_up_id, account_id, amount_minor, currency, receipt FROM kiosk_top_ups \
         WHERE terminal_id = $1 AND order_id = $2",
    )
    .bind(terminal_id.to_string())
    .bind(order_id.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Credited {
        top_up_id: r.top_up_id,
        account_id: r.account_id,
        amount_minor: to_u64(r.amount_minor),
        currency: r.currency,
        receipt: r.receipt,
    }))
}

/// A credited offer's row.
#[derive(sqlx::FromRow)]
struct CreditedRow {
    top_up_id: String,
    account_id: String,
    amount_minor: i64,
    currency: String,
    receipt: String,
}

/// The cash-float account of `terminal_id`, created on first use in
/// `currency`; a float kept in another currency is refused.
pub(super) async fn float_account(
    conn: &mut AnyConnection,
    terminal_id: &str,
    merchant_id: &str,
    currency: &str,
    at_ms: i64,
) -> Result<String, ApiError> {
    let account_id = format!("acc_float_{terminal_id}");
    sqlx::query(
        "INSERT INTO accounts (id, kind, display_name, currency, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(account_id.clone())
    .bind(FLOAT_KIND)
    .bind(format!("Cash float of terminal {terminal_id}"))
    .bind(currency.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO kiosk_floats (terminal_id, account_id, merchant_id, currency, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (terminal_id) DO NOTHING",
    )
    .bind(terminal_id.to_string())
    .bind(account_id.clone())
    .bind(merchant_id.to_string())
    .bind(currency.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    let (kept,): (String,) =
        sqlx::query_as("SELECT currency FROM kiosk_floats WHERE terminal_id = $1")
            .bind(terminal_id.to_string())
            .fetch_one(&mut *conn)
            .await?;
    if kept != currency {
        return Err(ApiError::CurrencyMismatch(format!(
            "the terminal's cash float is kept in {kept}, not {currency}"
        )));
    }
    Ok(account_id)
}

/// One credited offer to record.
#[derive(Clone, Debug)]
pub(super) struct NewRow {
    pub top_up_id: String,
    pub terminal_id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub account_id: String,
    pub device_id: String,
    pub float_account_id: String,
    pub amount_minor: u64,
    pub currency: String,
    pub receipt: String,
    pub offer_expires_at_ms: u64,
    pub completed_at_ms: u64,
}

/// Records a credited offer; a second one for the same (terminal, order)
/// fails with a unique violation.
pub(super) async fn insert(conn: &mut AnyConnection, row: &NewRow) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO kiosk_top_ups (top_up_id, terminal_id, order_id, merchant_id, account_id, \
         device_id, float_account_id, amount_minor, currency, receipt, offer_expires_at_ms, \
         completed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(row.top_up_id.clone())
    .bind(row.terminal_id.clone())
    .bind(row.order_id.clone())
    .bind(row.merchant_id.clone())
    .bind(row.account_id.clone())
    .bind(row.device_id.clone())
    .bind(row.float_account_id.clone())
    .bind(to_i64(row.amount_minor))
    .bind(row.currency.clone())
    .bind(row.receipt.clone())
    .bind(to_i64(row.offer_expires_at_ms))
    .bind(to_i64(row.completed_at_ms))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The rider's balance now.
pub(super) async fn balance(pool: &AnyPool, account_id: &str) -> Result<i64, ApiError> {
    Ok(crate::accounts::store::find(pool, account_id)
        .await?
        .map(|a| a.balance_minor)
        .unwrap_or_default())
}
