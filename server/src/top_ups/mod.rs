//! Top-ups: money entering a rider's wallet. Every way in — the operator's
//! sandbox, a counter or kiosk's cash float, an over-the-air funding
//! provider — ends in [`credit`]: one `top_ups` row (its `reference` unique,
//! so a replay is one top-up) and one double-entry movement from the source
//! account to the rider, in the caller's transaction. [`settle_debt`] then
//! lets the new money pay express debt first, as every top-up must.

use sqlx::AnyConnection;
use wayfare_protocol::money::Currency;

use crate::db::to_i64;
use crate::error::ApiError;
use crate::ledger::{self, Leg, Movement};
use crate::state::AppState;

mod sandbox;

/// The sandbox top-up's route and operation, merged by `crate::routes`
/// (the funding providers' routes are `crate::funding`'s).
pub(crate) fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(sandbox::top_up))
}

/// How the money came in; stored with the top-up and shown in exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    /// The operator's sandbox endpoint (testing and demos only).
    Sandbox,
    /// Cash at a counter or station kiosk, from the terminal's float.
    Kiosk,
    /// An over-the-air funding provider (card, bank) confirmed by callback.
    Provider,
}

impl Channel {
    /// The name stored in `top_ups.channel`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Channel::Sandbox => "sandbox",
            Channel::Kiosk => "kiosk",
            Channel::Provider => "provider",
        }
    }
}

/// One top-up to record.
#[derive(Clone, Debug)]
pub(crate) struct Credit {
    /// Server-assigned id (`top_…`), also the movement id.
    pub id: String,
    /// The caller's idempotency reference; unique across all top-ups.
    pub reference: Option<String>,
    /// How the money came in.
    pub channel: Channel,
    /// The account the money leaves (sandbox funding, a cash float, a
    /// provider's clearing account). It may go negative.
    pub source_account_id: String,
    /// The rider's account.
    pub account_id: String,
    /// Amount in minor units (positive).
    pub amount_minor: u64,
    /// Currency of both accounts.
    pub currency: Currency,
    /// Shown in wallet history.
    pub description: String,
    /// When it happened (Unix ms).
    pub at_ms: i64,
}

/// Records the top-up and moves the money, inside the caller's transaction;
/// returns the rider's balance after it. A second credit with the same
/// reference fails with a unique violation (the caller answers the replay).
pub(crate) async fn credit(conn: &mut AnyConnection, credit: &Credit) -> Result<i64, ApiError> {
    let amount = to_i64(credit.amount_minor);
    if amount <= 0 {
        return Err(ApiError::field("amount_minor", "must be at least 1"));
    }
    sqlx::query(
        "INSERT INTO top_ups (id, reference, account_id, amount_minor, currency, created_at_ms, \
         channel, source_account_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(credit.id.clone())
    .bind(credit.reference.clone())
    .bind(credit.account_id.clone())
    .bind(amount)
    .bind(credit.currency.code().to_string())
    .bind(credit.at_ms)
    .bind(credit.channel.as_str())
    .bind(credit.source_account_id.clone())
    .execute(&mut *conn)
    .await?;
    let movement = Movement {
        kind: "top_up",
        movement_id: credit.id.clone(),
        payment_id: None,
        description: credit.description.clone(),
        currency: credit.currency.clone(),
        at_ms: credit.at_ms,
        legs: vec![
            Leg {
                account_id: credit.source_account_id.clone(),
                amount_minor: -amount,
                require_cover: false,
                points: 0,
                deferred: false,
            },
            Leg {
                account_id: credit.account_id.clone(),
                amount_minor: amount,
                require_cover: false,
                points: 0,
                deferred: false,
            },
        ],
    };
    let balances = ledger::post(conn, &movement).await?;
    Ok(balances.get(1).copied().flatten().unwrap_or_default())
}

/// After a committed top-up: pays the account's express debt from the new
/// money (oldest tap first) and tells the wallet; returns the balance left.
/// A failure is logged, not returned: the top-up stands and the next one
/// tries again.
pub(crate) async fn settle_debt(state: &AppState, account_id: &str, balance: i64) -> i64 {
    match crate::express::debts::collect(state, account_id).await {
        Ok(0) => {
            state.notify_account(account_id);
            balance
        }
        Ok(paid) => {
            state.notify_account(account_id);
            balance - to_i64(paid)
        }
        Err(e) => {
            tracing::warn!(error = %e, "paying express debt after a top-up failed; the next top-up tries again");
            state.notify_account(account_id);
            balance
        }
    }
}

/// Checks that `account_id` can be topped up in `currency`: never a funding
/// account; with `riders_only` (every channel but the sandbox) only a
/// rider's own wallet.
pub(crate) async fn check_account(
    conn: &mut AnyConnection,
    account_id: &str,
    currency: &Currency,
    riders_only: bool,
) -> Result<(), ApiError> {
    let account = crate::accounts::store::find(&mut *conn, account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no account has this id".into()))?;
    let (kind, account_currency) = (account.kind, account.currency);
    if kind == "funding" || (riders_only && kind != "user") {
        return Err(ApiError::field(
            "account_id",
            "only a rider's wallet can be topped up, not a funding or merchant account",
        ));
    }
    if account_currency != currency.code() {
        return Err(ApiError::CurrencyMismatch(format!(
            "the account holds {account_currency}, not {currency}"
        )));
    }
    Ok(())
}
