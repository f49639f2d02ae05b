//! Settlement of pending intents (on `open()` and `settle_pending()`).

use wayfare_protocol::ids::redact;

use super::execute::submit;
use super::{PaymentError, PaymentFailure, PaymentOutcome};
use crate::error::WalletError;
use crate::listener::notify;
use crate::wallet::{OpenReport, WalletInner};

/// Re-sends every pending intent, oldest first, with its original key and
/// instruction. Stops at the first network failure (the others would fail
/// the same way) and leaves the rest pending. Notifies the listener after
/// every lock is released.
pub(crate) async fn settle_pending(inner: &WalletInner) -> Result<OpenReport, WalletError> {
    let state = inner.opened()?;
    let id = match inner.device() {
        Ok((_, id)) => id,
        Err(WalletError::NotRegistered) => {
            return Ok(OpenReport {
                settled: Vec::new(),
                still_pending: state.store.pending_count()?,
            })
        }
        Err(e) => return Err(e),
    };
    let mut settled = Vec::new();
    let mut failures = Vec::new();
    {
        let _settling = inner.settling.lock().await;
        for intent in state.store.pending_intents()? {
            let key = intent.idempotency_key.clone();
            let summary = (
                intent.order_id.clone(),
                intent.amount_minor,
                intent.currency.clone(),
            );
            match submit(inner, &state.store, &id, intent).await {
                Ok(record) => settled.push(PaymentOutcome::from_record(record, None)),
                Err(PaymentError::Pending { reason }) => {
                    tracing::info!(target: "wayfare_core::payments", key = %redact(&key), "server unreachable; settlement postponed");
                    failures.push(failure(key, summary, reason, true));
                    break;
                }
                Err(PaymentError::BadReceipt(reason)) => {
                    failures.push(failure(key, summary, reason, true));
                }
                Err(PaymentError::Store(e)) => return Err(e.into()),
                Err(PaymentError::Wallet(e)) => return Err(e),
                Err(e) => {
                    let message = WalletError::from(e).to_string();
                    failures.push(failure(key, summary, message, false));
                }
            }
        }
    }
    let still_pending = state.store.pending_count()?;
    let listener = inner.listener();
    for outcome in &settled {
        notify(listener.clone(), |l| {
            l.on_payment_completed(outcome.clone())
        });
    }
    for f in failures {
        notify(listener.clone(), |l| l.on_payment_failed(f));
    }
    Ok(OpenReport {
        settled,
        still_pending,
    })
}

fn failure(
    idempotency_key: String,
    (order_id, amount_minor, currency): (String, u64, String),
    error: String,
    will_retry: bool,
) -> PaymentFailure {
    PaymentFailure {
        idempotency_key,
        order_id,
        amount_minor,
        currency,
        error,
        will_retry,
    }
}
