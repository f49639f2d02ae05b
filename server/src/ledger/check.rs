//! The double-entry check of both ledgers (`GET /v1/ledger/check`): money
//! and loyalty points are each conserved (their entries, pending ones
//! included, sum to zero) and every account holds the sum of its entries.

use sqlx::AnyPool;

use crate::error::ApiError;

/// The result of the ledger invariant check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCheck {
    /// Sum of all entries, pending ones included; zero when money is
    /// conserved.
    pub sum_minor: i64,
    /// Number of entries (folded).
    pub entries: i64,
    /// Entries of both ledgers still pending (see [`pending`]).
    pub pending_entries: i64,
    /// Accounts whose balance differs from the sum of their entries.
    pub balance_mismatches: i64,
    /// The points ledger's check (sum, entries, mismatches).
    pub points: PointsCheck,
}

/// What an account keeps a ledger of: its money or its loyalty points.
#[derive(Clone, Copy, Debug)]
enum Kept {
    /// `accounts.balance_minor`, whose entries are `ledger_entries`.
    Money,
    /// `accounts.points`, whose entries are `points_entries`.
    Points,
}

/// How many accounts hold something other than the sum of their (folded)
/// entries: 0 when every posting wrote its entry.
async fn mismatches(pool: &AnyPool, kept: Kept) -> Result<i64, ApiError> {
    // Constants only, safe in SQL text.
    let (held, entries, amount) = match kept {
        Kept::Money => ("balance_minor", "ledger_entries", "amount_minor"),
        Kept::Points => ("points", "points_entries", "points"),
    };
    let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM accounts a WHERE a.{held} <> \
         (SELECT CAST(COALESCE(SUM(e.{amount}), 0) AS BIGINT) \
          FROM {entries} e WHERE e.account_id = a.id)"
    )))
    .fetch_one(pool)
    .await?;
    Ok(count)
}

/// Checks the double-entry invariants.
pub async fn check(pool: &AnyPool) -> Result<LedgerCheck, ApiError> {
    // One statement, one snapshot: a fold moving entries from pending to
    // folded between two reads cannot show up as a difference.
    let (sum_minor, entries, pending_entries): (i64, i64, i64) = sqlx::query_as(
        "SELECT CAST((SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries)          + (SELECT COALESCE(SUM(amount_minor), 0) FROM pending_entries) AS BIGINT),          (SELECT COUNT(*) FROM ledger_entries), (SELECT COUNT(*) FROM pending_entries)",
    )
    .fetch_one(pool)
    .await?;
    let balance_mismatches = mismatches(pool, Kept::Money).await?;
    Ok(LedgerCheck {
        sum_minor,
        entries,
        pending_entries,
        balance_mismatches,
        points: points_check(pool).await?,
    })
}

/// The result of the points ledger check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointsCheck {
    /// Sum of all points entries; zero when points are conserved.
    pub sum_points: i64,
    /// Number of points entries.
    pub entries: i64,
    /// Accounts whose points differ from the sum of their points entries.
    pub mismatches: i64,
}

/// Checks the points ledger's double-entry invariants.
pub async fn points_check(pool: &AnyPool) -> Result<PointsCheck, ApiError> {
    let (sum_points, entries): (i64, i64) = sqlx::query_as(
        "SELECT CAST((SELECT COALESCE(SUM(points), 0) FROM points_entries)          + (SELECT COALESCE(SUM(points), 0) FROM pending_entries) AS BIGINT),          (SELECT COUNT(*) FROM points_entries)",
    )
    .fetch_one(pool)
    .await?;
    let mismatches = mismatches(pool, Kept::Points).await?;
    Ok(PointsCheck {
        sum_points,
        entries,
        mismatches,
    })
}
