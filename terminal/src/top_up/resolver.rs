//! Settling a top-up whose outcome the terminal does not know: asks the
//! platform until the offer was credited (then prints the receipt, once)
//! or has expired uncredited plus the clock-skew grace (then the cashier
//! hands the cash back; the server never credits an expired offer).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use wayfare_protocol::ids::redact;
use wayfare_protocol::top_up::{TopUpReceipt, TopUpReceiptBody};

use super::HeldOffer;
use crate::linkage::LinkageEvent;
use crate::sale::{Sale, SaleState};
use crate::{now_ms, Shared};

/// First and longest pause between two questions to the platform.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// The description of every top-up order (the cashier's screen, reports).
pub(crate) const DESCRIPTION: &str = "Cash top-up";

/// The sale-book entry of a top-up order.
pub(crate) fn sale_of(held: &HeldOffer) -> Sale {
    Sale {
        order_id: held.order_id.clone(),
        amount_minor: held.amount_minor,
        description: DESCRIPTION.into(),
    }
}

/// Puts a top-up in doubt (durably) and starts its resolver once.
pub(crate) async fn hold(shared: &Arc<Shared>, mut held: HeldOffer, reason: &str) {
    let first = held.in_doubt.is_none();
    held.in_doubt = Some(reason.to_string());
    shared.sales.mark_in_doubt(
        &sale_of(&held),
        shared.config.mode.currency(),
        reason,
        now_ms(),
    );
    if let Err(e) = shared.top_ups.keep(held.clone()).await {
        tracing::error!(order = %redact(&held.order_id), error = %e, "cannot record the in-doubt top-up durably; resolving it in memory");
    }
    if first {
        tracing::warn!(order = %redact(&held.order_id), "top-up in doubt: settling it with the platform");
        spawn(shared.clone(), held.order_id);
    }
}

/// Starts the resolver of one top-up order.
pub(crate) fn spawn(shared: Arc<Shared>, order_id: String) {
    tokio::spawn(async move { resolve(shared, order_id).await });
}

async fn resolve(shared: Arc<Shared>, order_id: String) {
    let mut shutdown = shared.shutdown.clone();
    let grace = shared.config.timeouts.in_doubt_grace_ms;
    let mut pause = FIRST_PAUSE;
    loop {
        let Some(held) = shared.top_ups.get(&order_id) else {
            return; // a session settled it
        };
        match shared
            .platform
            .top_up_status(&order_id, held.expires_at_ms)
            .await
        {
            Ok(status) if status.credited => {
                match status.receipt.as_deref().map(|r| verify(&shared, &held, r)) {
                    Some(Ok(body)) => {
                        settle_credited(&shared, &order_id, &body, "the platform").await;
                    }
                    _ => {
                        // The platform says credited: the cash is the
                        // rider's. Without a receipt to print, say so.
                        tracing::error!(order = %redact(&order_id), "the platform reports the top-up credited without a receipt that verifies");
                        if let Some(held) = shared.top_ups.settle(&order_id) {
                            finish(
                                &shared,
                                &held,
                                SaleState::Accepted,
                                None,
                                "Top-up credited (the receipt could not be printed)",
                                "top_up_credited",
                                "credited per the platform; its receipt did not verify",
                            )
                            .await;
                        }
                    }
                }
                return;
            }
            Ok(_) if now_ms() > held.expires_at_ms.saturating_add(grace) => {
                settle_not_credited(&shared, &order_id).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(order = %redact(&order_id), error = %e, "cannot ask the platform about an in-doubt top-up; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(Instant::now() + pause) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Verifies a top-up receipt (the payment server's key) and that it
/// credits exactly the held offer.
pub(crate) fn verify(
    shared: &Shared,
    held: &HeldOffer,
    receipt: &str,
) -> Result<TopUpReceiptBody, String> {
    let receipt = TopUpReceipt::from_base64(receipt).map_err(|e| e.to_string())?;
    check(shared, held, &receipt)
}

/// Checks a receipt against the held offer.
pub(crate) fn check(
    shared: &Shared,
    held: &HeldOffer,
    receipt: &TopUpReceipt,
) -> Result<TopUpReceiptBody, String> {
    let body = receipt
        .verify(&shared.config.receipt_key)
        .map_err(|e| e.to_string())?;
    let offer = held.signed().map_err(|e| e.to_string())?;
    let (offer_body, _) = offer
        .verify_authentic(&shared.config.operator_key, now_ms())
        .map_err(|e| e.to_string())?;
    body.matches(&offer_body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// Settles a credited top-up: prints the receipt once, records the order.
/// Returns what to tell the rider, or `None` if someone else settled it.
pub(crate) async fn settle_credited(
    shared: &Arc<Shared>,
    order_id: &str,
    body: &TopUpReceiptBody,
    by: &str,
) -> Option<String> {
    let held = shared.top_ups.settle(order_id)?;
    let event = LinkageEvent {
        terminal_id: body.terminal_id.clone(),
        order_id: body.order_id.clone(),
        payment_id: body.top_up_id.clone(),
        amount_minor: body.amount_minor,
        currency: body.currency.code().to_string(),
        receipt: Some(printed(body)),
    };
    let printed = shared.linkage.activate(event).await;
    let message = format!(
        "{} credited to your wallet",
        body.currency.format(minor(body.amount_minor))
    );
    let detail = match &printed {
        Ok(()) => format!("top-up credited, confirmed by {by}; receipt printed"),
        Err(e) => format!("top-up credited, confirmed by {by}; the receipt did not print: {e}"),
    };
    tracing::info!(order = %redact(order_id), top_up = %redact(&body.top_up_id), "top-up credited, confirmed by {by}");
    finish(
        shared,
        &held,
        SaleState::Accepted,
        Some(body.top_up_id.clone()),
        &message,
        "top_up_credited",
        &detail,
    )
    .await;
    Some(message)
}

/// The receipt as printed for the rider.
fn printed(body: &TopUpReceiptBody) -> String {
    format!(
        "TOP-UP RECEIPT\nAmount: {}\nTerminal: {}\nOrder: {}\nTop-up: {}\nPayer: {}\n",
        body.currency.format(minor(body.amount_minor)),
        body.terminal_id,
        body.order_id,
        body.top_up_id,
        body.payer
    )
}

async fn settle_not_credited(shared: &Arc<Shared>, order_id: &str) {
    let Some(held) = shared.top_ups.settle(order_id) else {
        return;
    };
    tracing::info!(order = %redact(order_id), "top-up settled as not credited");
    finish(
        shared,
        &held,
        SaleState::Unpaid,
        None,
        "Not credited: the offer expired unclaimed; hand the cash back to the rider",
        "top_up_not_credited",
        "no wallet claimed the offer before it expired",
    )
    .await;
}

async fn finish(
    shared: &Arc<Shared>,
    held: &HeldOffer,
    state: SaleState,
    top_up_id: Option<String>,
    message: &str,
    kind: &str,
    detail: &str,
) {
    let sale = sale_of(held);
    shared
        .sales
        .finish(&sale, state, top_up_id.clone(), message, now_ms());
    shared.record_last_outcome(&held.order_id);
    crate::session::report::queue_report(shared, &sale, None, kind, top_up_id, detail).await;
}

/// An amount for display (amounts are validated far below `i64::MAX`).
fn minor(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}
