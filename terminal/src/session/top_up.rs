//! A top-up terminal's session: the open cash order is offered to the
//! phone (the same signed offer every time a phone connects for it), and
//! the phone's answer decides it — a verified receipt prints and closes the
//! order; anything else leaves it in doubt for the resolver, because a
//! phone that declines or disconnects may still have claimed the cash
//! (see [`crate::top_up`]).

use wayfare_protocol::top_up::{TopUpOffer, TopUpOfferBody};
use wayfare_protocol::PROTOCOL_VERSION;

use super::*;
use crate::top_up::{resolver, HeldOffer};

impl Session {
    /// Runs a top-up session after the handshake.
    pub(super) async fn top_up(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        let shared = self.shared.clone();
        let sale = self.wait_for_sale(shutdown).await?;
        let held = match self.offer_for(&sale).await {
            Ok(held) => held,
            Err(end) => {
                shared.sales.release(&sale.order_id, now_ms());
                return Err(end);
            }
        };
        if now_ms() > held.expires_at_ms {
            // Its resolver settles it; this phone cannot claim it any more.
            shared.sales.release(&sale.order_id, now_ms());
            self.slot.take();
            self.tell_error(
                ErrorCode::Expired,
                "this top-up offer has expired; the cashier will enter it again",
            )
            .await;
            return Ok(());
        }
        let offer = held.signed().map_err(|e| End::Internal(e.to_string()))?;
        let answer = match self.send(&SessionMessage::TopUpOffer { offer }).await {
            Ok(()) => {
                tracing::info!(peer = %self.peer, order = %redact(&held.order_id), amount_minor = held.amount_minor, "top-up offer sent");
                self.await_top_up(&held).await
            }
            Err(end) => Err(end),
        };
        match answer {
            Ok(TopUpAnswer::Credited { message }) => {
                self.slot.take();
                self.done(DoneOutcome::Accepted, &message).await;
                Ok(())
            }
            Ok(TopUpAnswer::Unknown { reason, tell }) => {
                self.slot.take();
                resolver::hold(&shared, held, &reason).await;
                self.done(tell, "The terminal is checking the top-up with the payment server; your cash is not lost").await;
                Ok(())
            }
            Err(end) => {
                // The phone had the offer and may have claimed it. The
                // terminal is free before the order shows in doubt, so a
                // phone reconnecting for it is never told `Busy`.
                self.slot.take();
                let reason = format!("session ended after the top-up offer was sent: {end:?}");
                resolver::hold(&shared, held, &reason).await;
                Err(end)
            }
        }
    }

    /// The offer of this order: the one already signed and held (a phone
    /// reconnecting), or a new one, kept durably before any phone sees it.
    async fn offer_for(&mut self, sale: &Sale) -> Result<HeldOffer, End> {
        let shared = self.shared.clone();
        if let Some(held) = shared.top_ups.get(&sale.order_id) {
            return Ok(held);
        }
        let ttl = shared.config.mode.request_ttl_ms();
        let now = now_ms();
        let cert = &shared.identity;
        let body = TopUpOfferBody {
            version: PROTOCOL_VERSION,
            order_id: sale.order_id.clone(),
            terminal_id: cert.body.terminal_id.clone(),
            merchant_id: cert.body.merchant_id.clone(),
            amount_minor: sale.amount_minor,
            currency: shared.config.mode.currency().clone(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl),
            certificate: cert.certificate.clone(),
        };
        let offer = TopUpOffer::issue(&cert.key, &body)?;
        let held = HeldOffer::new(&offer, &body);
        shared
            .top_ups
            .keep(held.clone())
            .await
            .map_err(|e| End::Internal(format!("cannot keep the top-up offer: {e}")))?;
        Ok(held)
    }

    /// Waits for the phone's answer to the offer, until it expires.
    async fn await_top_up(&mut self, held: &HeldOffer) -> Result<TopUpAnswer, End> {
        let shared = self.shared.clone();
        let left = held.expires_at_ms.saturating_sub(now_ms());
        let deadline = Instant::now() + Duration::from_millis(left);
        let unknown = |reason: String, tell: DoneOutcome| TopUpAnswer::Unknown { reason, tell };
        loop {
            let frame = match self.next_frame(deadline, "waiting for the top-up").await {
                Err(End::Timeout(_)) => {
                    return Ok(unknown(
                        "no receipt before the offer expired".into(),
                        DoneOutcome::InDoubt,
                    ))
                }
                other => other?,
            };
            let message = self.open(&frame)?;
            match self.side_message(message)? {
                None => continue,
                Some(SessionMessage::TopUpReceipt { receipt }) => {
                    let body = match resolver::check(&shared, held, &receipt) {
                        Ok(body) => body,
                        Err(e) => {
                            tracing::warn!(peer = %self.peer, error = %Untrusted(&e), "a top-up receipt did not verify");
                            return Ok(unknown(
                                format!("the phone's top-up receipt did not verify: {}", untrusted(&e)),
                                DoneOutcome::Refused,
                            ));
                        }
                    };
                    let message = resolver::settle_credited(
                        &shared,
                        &held.order_id,
                        &body,
                        "the phone's receipt",
                    )
                    .await
                    .unwrap_or_else(|| "Top-up credited".to_string());
                    return Ok(TopUpAnswer::Credited { message });
                }
                Some(SessionMessage::Decline { reason }) => {
                    return Ok(unknown(
                        format!(
                            "declined on the phone ({}); the cash goes back once the offer has expired unclaimed",
                            reason.chars().take(200).collect::<String>()
                        ),
                        DoneOutcome::Cancelled,
                    ))
                }
                Some(SessionMessage::PaymentPending { order_id }) => {
                    if order_id != held.order_id {
                        return Err(End::Protocol("PaymentPending names another order".into()));
                    }
                    return Ok(unknown(
                        "the phone could not learn the payment server's answer".into(),
                        DoneOutcome::InDoubt,
                    ));
                }
                Some(other) => {
                    return Err(End::Protocol(format!(
                        "unexpected {} from the phone",
                        message_name(&other)
                    )))
                }
            }
        }
    }
}

/// How a top-up session ended.
enum TopUpAnswer {
    /// A verified receipt: printed and recorded.
    Credited {
        /// What the rider is told.
        message: String,
    },
    /// Anything else: the platform decides.
    Unknown {
        /// For the cashier and the report.
        reason: String,
        /// What the phone is told.
        tell: DoneOutcome,
    },
}
