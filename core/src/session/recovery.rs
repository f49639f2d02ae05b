//! A session's memory of earlier payments (issue 8.1, P3.6): the pending
//! payment to remind a terminal of, the payment that already paid a trip
//! whose token is presented again, and the device-signed acknowledgement of
//! an entry.

use wayfare_protocol::entry_consent::{EntryConsent, EntryConsentBody};
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::messages::PaymentRequest;
use wayfare_protocol::receipt::Receipt;

use super::TerminalSession;
use crate::clock::now_ms;
use crate::payments::execute::submit;
use crate::payments::PaymentError;
use crate::store::receipts::ReceiptRecord;

impl TerminalSession {
    /// The device-signed acknowledgement of an entry (P3.6): the control
    /// center charges at most `maximum_fare_minor` if the journey is never
    /// completed.
    pub(super) fn entry_consent(
        &self,
        token: &wayfare_protocol::tap_in::TapInBody,
        maximum_fare_minor: u64,
        currency: &str,
    ) -> Result<EntryConsent, String> {
        let (_, id) = self.inner.device().map_err(|e| e.to_string())?;
        let body = EntryConsentBody {
            version: wayfare_protocol::PROTOCOL_VERSION,
            token_id: token.token_id.clone(),
            terminal_id: token.terminal_id.clone(),
            account_id: id.account_id.clone(),
            device_id: id.device_id.clone(),
            maximum_fare_minor,
            currency: currency.to_string(),
            expires_at_ms: token.expires_at_ms,
            signed_at_ms: now_ms(),
        };
        EntryConsent::sign(&id.key, &body).map_err(|e| e.to_string())
    }

    /// The payment that already paid the trip this tap-out request charges
    /// (same tap-in token, another order): a pending one is settled first.
    pub(super) async fn earlier_trip_payment(
        &self,
        request: &PaymentRequest,
    ) -> Option<ReceiptRecord> {
        let token = request.fare.as_ref()?.entry.as_ref()?.token_id.clone();
        let (state, id) = self.inner.device().ok()?;
        let receipt_key = self.inner.receipt_key().await.ok()?;
        let names_token = |fare: Option<&wayfare_protocol::fare::FareContext>| {
            fare.and_then(|f| f.entry.as_ref())
                .is_some_and(|e| e.token_id == token)
        };
        let pending = state.store.pending_intents().ok().unwrap_or_default();
        for intent in pending {
            let Ok(body) =
                PaymentInstruction::from_base64(&intent.instruction).and_then(|i| i.peek())
            else {
                continue;
            };
            if body.order_id != request.order_id && names_token(body.fare.as_ref()) {
                let _settling = self.inner.settling.lock().await;
                if let Ok(record) = submit(&self.inner, &state.store, &id, intent).await {
                    return Some(record);
                }
            }
        }
        let stored = state.store.recent_receipts(100).ok().unwrap_or_default();
        stored.into_iter().find(|r| {
            r.order_id != request.order_id
                && Receipt::from_base64(&r.receipt)
                    .and_then(|rc| rc.verify(&receipt_key))
                    .is_ok_and(|b| names_token(b.fare.as_ref()))
        })
    }

    /// The newest unexpired payment of this wallet still pending at this
    /// terminal, if any.
    pub(super) fn pending_order_here(&self) -> Option<String> {
        let state = self.inner.opened().ok()?;
        let now = now_ms();
        state
            .store
            .pending_intents()
            .ok()?
            .into_iter()
            .filter(|i| i.terminal_id == self.terminal.terminal_id && i.expires_at_ms > now)
            .max_by_key(|i| i.created_at_ms)
            .map(|i| i.order_id)
    }
}

/// Whether the server refused a payment because its tap-in token already
/// paid a trip.
pub(super) fn is_token_used(e: &PaymentError) -> bool {
    matches!(e, PaymentError::Refused { code, .. } if code == "tap_in_token_used")
}
