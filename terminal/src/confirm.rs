//! Platform confirmation of a receipt (P3.3): the terminal accepts a
//! payment only when the control center confirms it, either in answer to
//! `POST /v1/platform/confirmations` or through a matching
//! `payment.completed` push received earlier (P2).

use std::time::Duration;

use tokio::time::Instant;
use wayfare_protocol::ids::redact;
use wayfare_protocol::receipt::ReceiptBody;

use crate::error::TerminalError;
use crate::events::PushBook;
use crate::platform::{PlatformClient, PushedPayment};

/// How a payment was confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmedBy {
    /// A `payment.completed` event pushed by the server.
    Push,
    /// The answer to a confirmation request.
    Platform,
}

/// Why a payment was not confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotConfirmed {
    /// The platform answered: it does not confirm this payment.
    Refused(String),
    /// The platform could not be reached in time: the outcome is unknown.
    Unreachable(String),
}

fn push_matches(push: &PushedPayment, receipt: &ReceiptBody) -> bool {
    push.payment_id == receipt.payment_id
        && push.order_id == receipt.order_id
        && push.amount_minor == receipt.amount_minor
        && push.currency == receipt.currency.code()
}

/// Confirms the payment a verified receipt describes, within `within`.
/// Retries (and keeps watching for the push) while the control center is
/// unreachable; returns why not when it answers no or time runs out.
pub async fn confirm(
    platform: &PlatformClient,
    pushes: &PushBook,
    receipt: &ReceiptBody,
    within: Duration,
) -> Result<ConfirmedBy, NotConfirmed> {
    let deadline = Instant::now() + within;
    let mut pushed = pushes.subscribe();
    let mut backoff = Duration::from_millis(200);
    let mut last_error = String::from("the control center did not answer in time");
    loop {
        if let Some(push) = pushes.get(&receipt.order_id) {
            if push_matches(&push, receipt) {
                return Ok(ConfirmedBy::Push);
            }
        }
        let answer = tokio::select! {
            a = tokio::time::timeout_at(deadline, platform.confirm(&receipt.payment_id, &receipt.order_id)) => a,
            // A push arriving while the request is in flight is enough.
            _ = pushed.changed() => continue,
        };
        match answer {
            Err(_) => return Err(NotConfirmed::Unreachable(last_error)),
            Ok(Ok(c)) => {
                let amount_ok = c.amount_minor.is_none_or(|a| a == receipt.amount_minor);
                let currency_ok = c
                    .currency
                    .as_deref()
                    .is_none_or(|cur| cur == receipt.currency.code());
                return if c.confirmed && amount_ok && currency_ok {
                    Ok(ConfirmedBy::Platform)
                } else if c.confirmed {
                    Err(NotConfirmed::Refused(
                        "the platform confirmed a different amount or currency".into(),
                    ))
                } else {
                    Err(NotConfirmed::Refused(format!(
                        "the platform did not confirm the payment (status {})",
                        c.status.as_deref().unwrap_or("unknown")
                    )))
                };
            }
            Ok(Err(TerminalError::Platform {
                retryable: false,
                message,
                ..
            })) => {
                return Err(NotConfirmed::Refused(format!(
                    "the platform refused the confirmation: {message}"
                )))
            }
            Ok(Err(e)) => {
                tracing::warn!(payment = %redact(&receipt.payment_id), error = %e, "confirmation request failed; retrying");
                last_error = e.to_string();
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until((Instant::now() + backoff).min(deadline)) => {}
            _ = pushed.changed() => {}
        }
        if Instant::now() >= deadline {
            return Err(NotConfirmed::Unreachable(last_error));
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
