//! Pending entries: postings to the accounts every payment touches (a
//! merchant's credit, the loyalty account's side of earned points), kept
//! off those accounts' rows while the payment commits (decision 0020).
//!
//! A payment that updated the merchant's balance row held that row's lock
//! until its commit was durable, so on PostgreSQL the payments of one
//! merchant — every tap of a city's transit operator — committed strictly
//! one after the other. Instead the payment appends a pending entry (an
//! insert, which locks nothing another payment needs), and the settler
//! ([`run`]) folds each account's pending entries in batches: one
//! statement takes them, one moves the balance (and the entry sequence and
//! points) by their sum, one or a few insert the ledger entries with their
//! sequence numbers and running balances. Until folded, a pending entry
//! counts in the balance the API shows and in the ledger check's sums. A
//! covered debit of such an account (a refund) folds first, inside its own
//! transaction, so the credits it may spend are on the balance it checks.
//!
//! Folding twice is impossible: the statement that takes the entries
//! deletes them, and on PostgreSQL a second settler (another node) blocked
//! on the same rows finds them gone when it resumes.

use std::time::Duration;

use tokio::sync::watch;
use wayfare_protocol::ids::new_ordered_id;
use wayfare_protocol::money::Currency;

use super::{Leg, Movement};
use crate::db::exec::{sql, Exec};
use crate::db::to_u64;
use crate::db::Backend;
use crate::error::ApiError;
use crate::state::AppState;

/// Entries folded per statement batch: bounds a fold transaction's size and
/// its statements' parameter counts (11 per ledger entry, under SQLite's
/// and PostgreSQL's limits).
const FOLD_BATCH: usize = 256;
/// After a failed pass the settler waits longer, doubling up to this: a
/// database that is down is not asked (and logged about) ten times a second.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The settler's default wait between two passes: pending entries are
/// folded within about this long.
pub(crate) const SETTLE_INTERVAL: Duration = Duration::from_millis(100);

/// Appends the money posting of a deferred `leg` of `movement`.
pub(crate) async fn append_money(
    conn: &mut dyn Exec,
    movement: &Movement,
    leg: &Leg,
) -> Result<(), ApiError> {
    sql(
        "INSERT INTO pending_entries (id, account_id, ledger, movement_id, kind, amount_minor, \
         currency, payment_id, description, created_at_ms) \
         VALUES ($1, $2, 'money', $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(
        new_ordered_id("led", to_u64(movement.at_ms))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    )
    .bind(leg.account_id.clone())
    .bind(movement.movement_id.clone())
    .bind(movement.kind)
    .bind(leg.amount_minor)
    .bind(movement.currency.code().to_string())
    .bind(movement.payment_id.clone())
    .bind(movement.description.clone())
    .bind(movement.at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A points posting to append as pending (see [`append_points`]).
pub(crate) struct PendingPoints<'a> {
    /// The account (the loyalty account of `currency`).
    pub account_id: &'a str,
    /// The points movement's kind.
    pub kind: &'a str,
    /// The payment or refund this belongs to.
    pub movement_id: &'a str,
    /// The payment concerned.
    pub payment_id: Option<&'a str>,
    /// Signed points.
    pub points: i64,
    /// The account's currency.
    pub currency: &'a Currency,
    /// Time (Unix ms).
    pub at_ms: i64,
}

/// Appends a deferred points posting.
pub(crate) async fn append_points(
    conn: &mut dyn Exec,
    p: PendingPoints<'_>,
) -> Result<(), ApiError> {
    sql(
        "INSERT INTO pending_entries (id, account_id, ledger, movement_id, kind, points, \
         currency, payment_id, created_at_ms) \
         VALUES ($1, $2, 'points', $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_ordered_id("pte", to_u64(p.at_ms)).map_err(|e| ApiError::Internal(e.to_string()))?)
    .bind(p.account_id.to_string())
    .bind(p.movement_id.to_string())
    .bind(p.kind.to_string())
    .bind(p.points)
    .bind(p.currency.code().to_string())
    .bind(p.payment_id.map(str::to_string))
    .bind(p.at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One pending entry taken for folding.
#[derive(serde::Deserialize)]
struct Taken {
    id: String,
    ledger: String,
    movement_id: String,
    kind: String,
    amount_minor: i64,
    points: i64,
    currency: String,
    payment_id: Option<String>,
    description: String,
    created_at_ms: i64,
}

/// Folds up to [`FOLD_BATCH`] pending entries of `account_id` into its
/// balance, points and entries, inside the caller's transaction; returns
/// how many were folded.
pub(crate) async fn fold(conn: &mut dyn Exec, account_id: &str) -> Result<usize, ApiError> {
    let mut taken: Vec<Taken> = sql(
        "DELETE FROM pending_entries WHERE id IN (SELECT id FROM pending_entries \
         WHERE account_id = $1 ORDER BY created_at_ms, id LIMIT $2) \
         RETURNING id, ledger, movement_id, kind, amount_minor, points, currency, payment_id, \
         description, created_at_ms",
    )
    .bind(account_id.to_string())
    .bind(i64::try_from(FOLD_BATCH).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    if taken.is_empty() {
        return Ok(0);
    }
    // RETURNING has no order: entries get their sequence in posting order.
    taken.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    let (money, points): (Vec<Taken>, Vec<Taken>) =
        taken.into_iter().partition(|t| t.ledger == "money");
    let money_sum: i64 = money.iter().map(|t| t.amount_minor).sum();
    let points_sum: i64 = points.iter().map(|t| t.points).sum();
    let count = i64::try_from(money.len()).unwrap_or(i64::MAX);
    // The account's row is locked from here to the commit: once per batch.
    let (balance, seq, points_after): (i64, i64, i64) = sql(
        "UPDATE accounts SET balance_minor = balance_minor + $1, entry_seq = entry_seq + $2, \
         points = points + $3 WHERE id = $4 RETURNING balance_minor, entry_seq, points",
    )
    .bind(money_sum)
    .bind(count)
    .bind(points_sum)
    .bind(account_id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    insert_money(conn, account_id, &money, balance - money_sum, seq - count).await?;
    insert_points(conn, account_id, &points, points_after - points_sum).await?;
    Ok(money.len() + points.len())
}

/// Folds every pending entry of `account_id` (batch after batch).
pub(crate) async fn fold_all(conn: &mut dyn Exec, account_id: &str) -> Result<(), ApiError> {
    while fold(conn, account_id).await? == FOLD_BATCH {}
    Ok(())
}

/// The ledger entries of folded money postings, numbered on from `seq`
/// with running balances from `balance` (both as they were before).
async fn insert_money(
    conn: &mut dyn Exec,
    account_id: &str,
    entries: &[Taken],
    mut balance: i64,
    mut seq: i64,
) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Ok(());
    }
    for chunk in entries.chunks(rows_per_insert(conn, entries.len())) {
        let statement = values_sql(
            "INSERT INTO ledger_entries (id, movement_id, kind, account_id, account_seq, \
             amount_minor, currency, balance_after_minor, payment_id, description, \
             created_at_ms) VALUES ",
            11,
            chunk.len(),
        );
        let mut query = sql(statement);
        for t in chunk {
            seq += 1;
            balance += t.amount_minor;
            query = query
                .bind(t.id.clone())
                .bind(t.movement_id.clone())
                .bind(t.kind.clone())
                .bind(account_id.to_string())
                .bind(seq)
                .bind(t.amount_minor)
                .bind(t.currency.clone())
                .bind(balance)
                .bind(t.payment_id.clone())
                .bind(t.description.clone())
                .bind(t.created_at_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The points entries of folded points postings, with running points from
/// `points` (as they were before).
async fn insert_points(
    conn: &mut dyn Exec,
    account_id: &str,
    entries: &[Taken],
    mut points: i64,
) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Ok(());
    }
    for chunk in entries.chunks(rows_per_insert(conn, entries.len())) {
        let statement = values_sql(
            "INSERT INTO points_entries (id, movement_id, kind, account_id, points, \
             points_after, payment_id, created_at_ms) VALUES ",
            8,
            chunk.len(),
        );
        let mut query = sql(statement);
        for t in chunk {
            points += t.points;
            query = query
                .bind(t.id.clone())
                .bind(t.movement_id.clone())
                .bind(t.kind.clone())
                .bind(account_id.to_string())
                .bind(t.points)
                .bind(points)
                .bind(t.payment_id.clone())
                .bind(t.created_at_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per `INSERT` of folded entries: all in one on PostgreSQL (one
/// round trip); one on SQLite, where the writer runs statements in the
/// call, so a cached one-row statement costs less than parsing a
/// statement of every other length.
fn rows_per_insert(conn: &dyn Exec, rows: usize) -> usize {
    match conn.backend() {
        Backend::Postgres => rows.max(1),
        Backend::Sqlite => 1,
    }
}

/// `prefix` followed by `rows` tuples of `columns` numbered placeholders.
fn values_sql(prefix: &str, columns: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 5);
    sql.push_str(prefix);
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

/// One pass: folds the pending entries of every account that has some;
/// returns how many were folded.
pub(crate) async fn settle(state: &AppState) -> Result<usize, ApiError> {
    let accounts: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT account_id FROM pending_entries")
            .fetch_all(&state.db().pool)
            .await?;
    let mut folded = 0;
    for (account_id,) in accounts {
        loop {
            let id = account_id.clone();
            let n = state
                .db()
                .write_exec(move |conn| {
                    let id = id.clone();
                    Box::pin(async move { fold(conn, &id).await })
                })
                .await?;
            folded += n;
            if n < FOLD_BATCH {
                break;
            }
        }
    }
    Ok(folded)
}

/// The settler: folds pending entries until shutdown (and once more on the
/// way out, so a clean stop leaves none).
pub(crate) async fn run(state: AppState, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut wait = interval;
    loop {
        let stopping = *stop.borrow();
        match settle(&state).await {
            Ok(n) => {
                if n > 0 {
                    tracing::trace!(folded = n, "pending entries folded");
                }
                wait = interval;
            }
            Err(e) => {
                wait = (wait * 2).min(MAX_BACKOFF.max(interval));
                let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(error = %e, retry_in_ms, "folding pending ledger entries failed");
            }
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = stop.wait_for(|v| *v) => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::values_sql;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b) VALUES ", 2, 3),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)"
        );
    }
}
