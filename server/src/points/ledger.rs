//! The points ledger: points move only through [`post`], double-entry like
//! money (`crate::ledger`). Every movement's legs sum to zero; one side is
//! the operator's loyalty account of the currency, whose points balance
//! goes negative by exactly the points outstanding with riders.

use crate::db::exec::{sql, Exec};
use wayfare_protocol::ids::new_ordered_id;
use wayfare_protocol::money::Currency;

use crate::db::{to_u64, Backend};
use crate::error::ApiError;
use crate::ledger::pending::{self, PendingPoints};

/// One side of a points movement.
#[derive(Clone, Debug)]
pub(crate) struct PointsLeg {
    /// Account whose points change.
    pub account_id: String,
    /// Signed points (negative = the account gives points).
    pub points: i64,
    /// Refuse the movement if this leg would take the account below zero
    /// (a rider spending points); earned points taken back by a refund may
    /// leave a rider below zero, as before the points ledger.
    pub require_cover: bool,
    /// The loyalty account's side: appended as a pending entry that the
    /// ledger's settler folds in (`crate::ledger::pending`), so payments do
    /// not queue on that one row.
    pub deferred: bool,
}

/// A set of legs that moves points between accounts.
#[derive(Clone, Debug)]
pub(crate) struct PointsMovement<'a> {
    /// `earn`, `spend`, `refund_clawback`, `refund_return` (or a money
    /// movement's kind when it carried points).
    pub kind: &'static str,
    /// The payment, refund or movement this belongs to.
    pub movement_id: &'a str,
    /// The payment concerned, when there is one.
    pub payment_id: Option<&'a str>,
    /// The currency of the loyalty account on one side.
    pub currency: &'a Currency,
    /// Time of the movement (Unix ms).
    pub at_ms: i64,
    /// Two or more legs summing to zero.
    pub legs: Vec<PointsLeg>,
}

/// The id of the operator's loyalty account of a currency: it pays the
/// money value of spent points (its balance goes negative by the value
/// redeemed) and is the other side of every points movement.
pub(crate) fn loyalty_account_id(currency: &Currency) -> String {
    format!("acc_loyalty_{}", currency.code().to_ascii_lowercase())
}

/// Creates the loyalty account of `currency` on first use; returns its id.
pub(crate) async fn loyalty_account(
    conn: &mut dyn Exec,
    currency: &Currency,
    now_ms: i64,
) -> Result<String, ApiError> {
    let id = loyalty_account_id(currency);
    sql(
        "INSERT INTO accounts (id, kind, display_name, currency, created_at_ms) \
         VALUES ($1, 'loyalty', $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.clone())
    .bind(format!("Loyalty ({})", currency.code()))
    .bind(currency.code().to_string())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Posts a points movement inside the caller's transaction. A covered leg
/// the account cannot pay fails with `insufficient_points` (the caller
/// rolls back). Callers put the loyalty account's leg last; it is deferred.
pub(crate) async fn post(
    conn: &mut dyn Exec,
    movement: &PointsMovement<'_>,
) -> Result<(), ApiError> {
    let sum: i128 = movement.legs.iter().map(|l| i128::from(l.points)).sum();
    if movement.legs.len() < 2 || sum != 0 {
        return Err(ApiError::Internal(format!(
            "unbalanced {} points movement: {} legs summing to {sum}",
            movement.kind,
            movement.legs.len()
        )));
    }
    for leg in &movement.legs {
        if leg.deferred {
            pending::append_points(
                conn,
                PendingPoints {
                    account_id: &leg.account_id,
                    kind: movement.kind,
                    movement_id: movement.movement_id,
                    payment_id: movement.payment_id,
                    points: leg.points,
                    currency: movement.currency,
                    at_ms: movement.at_ms,
                },
            )
            .await?;
            continue;
        }
        post_leg(conn, movement, leg).await?;
    }
    Ok(())
}

/// Moves a leg's points (`$1` to account `$2`) and reads them back; the
/// covered form is conditional, so it is correct under concurrency on both
/// backends, like the money ledger's covered debit.
macro_rules! move_points {
    (plain) => {
        "UPDATE accounts SET points = points + $1 WHERE id = $2 RETURNING points"
    };
    (covered) => {
        "UPDATE accounts SET points = points + $1 WHERE id = $2 AND points + $1 >= 0 \
         RETURNING points"
    };
}
/// The leg's entry: `$3`… are its id, movement, kind, payment and time.
macro_rules! insert_entry {
    () => {
        "INSERT INTO points_entries (id, movement_id, kind, account_id, points, points_after, \
         payment_id, created_at_ms) "
    };
}
/// SQLite: the entry, after the move ran as a statement of its own (its
/// points after as `$8`). SQLite has no data-modifying `WITH`; its
/// statements run in the call.
const ENTRY_SQLITE: &str = concat!(
    insert_entry!(),
    "VALUES ($3, $4, $5, $2, $1, $8, $6, $7) RETURNING points_after"
);
/// PostgreSQL: the move and the entry in one statement (one round trip);
/// no row when the move changed none.
macro_rules! leg_postgres {
    ($move:tt) => {
        concat!(
            "WITH moved AS (",
            move_points!($move),
            ") ",
            insert_entry!(),
            "SELECT $3, $4, $5, $2, $1, points, $6, $7 FROM moved RETURNING points_after"
        )
    };
}

/// Moves one leg's points and adds its entry.
async fn post_leg(
    conn: &mut dyn Exec,
    movement: &PointsMovement<'_>,
    leg: &PointsLeg,
) -> Result<(), ApiError> {
    let covered = leg.require_cover && leg.points < 0;
    let postgres = conn.backend() == Backend::Postgres;
    let entry = sql(match (postgres, covered) {
        (true, true) => leg_postgres!(covered),
        (true, false) => leg_postgres!(plain),
        (false, _) => ENTRY_SQLITE,
    })
    .bind(leg.points)
    .bind(leg.account_id.clone())
    .bind(
        new_ordered_id("pte", to_u64(movement.at_ms))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    )
    .bind(movement.movement_id.to_string())
    .bind(movement.kind)
    .bind(movement.payment_id.map(str::to_string))
    .bind(movement.at_ms);
    // PostgreSQL moves and writes in one statement; SQLite moves first and
    // binds the points after as `$8`. No row either way: nothing moved.
    let written: Option<(i64,)> = if postgres {
        entry.fetch_optional(&mut *conn).await?
    } else {
        let moved: Option<(i64,)> = sql(if covered {
            move_points!(covered)
        } else {
            move_points!(plain)
        })
        .bind(leg.points)
        .bind(leg.account_id.clone())
        .fetch_optional(&mut *conn)
        .await?;
        match moved {
            Some((points,)) => entry.bind(points).fetch_optional(&mut *conn).await?,
            None => None,
        }
    };
    if written.is_some() {
        return Ok(());
    }
    // Nothing moved: the account could not cover the leg, or is gone.
    let held = crate::accounts::store::find_in(&mut *conn, &leg.account_id)
        .await?
        .map(|a| a.points);
    Err(match held {
        Some(held) => ApiError::InsufficientPoints(format!(
            "the wallet has {held} points, fewer than the {} to spend",
            -leg.points
        )),
        None => ApiError::NotFound("account not found".into()),
    })
}

/// Points moved between one account and the loyalty account of a
/// currency: positive to the account, negative from it.
#[derive(Clone, Debug)]
pub(crate) struct Transfer<'a> {
    /// The movement's kind (see [`PointsMovement::kind`]).
    pub kind: &'static str,
    /// The payment or refund this belongs to.
    pub movement_id: &'a str,
    /// The payment concerned.
    pub payment_id: Option<&'a str>,
    /// The rider's (or merchant's) account.
    pub account_id: &'a str,
    /// Signed points for `account_id`.
    pub points: i64,
    /// Refuse when the account cannot give the points.
    pub require_cover: bool,
    /// Currency of the loyalty account on the other side.
    pub currency: &'a Currency,
    /// Time (Unix ms).
    pub at_ms: i64,
}

/// Posts a [`Transfer`], the loyalty account's leg last. Nothing is
/// written for zero points.
pub(crate) async fn transfer(conn: &mut dyn Exec, t: Transfer<'_>) -> Result<(), ApiError> {
    if t.points == 0 {
        return Ok(());
    }
    // Created with the first merchant of the currency (and by migration
    // 0014 for merchants from before): payments do not check it each time.
    let loyalty = loyalty_account_id(t.currency);
    post(
        conn,
        &PointsMovement {
            kind: t.kind,
            movement_id: t.movement_id,
            payment_id: t.payment_id,
            currency: t.currency,
            at_ms: t.at_ms,
            legs: vec![
                PointsLeg {
                    account_id: t.account_id.to_string(),
                    points: t.points,
                    require_cover: t.require_cover,
                    deferred: false,
                },
                PointsLeg {
                    account_id: loyalty,
                    points: -t.points,
                    require_cover: false,
                    deferred: true,
                },
            ],
        },
    )
    .await
}
