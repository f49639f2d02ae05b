//! One payment: build and sign the instruction, record the intent, call the
//! server, verify and store the receipt.

use std::time::Duration;

use reqwest::Method;
use wayfare_protocol::ids::{payment_idempotency_key, redact};
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::PaymentRequest;
use wayfare_protocol::receipt::Receipt;
use wayfare_protocol::PROTOCOL_VERSION;

use super::PaymentError;
use crate::clock::now_ms;
use crate::error::WalletError;
use crate::http::{HttpError, PaymentBody, PaymentResult, WalletResponse};
use crate::store::outbox::{IntentState, PaymentIntent};
use crate::store::receipts::ReceiptRecord;
use crate::store::Store;
use crate::wallet::{DeviceIdentity, WalletInner};

/// Pays a terminal's request, `points_spent` loyalty points of it with
/// points (0: money only): records the intent durably, then asks the
/// server. The same order paid again reuses the recorded intent (same
/// idempotency key, same signed instruction, same points).
pub(crate) async fn pay_request(
    inner: &WalletInner,
    request: &PaymentRequest,
    points_spent: u64,
) -> Result<ReceiptRecord, PaymentError> {
    let (state, id) = inner.device().map_err(|e| match e {
        WalletError::NotRegistered => PaymentError::NotRegistered,
        other => PaymentError::Wallet(other),
    })?;
    let now = now_ms();
    if now > request.expires_at_ms {
        return Err(PaymentError::Expired);
    }
    // The receipt key is needed to accept the answer: make sure it is
    // available before anything is recorded.
    inner.receipt_key().await.map_err(PaymentError::Wallet)?;

    let key = payment_idempotency_key(&id.account_id, &request.terminal_id, &request.order_id);
    let _settling = inner.settling.lock().await;
    let existing = state
        .store
        .intent(&key)?
        .filter(|i| !matches!(i.state, IntentState::Failed { .. }));
    let intent = match existing {
        // Pending or completed: re-send the recorded instruction byte for
        // byte (the server answers a completed one with its result). A
        // failed one was never charged and is re-signed from this request.
        Some(mut existing) => {
            tracing::info!(target: "wayfare_core::payments", key = %redact(&key), "order already has an intent: re-sending it");
            existing.state = IntentState::Pending;
            existing
        }
        None => {
            let body = InstructionBody {
                version: PROTOCOL_VERSION,
                account_id: id.account_id.clone(),
                device_id: id.device_id.clone(),
                idempotency_key: key.clone(),
                order_id: request.order_id.clone(),
                merchant_id: request.merchant_id.clone(),
                terminal_id: request.terminal_id.clone(),
                amount_minor: request.amount_minor,
                currency: request.currency.clone(),
                description: request.description.clone(),
                fare: request.fare.clone(),
                expires_at_ms: request.expires_at_ms,
                signed_at_ms: now,
                points_spent,
            };
            let instruction = PaymentInstruction::sign(&id.key, &body)?;
            PaymentIntent {
                idempotency_key: key.clone(),
                instruction: instruction.to_base64(),
                order_id: request.order_id.clone(),
                terminal_id: request.terminal_id.clone(),
                merchant_id: request.merchant_id.clone(),
                merchant_name: request.merchant_name.clone(),
                amount_minor: request.amount_minor,
                currency: request.currency.code().to_string(),
                description: request.description.clone(),
                expires_at_ms: request.expires_at_ms,
                created_at_ms: now,
                attempts: 0,
                last_error: None,
                state: IntentState::Pending,
                points_spent,
            }
        }
    };
    // Durable before the server hears of it.
    state.store.put_intent(&intent).await?;
    let deadline_ms = request
        .expires_at_ms
        .min(now.saturating_add(RETRY_BUDGET.as_millis() as u64));
    submit_with_retries(inner, &state.store, &id, intent, deadline_ms).await
}

/// How long a payment in a session keeps retrying an unknown outcome
/// before the phone tells the terminal the payment is pending.
pub(crate) const RETRY_BUDGET: Duration = Duration::from_secs(5);
/// First pause between retries; doubled up to [`RETRY_MAX_PAUSE`].
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(200);
/// Longest pause between retries.
const RETRY_MAX_PAUSE: Duration = Duration::from_secs(2);

/// Sends a recorded intent and, while the outcome is unknown (network
/// failure, lost response, 5xx), sends the very same bytes again with the
/// same idempotency key, backing off, until `deadline_ms` (never past the
/// request's expiry). The server answers a retry of a committed payment
/// with its original result, so retrying can never charge twice.
pub(crate) async fn submit_with_retries(
    inner: &WalletInner,
    store: &Store,
    id: &DeviceIdentity,
    mut intent: PaymentIntent,
    deadline_ms: u64,
) -> Result<ReceiptRecord, PaymentError> {
    let mut pause = RETRY_FIRST_PAUSE;
    loop {
        match submit(inner, store, id, intent.clone()).await {
            Err(PaymentError::Pending { reason }) => {
                let pause_ms = pause.as_millis() as u64;
                if now_ms().saturating_add(pause_ms) >= deadline_ms {
                    return Err(PaymentError::Pending { reason });
                }
                intent.attempts = intent.attempts.saturating_add(1);
                tracing::info!(target: "wayfare_core::payments", key = %redact(&intent.idempotency_key), attempt = intent.attempts, "payment outcome unknown; retrying with the same instruction");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX_PAUSE);
            }
            other => return other,
        }
    }
}

/// Sends a recorded intent to the server and records the outcome.
pub(crate) async fn submit(
    inner: &WalletInner,
    store: &Store,
    id: &DeviceIdentity,
    mut intent: PaymentIntent,
) -> Result<ReceiptRecord, PaymentError> {
    intent.attempts = intent.attempts.saturating_add(1);
    let answer = inner
        .api
        .signed::<_, PaymentResult>(
            Method::POST,
            "/v1/payments",
            Some(&PaymentBody {
                instruction: &intent.instruction,
            }),
            &id.signer(),
            &[("idempotency-key", &intent.idempotency_key)],
        )
        .await;
    let key_log = redact(&intent.idempotency_key);
    match answer {
        Ok((_, result)) => {
            let receipt_key = inner.receipt_key().await.map_err(PaymentError::Wallet)?;
            match verify_result(&result, &intent, &receipt_key) {
                Ok(record) => {
                    // Receipt first: if we crash before the intent is marked
                    // completed, the next settlement gets the same receipt.
                    store.put_receipt(&record).await?;
                    // The app's event, before the intent stops being pending
                    // (a re-run after a crash queues it once).
                    crate::events::queue_completed(inner, store, &record).await?;
                    intent.state = IntentState::Completed {
                        payment_id: record.payment_id.clone(),
                    };
                    intent.last_error = None;
                    store.put_intent(&intent).await?;
                    tracing::info!(target: "wayfare_core::payments", key = %key_log, payment = %redact(&record.payment_id), "payment completed");
                    Ok(record)
                }
                Err(reason) => {
                    tracing::error!(target: "wayfare_core::payments", key = %key_log, %reason, "receipt rejected; payment kept pending");
                    intent.last_error = Some(reason.clone());
                    store.put_intent(&intent).await?;
                    Err(PaymentError::BadReceipt(reason))
                }
            }
        }
        Err(e) if e.is_definitive_refusal() => {
            let (status, code, reason) = match e {
                HttpError::Api {
                    status,
                    code,
                    reason,
                } => (status, code, reason),
                other => (0, "refused".to_string(), other.to_string()),
            };
            tracing::info!(target: "wayfare_core::payments", key = %key_log, %code, "payment refused by the server");
            let event_error = format!("the server refused the payment ({code}): {reason}");
            crate::events::queue_failed(inner, store, &intent, event_error).await?;
            intent.state = IntentState::Failed {
                code: code.clone(),
                reason: reason.clone(),
            };
            store.put_intent(&intent).await?;
            Err(match code.as_str() {
                "insufficient_funds" => PaymentError::InsufficientFunds {
                    balance_minor: current_balance(inner, id).await,
                    amount_minor: intent.amount_minor,
                },
                "request_expired" => PaymentError::Expired,
                _ => PaymentError::Refused {
                    status,
                    code,
                    reason,
                },
            })
        }
        Err(e) => {
            tracing::warn!(target: "wayfare_core::payments", key = %key_log, error = %e, "payment answer unknown; kept pending");
            intent.last_error = Some(e.to_string());
            store.put_intent(&intent).await?;
            Err(PaymentError::Pending {
                reason: format!(
                    "you will not be charged twice. The payment server did not answer ({e}); the payment is recorded on this phone and will be settled automatically"
                ),
            })
        }
    }
}

async fn current_balance(inner: &WalletInner, id: &DeviceIdentity) -> Option<i64> {
    inner
        .api
        .signed::<(), WalletResponse>(Method::GET, "/v1/wallet", None, &id.signer(), &[])
        .await
        .ok()
        .map(|(_, w)| w.balance_minor)
}

/// Checks the server's answer: the receipt is signed by the pinned receipt
/// key and pays exactly this intent.
pub(crate) fn verify_result(
    result: &PaymentResult,
    intent: &PaymentIntent,
    receipt_key: &PublicKey,
) -> Result<ReceiptRecord, String> {
    if result.status != "completed" {
        return Err(format!("unexpected payment status {:?}", result.status));
    }
    let receipt = Receipt::from_base64(&result.receipt).map_err(|e| e.to_string())?;
    let body = receipt.verify(receipt_key).map_err(|e| e.to_string())?;
    let checks = [
        ("payment_id", body.payment_id == result.payment_id),
        ("answer", {
            result.order_id == body.order_id
                && result.terminal_id == body.terminal_id
                && result.merchant_id == body.merchant_id
                && result.amount_minor == body.amount_minor
                && result.currency == body.currency.code()
                && result.completed_at_ms == body.completed_at_ms
                && result.points_spent == body.points_spent
                && result.points_value_minor == body.points_value_minor
        }),
        ("order_id", body.order_id == intent.order_id),
        ("terminal_id", body.terminal_id == intent.terminal_id),
        ("merchant_id", body.merchant_id == intent.merchant_id),
        ("amount_minor", body.amount_minor == intent.amount_minor),
        ("currency", body.currency.code() == intent.currency),
        ("points_spent", body.points_spent == intent.points_spent),
        (
            "points_value_minor",
            body.points_value_minor <= body.amount_minor,
        ),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(format!("the receipt's {field} does not match the payment"));
    }
    Ok(ReceiptRecord {
        payment_id: body.payment_id,
        idempotency_key: intent.idempotency_key.clone(),
        receipt: result.receipt.clone(),
        order_id: body.order_id,
        terminal_id: body.terminal_id,
        merchant_id: body.merchant_id,
        merchant_name: intent.merchant_name.clone(),
        description: intent.description.clone(),
        amount_minor: body.amount_minor,
        currency: body.currency.code().to_string(),
        balance_after_minor: result.balance_after_minor,
        payer: body.payer,
        completed_at_ms: body.completed_at_ms,
        points_spent: body.points_spent,
        points_value_minor: body.points_value_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::tests::intent;
    use wayfare_protocol::keys::SigningKey;
    use wayfare_protocol::money::Currency;
    use wayfare_protocol::receipt::ReceiptBody;

    fn result_for(server: &SigningKey, amount: u64) -> PaymentResult {
        let body = ReceiptBody {
            version: 1,
            payment_id: "pay_1".into(),
            order_id: "ord_1".into(),
            payer: "rider".into(),
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            amount_minor: amount,
            currency: Currency::parse("EUR").unwrap(),
            completed_at_ms: 7,
            fare: None,
            points_spent: 0,
            points_value_minor: 0,
        };
        PaymentResult {
            payment_id: "pay_1".into(),
            status: "completed".into(),
            receipt: Receipt::issue(server, &body).unwrap().to_base64(),
            amount_minor: amount,
            currency: "EUR".into(),
            balance_after_minor: 750,
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            order_id: "ord_1".into(),
            completed_at_ms: 7,
            points_spent: 0,
            points_value_minor: 0,
        }
    }

    #[test]
    fn receipts_must_verify_and_match_the_intent() {
        let server = SigningKey::generate().unwrap();
        let rogue = SigningKey::generate().unwrap();
        let i = intent("idem_1", 1);
        let record = verify_result(&result_for(&server, 250), &i, &server.public_key()).unwrap();
        assert_eq!(record.payment_id, "pay_1");
        assert_eq!(record.balance_after_minor, 750);
        assert!(verify_result(&result_for(&rogue, 250), &i, &server.public_key()).is_err());
        let err = verify_result(&result_for(&server, 251), &i, &server.public_key()).unwrap_err();
        assert!(err.contains("amount_minor"), "{err}");
    }

    #[test]
    fn the_receipt_must_spend_the_points_the_intent_signed() {
        let server = SigningKey::generate().unwrap();
        let mut i = intent("idem_1", 1);
        i.points_spent = 5;
        // A receipt without the points (or with others) is not this payment.
        let err = verify_result(&result_for(&server, 250), &i, &server.public_key()).unwrap_err();
        assert!(err.contains("points_spent"), "{err}");
        i.points_spent = 0;
        let record = verify_result(&result_for(&server, 250), &i, &server.public_key()).unwrap();
        assert_eq!((record.points_spent, record.points_value_minor), (0, 0));
    }
}
