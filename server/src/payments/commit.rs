//! The payment's transaction: the receipt is signed first (off the
//! database's critical path), then one transaction writes the payment row,
//! the ledger legs, the guardians' limits and alerts, the merchant's
//! prompts, the terminal's event and the points — the rows only this
//! payment touches first, the rows every payment of the merchant shares
//! last (decision 0018); the merchant's credit and the loyalty account's
//! points are pending entries (decision 0020).

use wayfare_protocol::ids::new_ordered_id;
use wayfare_protocol::instruction::InstructionBody;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::PROTOCOL_VERSION;

use super::context::Context;
use super::PaymentResult;
use crate::db::exec::{sql, Exec};
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::guardians::alerts;
use crate::guardians::render::AlertFacts;
use crate::ledger::{self, Movement};
use crate::points;
use crate::points::split::Split;
use crate::state::AppState;

/// Where a payment comes from: what its transaction checks and who hears
/// of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A device-signed instruction at a terminal, now: guardian limits,
    /// the tap-in token and the request's expiry are enforced.
    Online,
    /// An express tap settled after the gate opened offline: the tap is
    /// charged (the gate has opened), guardians are alerted.
    ExpressTap,
    /// Part of an express tap's debt paid by a top-up: charged quietly
    /// (the tap was alerted when it settled).
    ExpressDebt,
}

/// Everything the transaction writes, owned so that it can be retried.
#[derive(Clone)]
struct Plan {
    body: InstructionBody,
    digest: String,
    payment_id: String,
    receipt: String,
    completed_at_ms: u64,
    movement: Movement,
    split: Split,
    /// Points the payment earns the rider.
    earned: i64,
    event_data: String,
    alert: AlertFacts,
    payer_name: String,
    terminal_kind: String,
    source: Source,
}

/// Writes the payment of `body` (receipt, ledger, alerts, events) in one
/// transaction.
pub(crate) async fn commit(
    state: &AppState,
    body: &InstructionBody,
    digest: &str,
    ctx: Context,
    now: u64,
    source: Source,
) -> Result<(PaymentResult, Vec<String>), ApiError> {
    let payment_id = new_ordered_id("pay", now).map_err(|e| ApiError::Internal(e.to_string()))?;
    let receipt = Receipt::issue(
        &state.keys().receipt,
        &ReceiptBody {
            version: PROTOCOL_VERSION,
            payment_id: payment_id.clone(),
            order_id: body.order_id.clone(),
            payer: ctx.payer_pseudonym.clone(),
            merchant_id: body.merchant_id.clone(),
            terminal_id: body.terminal_id.clone(),
            amount_minor: body.amount_minor,
            currency: body.currency.clone(),
            completed_at_ms: now,
            fare: body.fare.clone(),
            points_spent: ctx.split.points_spent,
            points_value_minor: ctx.split.value_minor,
        },
    )
    .map_err(|e| ApiError::Internal(format!("receipt signing: {e}")))?;
    let legs = points::payment::money_legs(body, &ctx.merchant_account, ctx.split);
    let plan = Plan {
        body: body.clone(),
        digest: digest.to_string(),
        payment_id: payment_id.clone(),
        receipt: receipt.to_base64(),
        completed_at_ms: now,
        movement: Movement {
            kind: "payment",
            movement_id: payment_id.clone(),
            payment_id: Some(payment_id.clone()),
            description: body.description.clone(),
            currency: body.currency.clone(),
            at_ms: to_i64(now),
            legs,
        },
        split: ctx.split,
        earned: points::payment::points_for(body, ctx.split),
        event_data: serde_json::json!({
            "payment_id": payment_id,
            "order_id": body.order_id,
            "amount_minor": body.amount_minor,
            "currency": body.currency.code(),
            "completed_at_ms": now,
        })
        .to_string(),
        alert: AlertFacts {
            payment_id: payment_id.clone(),
            at_ms: to_i64(now),
            ..ctx.alert
        },
        payer_name: ctx.payer_name,
        terminal_kind: ctx.terminal_kind,
        source,
    };
    state
        .db()
        .write_exec(move |conn| {
            let plan = plan.clone();
            Box::pin(async move { write_payment(conn, plan).await })
        })
        .await
}

async fn write_payment(
    conn: &mut dyn Exec,
    plan: Plan,
) -> Result<(PaymentResult, Vec<String>), ApiError> {
    let b = &plan.body;
    let at = to_i64(plan.completed_at_ms);
    // Statement order: the rows only this payment touches first, the rows
    // every payment of a merchant shares (its members' event sequences, the
    // terminal's) last, so that on PostgreSQL their row locks are held for
    // the fewest statements. The merchant's credit and the loyalty
    // account's points are pending entries (`ledger::pending`): no shared
    // row there.
    //
    // The payer's debit decides whether the payment can happen; its row is
    // now locked until commit, so concurrent payments of this rider are
    // counted one after the other by the daily limits. The payment's row
    // comes next, with the balance after (the ledger entries reference it).
    if plan.split.value_minor > 0 {
        points::ledger::loyalty_account(conn, &b.currency, at).await?;
    }
    let posting = ledger::post_debits(conn, &plan.movement).await?;
    let balance_after = posting.debited_balance(0).unwrap_or_default();
    sql(
        "INSERT INTO payments (id, idempotency_key, instruction_digest, account_id, device_id, \
         merchant_id, terminal_id, order_id, amount_minor, currency, description, status, \
         receipt, balance_after_minor, points_awarded, completed_at_ms, points_spent, \
         points_value_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'completed', $12, $13, $14, $15, \
         $16, $17)",
    )
    .bind(plan.payment_id.clone())
    .bind(b.idempotency_key.clone())
    .bind(plan.digest.clone())
    .bind(b.account_id.clone())
    .bind(b.device_id.clone())
    .bind(b.merchant_id.clone())
    .bind(b.terminal_id.clone())
    .bind(b.order_id.clone())
    .bind(to_i64(b.amount_minor))
    .bind(b.currency.code().to_string())
    .bind(b.description.clone())
    .bind(plan.receipt.clone())
    .bind(balance_after)
    .bind(plan.earned)
    .bind(at)
    .bind(to_i64(plan.split.points_spent))
    .bind(to_i64(plan.split.value_minor))
    .execute(&mut *conn)
    .await?;
    let online = plan.source == Source::Online;
    // Express debts were alerted when their tap settled.
    let bindings = match plan.source {
        Source::ExpressDebt => None,
        Source::Online | Source::ExpressTap => {
            Some(alerts::RiderBindings::load(conn, &b.account_id).await?)
        }
    };
    if online {
        if let Some(bindings) = &bindings {
            bindings.enforce_daily_limits(conn, at, &b.currency).await?;
        }
        crate::payments::transit::claim_tap_in_token(conn, b, &plan.payment_id, at).await?;
    }
    let mut woken = match &bindings {
        Some(bindings) => bindings.fan_out(conn, &plan.alert).await?,
        None => Vec::new(),
    };
    let receivers = crate::merchants::prompts::Receivers::load(conn, &b.merchant_id).await?;
    // The payer's entry, the merchant's pending credit; then the shared
    // rows, in the order every money path locks them: the merchant's
    // members' event sequences, the terminal's.
    posting.finish(conn).await?;
    // Merchant prompts (P4), one per authorised device; woken like the guardians.
    woken.extend(
        crate::merchants::prompts::on_payment(
            conn,
            &receivers,
            crate::merchants::prompts::PaidFacts {
                payment_id: &plan.payment_id,
                merchant_id: &b.merchant_id,
                order_id: &b.order_id,
                amount_minor: to_i64(b.amount_minor),
                currency: b.currency.code(),
                at_ms: at,
                payer_name: &plan.payer_name,
                payee_name: &plan.alert.merchant_name,
                terminal_kind: &plan.terminal_kind,
            },
        )
        .await?,
    );
    crate::streams::terminal::append(
        conn,
        &b.terminal_id,
        "payment.completed",
        &plan.payment_id,
        &plan.event_data,
        at,
    )
    .await?;
    // Points last (the loyalty account's side is pending).
    points::payment::move_points(conn, b, &plan.payment_id, plan.split, plan.earned, at).await?;
    // The request's expiry is checked again at the last moment before the
    // commit: a payment whose retry was (or could have been) told `410`
    // never commits later, so a terminal that waited past the expiry can
    // settle an in-doubt sale as unpaid.
    if online {
        b.check_not_expired(now_ms()).map_err(|e| {
            ApiError::RequestExpired(format!("{e}; ask the terminal for a new request"))
        })?;
    }
    let result = PaymentResult {
        payment_id: plan.payment_id.clone(),
        status: "completed".into(),
        receipt: plan.receipt.clone(),
        amount_minor: b.amount_minor,
        currency: b.currency.code().to_string(),
        balance_after_minor: balance_after,
        merchant_id: b.merchant_id.clone(),
        terminal_id: b.terminal_id.clone(),
        order_id: b.order_id.clone(),
        completed_at_ms: plan.completed_at_ms,
        points_spent: plan.split.points_spent,
        points_value_minor: plan.split.value_minor,
    };
    // The guardians and merchant members whose streams to wake.
    Ok((result, woken))
}
