//! The facts a payment needs before its transaction — the payer's and the
//! merchant's currencies and accounts, the terminal's merchant and kind,
//! whether the order is already paid, what points pay — read in one
//! statement and checked, so a refusal costs no write.

use sqlx::AnyPool;
use wayfare_protocol::ids::redact;
use wayfare_protocol::instruction::InstructionBody;
use wayfare_protocol::messages::TerminalKind;

use super::order_paid;
use crate::error::ApiError;
use crate::guardians::render::AlertFacts;
use crate::guardians::ShownAs;
use crate::keys::ServerKeys;
use crate::points::split::{quote, Split};

/// Accounts and names a payment needs, read before the transaction.
pub(crate) struct Context {
    /// The payer's pseudonym for this merchant: what the receipt names
    /// (never the account id, the global handle or a phone number).
    pub(super) payer_pseudonym: String,
    pub(super) merchant_account: String,
    /// What the rider's points pay of the amount (none by default).
    pub(super) split: Split,
    /// Alert facts without the rider's name (set per binding).
    pub(super) alert: AlertFacts,
    /// The payer's display name and the terminal's kind, for the
    /// merchant's prompts (read here, outside the write transaction: they
    /// only label the prompt).
    pub(super) payer_name: String,
    pub(super) terminal_kind: String,
}

/// What [`load_context`] reads in one statement (each part absent when its
/// row does not exist).
#[derive(sqlx::FromRow)]
struct ContextRow {
    payer_currency: Option<String>,
    payer_name: Option<String>,
    merchant_account: Option<String>,
    merchant_currency: Option<String>,
    merchant_name: Option<String>,
    terminal_merchant: Option<String>,
    terminal_kind: Option<String>,
    location_json: Option<String>,
    paid_by: Option<String>,
}

/// Reads and checks what a payment of `body` needs: an order already paid
/// (first, so that a retry learns it whatever else changed since), unknown
/// accounts, merchants and terminals, a terminal of another merchant and a
/// currency mismatch are refused here.
pub(crate) async fn load_context(
    pool: &AnyPool,
    keys: &ServerKeys,
    body: &InstructionBody,
) -> Result<Context, ApiError> {
    // One read for every fact the checks below need.
    let facts: ContextRow = sqlx::query_as(
        "SELECT a.currency AS payer_currency, a.display_name AS payer_name, \
         m.account_id AS merchant_account, m.currency AS merchant_currency, \
         m.name AS merchant_name, t.merchant_id AS terminal_merchant, \
         t.kind AS terminal_kind, t.location_json, \
         (SELECT p.id FROM payments p WHERE p.terminal_id = $3 AND p.order_id = $4) \
         AS paid_by \
         FROM (SELECT 1 AS one) o \
         LEFT JOIN accounts a ON a.id = $1 \
         LEFT JOIN merchants m ON m.id = $2 \
         LEFT JOIN terminals t ON t.id = $3",
    )
    .bind(body.account_id.clone())
    .bind(body.merchant_id.clone())
    .bind(body.terminal_id.clone())
    .bind(body.order_id.clone())
    .fetch_one(pool)
    .await?;
    // First: for a retry of a payment that was made, this is the one
    // answer the caller turns into the original result.
    if facts.paid_by.is_some() {
        return Err(order_paid());
    }
    let (Some(payer_currency), Some(payer_name)) = (facts.payer_currency, facts.payer_name) else {
        return Err(ApiError::NotFound(
            "the paying account does not exist".into(),
        ));
    };
    let (Some(merchant_account), Some(merchant_currency), Some(merchant_name)) = (
        facts.merchant_account,
        facts.merchant_currency,
        facts.merchant_name,
    ) else {
        return Err(ApiError::UnknownMerchant(format!(
            "merchant {} does not exist",
            redact(&body.merchant_id)
        )));
    };
    let (Some(terminal_merchant), Some(terminal_kind)) =
        (facts.terminal_merchant, facts.terminal_kind)
    else {
        return Err(ApiError::UnknownTerminal(format!(
            "terminal {} does not exist",
            redact(&body.terminal_id)
        )));
    };
    let location_json = facts.location_json;
    if terminal_merchant != body.merchant_id {
        return Err(ApiError::field(
            "instruction.terminal_id",
            "the terminal does not collect for this merchant",
        ));
    }
    let currency = body.currency.code();
    if currency != payer_currency || currency != merchant_currency {
        return Err(ApiError::CurrencyMismatch(format!(
            "the instruction is in {currency} but the wallet holds {payer_currency} and the \
             merchant settles in {merchant_currency}"
        )));
    }
    let split = quote(
        pool,
        &body.merchant_id,
        body.points_spent,
        body.amount_minor,
    )
    .await?;
    Ok(Context {
        split,
        payer_pseudonym: keys.pseudonym(&body.account_id, &body.merchant_id),
        merchant_account,
        alert: AlertFacts {
            rider: ShownAs::Nickname(String::new()),
            payment_id: String::new(),
            amount_minor: body.amount_minor,
            currency: body.currency.clone(),
            merchant_name,
            terminal_kind: TerminalKind::parse(&terminal_kind).unwrap_or(TerminalKind::Pos),
            at_ms: 0,
            utc_offset_minutes: crate::terminals::utc_offset_of(location_json.as_deref()),
            fare: body.fare.clone(),
        },
        payer_name,
        terminal_kind,
    })
}
