//! Incomplete journeys (P3.6, as TfL handles them): the control center
//! knows each rider's open entry and charges the maximum fare, once, for a
//! journey that is never completed.
//!
//! - An entry gate forwards the rider's device-signed [`EntryConsent`] in
//!   its `tap_in` report; [`record_entry`] verifies it against the device
//!   key and opens the entry.
//! - A tap-out payment naming the entry's token closes it
//!   ([`close_entry`], inside the payment transaction).
//! - A second entry while one is open (e.g. a token withheld at a two-way
//!   gate, which then records a new entry) charges the open one; so does a
//!   token that expires unused ([`sweep`], run periodically and by the
//!   operator through `POST /v1/transit/sweep`).
//!
//! The charge is a payment of the maximum fare the rider consented to,
//! with the reason in its description (the rider's history shows it), a
//! receipt signed like any other, and the merchant's refund path for the
//! operator. It may take the balance below zero: the rider then owes it
//! and cannot pay again until topped up.

use sqlx::AnyConnection;
use wayfare_protocol::entry_consent::{EntryConsent, EntryConsentBody};
use wayfare_protocol::fare::FareContext;
use wayfare_protocol::ids::{new_ordered_id, redact};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::money::Currency;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::PROTOCOL_VERSION;

use crate::db::exec::{sql, Exec};
use crate::db::{lock_clause, now_ms, to_i64, RowLock};
use crate::error::ApiError;
use crate::ledger::{self, Leg, Movement};
use crate::state::AppState;

mod routes;

pub(crate) use routes::router;

/// How long after its token's expiry an open entry is charged by the
/// periodic sweep: an exit gate charges an expired token's maximum fare
/// itself (closing the entry), so the sweep only takes journeys nobody
/// tapped out of at all.
pub(crate) const SWEEP_GRACE_MS: u64 = 6 * 60 * 60 * 1000;

/// An open entry about to be charged, with its receipt signed in advance
/// (signing stays outside the database transaction).
#[derive(Clone)]
struct Charge {
    token_id: String,
    account_id: String,
    device_id: String,
    terminal_id: String,
    merchant_id: String,
    amount_minor: i64,
    currency: Currency,
    description: String,
    payment_id: String,
    receipt: String,
    at_ms: i64,
}

/// An open entry as `SELECT_ENTRY` reads it.
#[derive(sqlx::FromRow)]
struct EntryRow {
    token_id: String,
    account_id: String,
    device_id: String,
    terminal_id: String,
    merchant_id: String,
    line: String,
    station: String,
    maximum_fare_minor: i64,
    currency: String,
}

const SELECT_ENTRY: &str = "SELECT e.token_id, e.account_id, e.device_id, e.terminal_id, \
     e.merchant_id, e.line, e.station, e.maximum_fare_minor, e.currency FROM transit_entries e";

/// Verifies a `tap_in` report's entry consent and opens the entry; any
/// other open entry of the rider is an incomplete journey and is charged.
pub(crate) async fn record_entry(
    state: &AppState,
    terminal_id: &str,
    token_id: &str,
    fare: Option<&FareContext>,
    consent_b64: &str,
) -> Result<(), ApiError> {
    let consent = EntryConsent::from_base64(consent_b64)
        .map_err(|e| ApiError::from_protocol("entry_consent", e))?;
    let claimed = consent
        .peek()
        .map_err(|e| ApiError::from_protocol("entry_consent", e))?;
    let pool = &state.db().pool;
    let device: Option<(String, String)> =
        sqlx::query_as("SELECT account_id, public_key FROM devices WHERE id = $1")
            .bind(claimed.device_id.clone())
            .fetch_optional(pool)
            .await?;
    let (account_id, key) = device.ok_or_else(|| {
        ApiError::field(
            "entry_consent",
            "names a device this control center does not know",
        )
    })?;
    let key = PublicKey::from_base64(&key).map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = consent
        .verify(&key)
        .map_err(|e| ApiError::from_protocol("entry_consent", e))?;
    check_consent(&body, &account_id, terminal_id, token_id)?;
    let currency = Currency::parse(&body.currency)
        .map_err(|e| ApiError::from_protocol("entry_consent.currency", e))?;
    let merchant: Option<(String,)> =
        sqlx::query_as("SELECT merchant_id FROM terminals WHERE id = $1")
            .bind(terminal_id.to_string())
            .fetch_optional(pool)
            .await?;
    let (merchant_id,) = merchant.ok_or_else(|| ApiError::NotFound("terminal not found".into()))?;
    let (line, station, entered_at) = match fare {
        Some(f) => (
            f.line.clone(),
            f.station.clone(),
            f.entry.as_ref().map_or(body.signed_at_ms, |e| e.at_ms),
        ),
        None => (String::new(), String::new(), body.signed_at_ms),
    };
    // Entries still open for this rider become incomplete journeys now.
    // Decided inside the transaction, with the rider's tap-ins serialised
    // by their account row: two gates reporting at the same moment must not
    // each see "no other open entry" and leave both open.
    let reason = format!("tapped in again at {station} without tapping out");
    let entry = (
        body.clone(),
        account_id.clone(),
        merchant_id,
        line,
        station,
        to_i64(entered_at),
        currency,
    );
    let tx_state = state.clone();
    let charged = state
        .db()
        .write_tx(move |conn| {
            let entry = entry.clone();
            let reason = reason.clone();
            let state = tx_state.clone();
            Box::pin(async move {
                let (b, account_id, merchant_id, line, station, entered_at, currency) = entry;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id FROM accounts WHERE id = $1{}",
                    lock_clause(conn, RowLock::Update)
                )))
                .bind(account_id.clone())
                .fetch_optional(&mut *conn)
                .await?;
                let inserted = sqlx::query(
                    "INSERT INTO transit_entries (token_id, account_id, device_id, terminal_id, \
                     merchant_id, line, station, entered_at_ms, expires_at_ms, \
                     maximum_fare_minor, currency, state) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open') \
                     ON CONFLICT (token_id) DO NOTHING",
                )
                .bind(b.token_id.clone())
                .bind(account_id.clone())
                .bind(b.device_id.clone())
                .bind(b.terminal_id.clone())
                .bind(merchant_id)
                .bind(line)
                .bind(station)
                .bind(entered_at)
                .bind(to_i64(b.expires_at_ms))
                .bind(to_i64(b.maximum_fare_minor))
                .bind(currency.code().to_string())
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(Vec::new()); // a re-sent report
                }
                let rows = incomplete(conn, &account_id, &b.token_id, entered_at).await?;
                let charges = sign_charges(&mut *conn, &state, rows, &reason).await?;
                let mut charged = Vec::new();
                for c in &charges {
                    if charge(conn, c).await? {
                        charged.push(c.account_id.clone());
                    }
                }
                Ok(charged)
            })
        })
        .await?;
    for account in &charged {
        state.notify_account(account);
    }
    tracing::info!(token = %redact(token_id), incomplete = charged.len(), "transit entry recorded");
    Ok(())
}

/// The rider's open entries that a new entry (`token_id`, entered at
/// `entered_at`) leaves incomplete: every other open entry entered before
/// it — and, when an open entry was entered after it (its report arrived
/// late), the new entry itself.
async fn incomplete(
    conn: &mut AnyConnection,
    account_id: &str,
    token_id: &str,
    entered_at: i64,
) -> Result<Vec<EntryRow>, ApiError> {
    let mut rows: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ENTRY} WHERE e.account_id = $1 AND e.state = 'open' AND e.token_id <> $2 \
         AND e.entered_at_ms <= $3 ORDER BY e.entered_at_ms"
    )))
    .bind(account_id.to_string())
    .bind(token_id.to_string())
    .bind(entered_at)
    .fetch_all(&mut *conn)
    .await?;
    let later: Option<(String,)> = sqlx::query_as(
        "SELECT token_id FROM transit_entries WHERE account_id = $1 AND state = 'open' \
         AND token_id <> $2 AND entered_at_ms > $3 LIMIT 1",
    )
    .bind(account_id.to_string())
    .bind(token_id.to_string())
    .bind(entered_at)
    .fetch_optional(&mut *conn)
    .await?;
    if later.is_some() {
        let own: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_ENTRY} WHERE e.token_id = $1"
        )))
        .bind(token_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        rows.extend(own);
    }
    Ok(rows)
}

fn check_consent(
    body: &EntryConsentBody,
    account_id: &str,
    terminal_id: &str,
    token_id: &str,
) -> Result<(), ApiError> {
    let mismatch = |what: &str| {
        Err(ApiError::field(
            "entry_consent",
            format!("does not match the report: {what}"),
        ))
    };
    if body.version != PROTOCOL_VERSION {
        return mismatch("protocol version");
    }
    if body.account_id != account_id {
        return mismatch("account");
    }
    if body.terminal_id != terminal_id {
        return mismatch("terminal");
    }
    if body.token_id != token_id {
        return mismatch("token");
    }
    if body.maximum_fare_minor == 0 {
        return mismatch("maximum fare");
    }
    Ok(())
}

/// Charges every open entry whose token expired more than `grace_ms` ago.
/// Returns how many were charged. Safe to run on several nodes at once:
/// each entry is charged by the one transaction that moves it off `open`.
pub(crate) async fn sweep(state: &AppState, grace_ms: u64) -> Result<usize, ApiError> {
    let cutoff = to_i64(now_ms().saturating_sub(grace_ms));
    let expired: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ENTRY} WHERE e.state = 'open' AND e.expires_at_ms < $1 ORDER BY e.entered_at_ms"
    )))
    .bind(cutoff)
    .fetch_all(&state.db().pool)
    .await?;
    let mut conn = state.db().pool.acquire().await?;
    let charges = sign_charges(
        &mut conn,
        state,
        expired,
        "the tap-in token expired without a tap-out",
    )
    .await?;
    drop(conn);
    let mut done = 0;
    for c in charges {
        let account = c.account_id.clone();
        let charged = state
            .db()
            .write_tx(move |conn| {
                let c = c.clone();
                Box::pin(async move { charge(conn, &c).await })
            })
            .await?;
        if charged {
            done += 1;
            state.notify_account(&account);
        }
    }
    Ok(done)
}

/// Signs a receipt for each entry about to be charged.
async fn sign_charges(
    conn: &mut AnyConnection,
    state: &AppState,
    rows: Vec<EntryRow>,
    reason: &str,
) -> Result<Vec<Charge>, ApiError> {
    let now = now_ms();
    let mut charges = Vec::with_capacity(rows.len());
    for EntryRow {
        token_id,
        account_id,
        device_id,
        terminal_id,
        merchant_id,
        line,
        station,
        maximum_fare_minor: max,
        currency: cur,
    } in rows
    {
        let currency = Currency::parse(&cur).map_err(|e| ApiError::Internal(e.to_string()))?;
        let payment_id =
            new_ordered_id("pay", now).map_err(|e| ApiError::Internal(e.to_string()))?;
        let amount = u64::try_from(max).unwrap_or(0);
        let payer = crate::accounts::store::find(&mut *conn, &account_id)
            .await?
            .and_then(|a| a.handle);
        let receipt = Receipt::issue(
            &state.keys().receipt,
            &ReceiptBody {
                version: PROTOCOL_VERSION,
                payment_id: payment_id.clone(),
                order_id: token_id.clone(),
                payer: payer.unwrap_or_else(|| "rider".into()),
                merchant_id: merchant_id.clone(),
                terminal_id: terminal_id.clone(),
                amount_minor: amount,
                currency: currency.clone(),
                completed_at_ms: now,
                fare: None,
                points_spent: 0,
                points_value_minor: 0,
            },
        )
        .map_err(|e| ApiError::Internal(format!("receipt signing: {e}")))?;
        charges.push(Charge {
            description: format!(
                "Maximum fare {line}: entered at {station} and never tapped out ({reason})"
            ),
            token_id,
            account_id,
            device_id,
            terminal_id,
            merchant_id,
            amount_minor: max,
            currency,
            payment_id,
            receipt: receipt.to_base64(),
            at_ms: to_i64(now),
        });
    }
    Ok(charges)
}

/// Charges one open entry inside the caller's transaction; false when it
/// was no longer open (completed or charged meanwhile).
async fn charge(conn: &mut AnyConnection, c: &Charge) -> Result<bool, ApiError> {
    let moved = sqlx::query(
        "UPDATE transit_entries SET state = 'charged', payment_id = $1, reason = $2 \
         WHERE token_id = $3 AND state = 'open'",
    )
    .bind(c.payment_id.clone())
    .bind(c.description.clone())
    .bind(c.token_id.clone())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(false);
    }
    let (merchant_account,): (String,) =
        sqlx::query_as("SELECT account_id FROM merchants WHERE id = $1")
            .bind(c.merchant_id.clone())
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO payments (id, idempotency_key, instruction_digest, account_id, device_id, \
         merchant_id, terminal_id, order_id, amount_minor, currency, description, status, \
         receipt, balance_after_minor, points_awarded, completed_at_ms) \
         VALUES ($1, $2, 'incomplete_journey', $3, $4, $5, $6, $7, $8, $9, $10, 'completed', \
         $11, 0, 0, $12)",
    )
    .bind(c.payment_id.clone())
    .bind(format!("maxfare_{}", c.token_id))
    .bind(c.account_id.clone())
    .bind(c.device_id.clone())
    .bind(c.merchant_id.clone())
    .bind(c.terminal_id.clone())
    .bind(c.token_id.clone())
    .bind(c.amount_minor)
    .bind(c.currency.code().to_string())
    .bind(c.description.clone())
    .bind(c.receipt.clone())
    .bind(c.at_ms)
    .execute(&mut *conn)
    .await?;
    // The token is spent: an exit presenting it later is refused rather
    // than charged again.
    sqlx::query(
        "INSERT INTO used_tap_in_tokens (token_id, payment_id, used_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (token_id) DO NOTHING",
    )
    .bind(c.token_id.clone())
    .bind(c.payment_id.clone())
    .bind(c.at_ms)
    .execute(&mut *conn)
    .await?;
    let balances = ledger::post(
        conn,
        &Movement {
            kind: "payment",
            movement_id: c.payment_id.clone(),
            payment_id: Some(c.payment_id.clone()),
            description: c.description.clone(),
            currency: c.currency.clone(),
            at_ms: c.at_ms,
            legs: vec![
                // Owed even if the balance does not cover it.
                Leg {
                    account_id: c.account_id.clone(),
                    amount_minor: -c.amount_minor,
                    require_cover: false,
                    points: 0,
                    deferred: false,
                },
                Leg {
                    account_id: merchant_account,
                    amount_minor: c.amount_minor,
                    require_cover: false,
                    points: 0,
                    deferred: true,
                },
            ],
        },
    )
    .await?;
    sqlx::query("UPDATE payments SET balance_after_minor = $1 WHERE id = $2")
        .bind(balances.first().copied().flatten().unwrap_or_default())
        .bind(c.payment_id.clone())
        .execute(&mut *conn)
        .await?;
    tracing::info!(token = %redact(&c.token_id), payment = %redact(&c.payment_id), "incomplete journey charged the maximum fare");
    Ok(true)
}

/// What an exit payment knows of the journey it completes, to close its
/// entry even if the entry gate's report has not arrived yet.
pub(crate) struct Completion<'a> {
    /// The entry's tap-in token.
    pub token_id: &'a str,
    /// The paying account and device.
    pub account_id: &'a str,
    /// The paying device.
    pub device_id: &'a str,
    /// The exit terminal and its merchant.
    pub terminal_id: &'a str,
    /// The exit terminal's merchant.
    pub merchant_id: &'a str,
    /// The trip's line and boarding station.
    pub line: &'a str,
    /// The boarding station.
    pub station: &'a str,
    /// Boarding time (Unix ms).
    pub entered_at_ms: i64,
    /// Currency of the trip.
    pub currency: &'a str,
}

/// Closes the entry a tap-out (or an exit's maximum fare) pays for, inside
/// the payment transaction. If the entry gate's report has not arrived
/// yet, a completed row takes the token's place, so the late report opens
/// nothing (the token id is the key: whichever transaction comes second
/// sees the first's row).
pub(crate) async fn close_entry(
    conn: &mut dyn Exec,
    c: &Completion<'_>,
    payment_id: &str,
) -> Result<(), ApiError> {
    sql(
        "INSERT INTO transit_entries (token_id, account_id, device_id, terminal_id, merchant_id, \
         line, station, entered_at_ms, expires_at_ms, maximum_fare_minor, currency, state, \
         payment_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 0, $9, 'completed', $10) \
         ON CONFLICT (token_id) DO UPDATE SET state = 'completed', payment_id = $10 \
         WHERE transit_entries.state = 'open'",
    )
    .bind(c.token_id.to_string())
    .bind(c.account_id.to_string())
    .bind(c.device_id.to_string())
    .bind(c.terminal_id.to_string())
    .bind(c.merchant_id.to_string())
    .bind(c.line.to_string())
    .bind(c.station.to_string())
    .bind(c.entered_at_ms)
    .bind(c.currency.to_string())
    .bind(payment_id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
