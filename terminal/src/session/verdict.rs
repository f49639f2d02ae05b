//! The verdict on the phone's answer (P3.2–P3.4): the payment request is
//! sent, the answer judged (a receipt verified and confirmed with the
//! platform, a decline, a pending payment, a broken link), the sale
//! recorded, the linkage device switched on, the phone told, the report
//! queued.

use super::*;

/// The result of a session that reached the phone's answer.
pub(super) struct Verdict {
    /// What to tell the phone: `Done` with this outcome, or `None` for the
    /// `Expired` error.
    pub(super) reply: Option<DoneOutcome>,
    pub(super) state: SaleState,
    pub(super) report_kind: &'static str,
    pub(super) payment_id: Option<String>,
    /// For the phone and the sale outcome.
    pub(super) message: String,
    /// For the log and the report.
    pub(super) detail: String,
    /// The order was in doubt and the resolver settled it (and switched
    /// the linkage device on) while this session ran: nothing to record.
    pub(super) settled_elsewhere: bool,
}

impl Verdict {
    pub(super) fn new(
        state: SaleState,
        report_kind: &'static str,
        payment_id: Option<String>,
        message: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            reply: None,
            state,
            report_kind,
            payment_id,
            message: message.into(),
            detail: detail.into(),
            settled_elsewhere: false,
        }
    }

    /// The platform confirmed the payment but the linkage device did not
    /// switch on (`detail` says why): refused, and the phone is told so.
    pub(super) fn linkage_failed(payment_id: Option<String>, detail: String) -> Self {
        Self::new(
            SaleState::Refused,
            "linkage_failed",
            payment_id,
            "Payment confirmed, but the device did not switch on; please ask staff",
            detail,
        )
    }
}
impl Session {
    pub(super) async fn pay(
        &mut self,
        sale: &Sale,
        fare: Option<FareContext>,
        resent: Option<PaymentRequest>,
    ) -> Result<Verdict, End> {
        let shared = self.shared.clone();
        let cert = &shared.identity.body;
        let ttl = shared.config.mode.request_ttl_ms();
        let now = now_ms();
        if let Some(request) = &resent {
            if now > request.expires_at_ms {
                return Ok(Verdict::new(
                    SaleState::Expired,
                    "request_expired",
                    None,
                    "The payment request expired",
                    "an in-doubt order was asked for after its request expired",
                ));
            }
        }
        let request = resent.unwrap_or(PaymentRequest {
            order_id: sale.order_id.clone(),
            merchant_id: cert.merchant_id.clone(),
            terminal_id: cert.terminal_id.clone(),
            merchant_name: cert.merchant_name.clone(),
            amount_minor: sale.amount_minor,
            currency: shared.config.mode.currency().clone(),
            description: sale.description.clone(),
            fare,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl),
        });
        self.send(&SessionMessage::PaymentRequest(request.clone()))
            .await?;
        self.offered = Some(request.clone());
        tracing::info!(peer = %self.peer, order = %redact(&sale.order_id), amount_minor = sale.amount_minor, "payment request sent");
        let expires =
            Instant::now() + Duration::from_millis(request.expires_at_ms.saturating_sub(now));
        loop {
            let frame = match self.next_frame(expires, "waiting for the payment").await {
                Err(End::Timeout(_)) => {
                    return Ok(Verdict::new(
                        SaleState::Expired,
                        "request_expired",
                        None,
                        "The payment request expired",
                        "no receipt before the request expired",
                    ));
                }
                other => other?,
            };
            let message = self.open(&frame)?;
            match self.side_message(message)? {
                None => continue,
                Some(SessionMessage::Decline { reason }) => {
                    let mut verdict = Verdict::new(
                        SaleState::Declined,
                        "payment_declined",
                        None,
                        "Payment declined",
                        format!(
                            "declined on the phone: {}",
                            reason.chars().take(200).collect::<String>()
                        ),
                    );
                    verdict.reply = Some(DoneOutcome::Cancelled);
                    return Ok(verdict);
                }
                Some(SessionMessage::PaymentPending { order_id }) => {
                    if order_id != request.order_id {
                        return Err(End::Protocol("PaymentPending names another order".into()));
                    }
                    let mut verdict = Verdict::new(
                        SaleState::InDoubt,
                        "payment_in_doubt",
                        None,
                        "Payment pending: the terminal is checking with the payment server; you will not be charged twice",
                        "the phone could not learn the payment server's answer",
                    );
                    verdict.reply = Some(DoneOutcome::InDoubt);
                    return Ok(verdict);
                }
                Some(SessionMessage::Receipt { receipt }) => {
                    let mut verdict = self.judge_receipt(&request, &receipt).await;
                    verdict.reply = Some(match verdict.state {
                        SaleState::Accepted => DoneOutcome::Accepted,
                        SaleState::InDoubt => DoneOutcome::InDoubt,
                        _ => DoneOutcome::Refused,
                    });
                    return Ok(verdict);
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

    pub(crate) async fn done(&mut self, outcome: DoneOutcome, message: &str) {
        let done = SessionMessage::Done(Done {
            outcome,
            message: message.to_string(),
        });
        if let Err(e) = self.send(&done).await {
            tracing::warn!(peer = %self.peer, error = ?e, "could not send Done to the phone");
        }
    }

    /// Verifies the receipt, asks the platform, and switches the linkage
    /// device on only if everything holds (P3.3, P3.4). A genuine receipt
    /// the platform cannot confirm in time (control center unreachable)
    /// leaves the sale in doubt, not refused: the phone did pay.
    pub(super) async fn judge_receipt(
        &mut self,
        request: &PaymentRequest,
        receipt: &Receipt,
    ) -> Verdict {
        let shared = self.shared.clone();
        let refused = |payment_id: Option<String>, message: &str, detail: String| {
            Verdict::new(
                SaleState::Refused,
                "payment_refused",
                payment_id,
                message,
                detail,
            )
        };
        let body = match receipt.verify(&shared.config.receipt_key) {
            Ok(body) => body,
            Err(e) => {
                return refused(
                    None,
                    "The receipt is not signed by the payment server",
                    e.to_string(),
                )
            }
        };
        let payment_id = Some(body.payment_id.clone());
        if let Some(token_id) = trip_paid_elsewhere(request, &body) {
            return self
                .judge_trip_paid_elsewhere(request, &body, &token_id)
                .await;
        }
        if let Err(e) = body.matches(request) {
            return refused(
                payment_id,
                "The receipt does not match this payment request",
                e.to_string(),
            );
        }
        if body.fare != request.fare {
            return refused(
                payment_id,
                "The receipt does not match this payment request",
                "the receipt's fare context differs from the request's".into(),
            );
        }
        let within = Duration::from_millis(shared.config.timeouts.confirm_ms);
        let by = match confirm::confirm(&shared.platform, &shared.pushes, &body, within).await {
            Ok(by) => by,
            Err(confirm::NotConfirmed::Refused(reason)) => {
                return refused(
                    payment_id,
                    "The platform did not confirm the payment",
                    reason,
                )
            }
            Err(confirm::NotConfirmed::Unreachable(reason)) => {
                return Verdict::new(
                    SaleState::InDoubt,
                    "payment_in_doubt",
                    payment_id,
                    "Payment pending: the terminal is checking with the payment server; you will not be charged twice",
                    format!("a genuine receipt could not be confirmed yet: {reason}"),
                );
            }
        };
        // An order in doubt is settled once: by this session or by its
        // resolver, whichever claims it first.
        if self.resumed_in_doubt && shared.in_doubt.claim(&request.order_id).is_none() {
            let mut verdict = match shared.sales.outcome(&request.order_id) {
                Some(o) if o.state == SaleState::Accepted => Verdict::new(
                    SaleState::Accepted,
                    "payment_accepted",
                    payment_id,
                    o.message.unwrap_or_else(|| "Payment accepted".into()),
                    "already settled as paid by the platform",
                ),
                _ => refused(
                    payment_id,
                    "This sale was already settled; please ask staff",
                    "the in-doubt order was settled before this receipt arrived".into(),
                ),
            };
            verdict.settled_elsewhere = true;
            return verdict;
        }
        match switch_on(&shared, request, &body.payment_id).await {
            Ok(message) => Verdict::new(
                SaleState::Accepted,
                "payment_accepted",
                payment_id,
                message,
                format!("payment confirmed by the platform ({by:?})"),
            ),
            Err(detail) => Verdict::linkage_failed(payment_id, detail),
        }
    }

    pub(super) async fn report(
        &self,
        sale: &Sale,
        fare: Option<FareContext>,
        kind: &str,
        payment_id: Option<String>,
        detail: &str,
    ) {
        let mut detail = detail.to_string();
        if let Some(handle) = &self.handle {
            detail.push_str(&format!("; payer handle {handle}"));
        }
        queue_report(&self.shared, sale, fare, kind, payment_id, &detail).await;
    }
}
