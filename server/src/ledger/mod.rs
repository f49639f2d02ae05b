//! The double-entry ledger. Money moves only through [`post`]: a movement is
//! two or more legs summing to zero; each leg updates its account's balance
//! and adds one ledger entry, inside the caller's transaction — or, for an
//! account every payment touches (a merchant, the loyalty account), adds a
//! pending entry that [`pending`] folds into the account later, so that
//! concurrent payments do not queue on that account's row (decision 0020).

use crate::db::exec::{sql, Exec};
use wayfare_protocol::ids::new_ordered_id;
use wayfare_protocol::money::Currency;

use crate::db::to_u64;
use crate::error::ApiError;
use crate::points;

mod check;
pub(crate) mod pending;
mod routes;

pub(crate) use check::check;
pub(crate) use routes::router;

/// One side of a movement.
#[derive(Clone, Debug)]
pub struct Leg {
    /// Account debited (negative amount) or credited (positive).
    pub account_id: String,
    /// Signed amount in minor units.
    pub amount_minor: i64,
    /// Refuse the movement if a debit would take the balance below zero.
    pub require_cover: bool,
    /// Loyalty points added to the account with this leg (negative: taken
    /// back); [`post`] moves them through the points ledger against the
    /// loyalty account of the movement's currency (`crate::points::ledger`).
    pub points: i64,
    /// The account takes postings from many concurrent transactions (a
    /// merchant's credit, the loyalty account): a leg without cover is
    /// appended as a pending entry instead of updating the account's row,
    /// and a covered debit first folds the account's pending entries in
    /// (see [`pending`]).
    pub deferred: bool,
}

/// A set of legs that moves money between accounts.
#[derive(Clone, Debug)]
pub struct Movement {
    /// `payment`, `top_up` or `refund`.
    pub kind: &'static str,
    /// The payment or top-up this movement belongs to.
    pub movement_id: String,
    /// Set for payments: links the entries to the payment row.
    pub payment_id: Option<String>,
    /// Shown in wallet history.
    pub description: String,
    /// Currency of every leg.
    pub currency: Currency,
    /// Time of the movement (Unix ms).
    pub at_ms: i64,
    /// Two or more legs summing to zero.
    pub legs: Vec<Leg>,
}

/// Posts a movement; returns each leg's balance after it, in leg order
/// (`None` for a deferred leg appended as pending). A covered debit the
/// balance cannot pay fails with `insufficient_funds` (the caller's
/// transaction must then be rolled back).
pub async fn post(conn: &mut dyn Exec, movement: &Movement) -> Result<Vec<Option<i64>>, ApiError> {
    post_debits(conn, movement).await?.finish(conn).await
}

/// A movement whose legs that require cover are posted and whose others are not
/// yet: see [`post_debits`].
#[must_use = "a posting moves money only once finished"]
pub struct Posting<'m> {
    movement: &'m Movement,
    /// Per leg: the balance and entry sequence its account moved to, for
    /// the legs already moved (their entries are written by `finish`).
    moved: Vec<Option<(i64, i64)>>,
}

/// The first half of [`post`]: checks the movement and moves the balances
/// of the legs that require cover (the payer's side, which decides whether
/// the movement can happen). Their entries and the other legs wait for
/// [`Posting::finish`]: a payment writes its own row in between, knowing
/// the payer's balance after (the entries reference that row), and the
/// accounts every transaction shares are reached just before the commit.
pub async fn post_debits<'m>(
    conn: &mut dyn Exec,
    movement: &'m Movement,
) -> Result<Posting<'m>, ApiError> {
    let sum: i128 = movement
        .legs
        .iter()
        .map(|l| i128::from(l.amount_minor))
        .sum();
    if movement.legs.len() < 2 || sum != 0 {
        return Err(ApiError::Internal(format!(
            "unbalanced {} movement: {} legs summing to {sum}",
            movement.kind,
            movement.legs.len()
        )));
    }
    let mut moved = Vec::with_capacity(movement.legs.len());
    for leg in &movement.legs {
        // Every leg that asks for cover (the payer's, even when points pay
        // it all), so its balance after is known from here on.
        moved.push(if leg.require_cover {
            if leg.deferred {
                // Credits received but not yet folded count towards cover.
                pending::fold_all(conn, &leg.account_id).await?;
            }
            Some(move_balance(conn, movement, leg).await?)
        } else {
            None
        });
    }
    Ok(Posting { movement, moved })
}

impl Posting<'_> {
    /// The balance after a leg already posted (leg order): those that
    /// require cover.
    pub fn debited_balance(&self, leg: usize) -> Option<i64> {
        self.moved
            .get(leg)
            .copied()
            .flatten()
            .map(|(balance, _)| balance)
    }

    /// Posts the remaining legs and the points they carry; returns each
    /// leg's balance after it, in leg order (`None` for a deferred leg).
    pub async fn finish(self, conn: &mut dyn Exec) -> Result<Vec<Option<i64>>, ApiError> {
        let movement = self.movement;
        let mut balances = Vec::with_capacity(self.moved.len());
        for (leg, moved) in movement.legs.iter().zip(self.moved) {
            balances.push(match moved {
                Some((balance, seq)) => {
                    insert_entry(conn, movement, leg, balance, seq).await?;
                    Some(balance)
                }
                None if leg.deferred => {
                    pending::append_money(conn, movement, leg).await?;
                    None
                }
                None => {
                    let (balance, seq) = move_balance(conn, movement, leg).await?;
                    insert_entry(conn, movement, leg, balance, seq).await?;
                    Some(balance)
                }
            });
        }
        post_points(conn, movement).await?;
        Ok(balances)
    }
}

fn is_covered_debit(leg: &Leg) -> bool {
    leg.require_cover && leg.amount_minor < 0
}

/// Moves one leg's balance; returns the balance and entry sequence after.
async fn move_balance(
    conn: &mut dyn Exec,
    movement: &Movement,
    leg: &Leg,
) -> Result<(i64, i64), ApiError> {
    // One statement moves the balance and reads it back (RETURNING, on
    // SQLite ≥ 3.35 and PostgreSQL); a covered debit is conditional, so it
    // is correct under concurrency on both backends (PostgreSQL re-checks
    // the condition after the row lock).
    let updated: Option<(i64, i64)> = if is_covered_debit(leg) {
        sql("UPDATE accounts SET balance_minor = balance_minor + $1, \
             entry_seq = entry_seq + 1 WHERE id = $2 AND balance_minor + $1 >= 0 \
             RETURNING balance_minor, entry_seq")
    } else {
        sql("UPDATE accounts SET balance_minor = balance_minor + $1, \
             entry_seq = entry_seq + 1 WHERE id = $2 RETURNING balance_minor, entry_seq")
    }
    .bind(leg.amount_minor)
    .bind(leg.account_id.clone())
    .fetch_optional(&mut *conn)
    .await?;
    match updated {
        Some(moved) => Ok(moved),
        None => Err(refusal(conn, leg, &movement.currency).await),
    }
}

/// Adds the entry of a leg whose balance moved to `balance`, numbered `seq`.
async fn insert_entry(
    conn: &mut dyn Exec,
    movement: &Movement,
    leg: &Leg,
    balance: i64,
    seq: i64,
) -> Result<(), ApiError> {
    sql(
        "INSERT INTO ledger_entries (id, movement_id, kind, account_id, account_seq, \
         amount_minor, currency, balance_after_minor, payment_id, description, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(
        new_ordered_id("led", to_u64(movement.at_ms))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    )
    .bind(movement.movement_id.clone())
    .bind(movement.kind)
    .bind(leg.account_id.clone())
    .bind(seq)
    .bind(leg.amount_minor)
    .bind(movement.currency.code().to_string())
    .bind(balance)
    .bind(movement.payment_id.clone())
    .bind(movement.description.clone())
    .bind(movement.at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Points carried by the legs, double-entry against the loyalty account.
async fn post_points(conn: &mut dyn Exec, movement: &Movement) -> Result<(), ApiError> {
    // After the money legs: the loyalty row is locked last.
    for leg in movement.legs.iter().filter(|l| l.points != 0) {
        points::ledger::transfer(
            conn,
            points::ledger::Transfer {
                kind: movement.kind,
                movement_id: &movement.movement_id,
                payment_id: movement.payment_id.as_deref(),
                account_id: &leg.account_id,
                points: leg.points,
                require_cover: false,
                currency: &movement.currency,
                at_ms: movement.at_ms,
            },
        )
        .await?;
    }
    Ok(())
}

/// Explains why a leg's account update changed no row.
async fn refusal(conn: &mut dyn Exec, leg: &Leg, currency: &Currency) -> ApiError {
    match crate::accounts::store::find_in(&mut *conn, &leg.account_id).await {
        Ok(Some(account)) => ApiError::InsufficientFunds(format!(
            "the balance of {} does not cover the amount of {}; top up the wallet and retry",
            currency.format(account.balance_minor),
            currency.format(-leg.amount_minor)
        )),
        Ok(None) => ApiError::NotFound("account not found".into()),
        Err(e) => e,
    }
}

/// The id of the sandbox funding account of a currency, created on first
/// use. Its balance goes negative by exactly the sum of all top-ups.
pub async fn funding_account(
    conn: &mut dyn Exec,
    currency: &Currency,
    now_ms: i64,
) -> Result<String, ApiError> {
    let id = format!(
        "acc_sandbox_funding_{}",
        currency.code().to_ascii_lowercase()
    );
    sql(
        "INSERT INTO accounts (id, kind, display_name, currency, created_at_ms) \
         VALUES ($1, 'funding', $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.clone())
    .bind(format!("Sandbox funding ({})", currency.code()))
    .bind(currency.code().to_string())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}
