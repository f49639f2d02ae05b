//! Sessions whose outcome was unknown: the tram's opening hint of a
//! pending order, keeping an offered order in doubt, and an exit whose trip
//! was already paid at another gate (issue 8.1: an unknown outcome is never
//! a decline, and nothing is charged twice).

use std::time::Duration;

use tokio::time::Instant;
use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::{PaymentRequest, SessionMessage};

use super::{message_name, switch_on, End, Session, Verdict, PENDING_HINT_WAIT_MS};
use crate::in_doubt::InDoubtSale;
use crate::now_ms;
use crate::sale::{Sale, SaleState};

impl Session {
    /// Tram: reads the phone's opening messages (the core sends its
    /// tap-in presentation right after the handshake, preceded by
    /// `PaymentPending` when it has a payment in doubt here) for at most
    /// the tap-in wait; returns the pending order it names, if any.
    pub(super) async fn pending_hint(&mut self) -> Result<Option<String>, End> {
        let deadline = Instant::now() + Duration::from_millis(PENDING_HINT_WAIT_MS);
        let mut hint = None;
        loop {
            let frame = match self
                .next_frame(deadline, "waiting for the phone's opening")
                .await
            {
                Err(End::Timeout(_)) => return Ok(hint),
                other => other?,
            };
            match self.open(&frame)? {
                SessionMessage::PaymentPending { order_id } => hint = Some(order_id),
                SessionMessage::TapIn { .. } => return Ok(hint),
                other => {
                    if let Some(other) = self.side_message(other)? {
                        return Err(End::Protocol(format!(
                            "unexpected {} before the payment request",
                            message_name(&other)
                        )));
                    }
                }
            }
        }
    }

    /// Opens for a trip already paid at another gate of the operator, once
    /// the platform confirms that payment paid this token's trip; nothing
    /// is charged here. The exit's own order ends accepted with the earlier
    /// payment's id.
    pub(super) async fn judge_trip_paid_elsewhere(
        &mut self,
        request: &PaymentRequest,
        body: &wayfare_protocol::receipt::ReceiptBody,
        token_id: &str,
    ) -> Verdict {
        let shared = self.shared.clone();
        let payment_id = Some(body.payment_id.clone());
        let confirmed = shared
            .platform
            .confirm_trip(&body.payment_id, &request.order_id, token_id)
            .await;
        match confirmed {
            Ok(c) if c.confirmed => match switch_on(&shared, request, &body.payment_id).await {
                Ok(message) => Verdict::new(
                    SaleState::Accepted,
                    "trip_already_paid",
                    payment_id,
                    message,
                    "the trip was paid at another gate of the operator; nothing charged here",
                ),
                Err(detail) => Verdict::linkage_failed(payment_id, detail),
            },
            Ok(_) => Verdict::new(
                SaleState::Refused,
                "payment_refused",
                payment_id,
                "The platform did not confirm the earlier payment",
                "the earlier payment is not completed",
            ),
            Err(e) => Verdict::new(
                SaleState::Refused,
                "payment_refused",
                payment_id,
                "The platform did not confirm the earlier payment",
                e.to_string(),
            ),
        }
    }

    /// Keeps the offered order in doubt and lets the resolver settle it.
    pub(super) async fn keep_in_doubt(
        &mut self,
        sale: &Sale,
        token: Option<(String, u64)>,
        payment_id: Option<String>,
        reason: &str,
    ) {
        let Some(request) = self.offered.clone() else {
            return;
        };
        let held = InDoubtSale {
            sale: sale.clone(),
            request,
            token,
            payment_id,
            reason: "Payment pending: checking with the payment server; the rider will not be charged twice"
                .into(),
            since_ms: now_ms(),
        };
        tracing::warn!(peer = %self.peer, order = %redact(&sale.order_id), reason = ?reason, "payment outcome unknown: the sale is in doubt");
        crate::in_doubt::hold(&self.shared, held).await;
    }
}

/// The tap-in token, when `body` is the receipt of an earlier payment of
/// this same trip (its entry token is the one this exit was asked to
/// charge, and the same operator was paid): the phone's answer at the first
/// gate was lost, the server refused a second charge for the token
/// (`tap_in_token_used`), and the phone shows what already paid the trip.
pub(super) fn trip_paid_elsewhere(
    request: &PaymentRequest,
    body: &wayfare_protocol::receipt::ReceiptBody,
) -> Option<String> {
    if body.order_id == request.order_id || body.merchant_id != request.merchant_id {
        return None;
    }
    let asked = request.fare.as_ref()?.entry.as_ref()?;
    let paid = body.fare.as_ref()?.entry.as_ref()?;
    (asked.token_id == paid.token_id).then(|| asked.token_id.clone())
}
