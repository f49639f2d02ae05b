//! Reading an account by id, written once for every area: the payments'
//! refusals, guardians' views, express allowances and debts, top-ups,
//! kiosks, the outbox and the wallet all read the same row.

use sqlx::{Any, Executor};

use crate::db::exec::{sql, Exec};
use crate::error::ApiError;

/// An account's row (without its sequences). The balance and points are
/// the folded ones: a merchant's pending credits are not in them
/// (decision 0020).
#[derive(Clone, Debug, sqlx::FromRow, serde::Deserialize)]
pub(crate) struct Account {
    /// `acc_…`.
    pub id: String,
    /// `user`, `merchant`, `funding`, `loyalty`, `cash_float`.
    pub kind: String,
    /// The name the rider or merchant gave.
    pub display_name: String,
    /// A rider's pseudonymous handle (`rider-…`).
    pub handle: Option<String>,
    /// A rider's phone number, when registered.
    pub phone_number: Option<String>,
    /// The account's currency code.
    pub currency: String,
    /// The folded balance, in minor units.
    pub balance_minor: i64,
    /// The folded loyalty points.
    pub points: i64,
}

const SELECT_ACCOUNT: &str = "SELECT id, kind, display_name, handle, phone_number, currency, \
    balance_minor, points FROM accounts WHERE id = $1";

/// The account `id`, if there is one; from a pool or inside the caller's
/// transaction (`&mut *conn`).
pub(crate) async fn find<'e, E>(db: E, id: &str) -> Result<Option<Account>, ApiError>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(SELECT_ACCOUNT)
        .bind(id.to_string())
        .fetch_optional(db)
        .await?)
}

/// [`find`] inside a transaction written against [`Exec`] (the payment
/// path's refusals).
pub(crate) async fn find_in(conn: &mut dyn Exec, id: &str) -> Result<Option<Account>, ApiError> {
    sql(SELECT_ACCOUNT).bind(id).fetch_optional(conn).await
}

/// The account `id`, which the caller knows exists (the request's signer,
/// a binding's party): a missing one is a database error, not the
/// caller's.
pub(crate) async fn get<'e, E>(db: E, id: &str) -> Result<Account, ApiError>
where
    E: Executor<'e, Database = Any>,
{
    find(db, id)
        .await?
        .ok_or(ApiError::Database(sqlx::Error::RowNotFound))
}
