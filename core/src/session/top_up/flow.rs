//! The top-up side of `TerminalSession`: the offer arriving where a
//! payment request is awaited, then accept (claim, server, receipt to the
//! terminal) or decline. Money rules as for payments (decision 0007): an
//! unknown outcome is retried with the same signed claim, then reported to
//! the terminal as pending — never as a decline.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::{PaymentRequest, SessionMessage};
use wayfare_protocol::top_up::{TopUpOffer, TopUpReceipt};

use super::claims::{ClaimError, ClaimStore, StoredClaim};
use super::{check_offer, check_receipt, Offered, TopUpOfferInfo, TopUpOutcome};
use crate::clock::now_ms;
use crate::error::WalletError;
use crate::http::HttpError;
use crate::payments::execute::RETRY_BUDGET;
use crate::payments::PaymentError;
use crate::session::link::{Phase, SessionCore, ABORT_TIMEOUT};
use crate::session::{SessionError, TerminalDone, TerminalSession};
use crate::wallet::DeviceIdentity;

/// How long to wait for the terminal's `Done` after the receipt.
const DONE_TIMEOUT: Duration = Duration::from_secs(30);
/// First pause between retries of an unknown outcome; doubled up to
/// [`RETRY_MAX_PAUSE`].
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(200);
const RETRY_MAX_PAUSE: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct ClaimBody<'a> {
    offer: &'a str,
    claim: &'a str,
}

#[derive(Deserialize)]
struct ClaimAnswer {
    top_up_id: String,
    receipt: String,
    balance_minor: i64,
}

/// What the server said to a claim.
enum Sent {
    /// Credited (now or before): the answer, receipt not yet checked.
    Credited(ClaimAnswer),
    /// Refused for good: nothing was credited by this claim.
    Refused(WalletError),
    /// No answer could be had: it may or may not have been credited.
    Unknown(String),
}

impl TerminalSession {
    /// A `TopUpOffer` arrived where a payment request was awaited (the
    /// session lock held): keeps it if it verifies and is the connected
    /// terminal's, else declines it and ends the session. Always an `Err`
    /// for `wait_for_request`: [`SessionError::TopUpOffered`] on success.
    pub(in crate::session) async fn offer(
        &self,
        core: &mut SessionCore,
        offer: TopUpOffer,
    ) -> Result<PaymentRequest, SessionError> {
        let checked = match self.inner.operator_key().await {
            Ok(operator) => check_offer(offer, &operator, &self.terminal, now_ms()),
            Err(e) => Err(SessionError::Payment(PaymentError::Wallet(e))),
        };
        match checked {
            Ok(offered) => {
                let info = offered.info();
                tracing::info!(target: "wayfare_core::session", order = %redact(&info.order_id), amount_minor = info.amount_minor, "top-up offered");
                core.phase = Phase::Offered(Box::new(offered));
                Err(SessionError::TopUpOffered(Box::new(info)))
            }
            Err(e) => {
                tracing::warn!(target: "wayfare_core::session", error = %e, "top-up offer refused");
                core.abort(&format!("top-up offer refused: {e}")).await;
                Err(e)
            }
        }
    }

    /// The accept part, under the session lock.
    async fn accept(&self) -> Result<TopUpOutcome, WalletError> {
        let mut core = self.core.lock().await;
        let offered = match &core.phase {
            Phase::Offered(o) => o.as_ref().clone(),
            Phase::Finished => return Err(SessionError::WrongState("the session is over").into()),
            _ => {
                return Err(SessionError::WrongState(
                    "no top-up offer: call tap() or next_top_up_offer() first",
                )
                .into())
            }
        };
        let now = now_ms();
        if now > offered.body.expires_at_ms {
            core.abort("the top-up offer expired").await;
            return Err(WalletError::TopUpOfferExpired);
        }
        // Nothing is signed or recorded until the wallet can take the
        // answer: registered, receipt key pinned.
        let (state, id) = self.inner.device()?;
        let receipt_key = self.inner.receipt_key().await?;
        let claims = ClaimStore::new(&state.store)?;
        let kept = match claims.claim_for(&offered, &id, now).await {
            Ok(kept) => kept,
            Err(ClaimError::Store(e)) => return Err(e.into()),
            Err(e) => {
                core.abort(&format!("top-up not claimed: {e}")).await;
                return Err(WalletError::invalid(e.to_string()));
            }
        };
        let deadline_ms = offered
            .body
            .expires_at_ms
            .min(now.saturating_add(RETRY_BUDGET.as_millis() as u64));
        let answer = match self.send_claim(&id, &kept, deadline_ms).await {
            Sent::Credited(answer) => answer,
            Sent::Refused(error) => {
                core.abort(&format!("top-up refused by the server: {error}"))
                    .await;
                return Err(error);
            }
            Sent::Unknown(reason) => return Err(self.pending(&mut core, &offered, reason).await),
        };
        let receipt = match check_receipt(
            &answer.receipt,
            &receipt_key,
            &offered.body,
            &answer.top_up_id,
        ) {
            Ok(body) => body,
            Err(reason) => {
                tracing::error!(target: "wayfare_core::session", %reason, "top-up receipt rejected");
                return Err(self.pending(&mut core, &offered, reason).await);
            }
        };
        if let Err(e) = claims
            .credited(&offered.body, kept, &answer.top_up_id, &answer.receipt)
            .await
        {
            tracing::warn!(target: "wayfare_core::session", error = %e, "cannot record the credited top-up");
        }
        tracing::info!(target: "wayfare_core::session", top_up = %redact(&answer.top_up_id), "top-up credited");
        // Credited: from here on the session only closes.
        core.phase = Phase::Finished;
        let signed = TopUpReceipt::from_base64(&answer.receipt).map_err(WalletError::from)?;
        let acknowledged = async {
            core.send(&SessionMessage::TopUpReceipt { receipt: signed })
                .await?;
            core.receive_done(DONE_TIMEOUT).await
        };
        let done = self.cancellable(acknowledged).await;
        core.finish().await;
        let terminal_done = match done {
            Ok(done) => Some(TerminalDone::from(done)),
            Err(e) => {
                tracing::warn!(target: "wayfare_core::session", error = %e, "the terminal did not acknowledge the credited top-up");
                None
            }
        };
        Ok(TopUpOutcome {
            top_up_id: answer.top_up_id,
            order_id: receipt.order_id,
            amount_minor: receipt.amount_minor,
            currency: receipt.currency.code().to_string(),
            balance_minor: answer.balance_minor,
            receipt_base64: answer.receipt,
            completed_at_ms: receipt.completed_at_ms,
            terminal_done,
        })
    }

    /// Sends the kept claim and, while the outcome is unknown, the very
    /// same bytes again, backing off, until `deadline_ms`.
    async fn send_claim(&self, id: &DeviceIdentity, kept: &StoredClaim, deadline_ms: u64) -> Sent {
        let mut pause = RETRY_FIRST_PAUSE;
        loop {
            let answer = self
                .inner
                .api
                .signed::<_, ClaimAnswer>(
                    Method::POST,
                    "/v1/top-ups/kiosk",
                    Some(&ClaimBody {
                        offer: &kept.offer,
                        claim: &kept.claim,
                    }),
                    &id.signer(),
                    &[],
                )
                .await;
            match answer {
                Ok((_, answer)) => return Sent::Credited(answer),
                Err(e) if e.is_definitive_refusal() => return Sent::Refused(refusal(e)),
                Err(e) => {
                    let pause_ms = pause.as_millis() as u64;
                    if now_ms().saturating_add(pause_ms) >= deadline_ms {
                        return Sent::Unknown(e.to_string());
                    }
                    tracing::info!(target: "wayfare_core::session", error = %e, "top-up outcome unknown; retrying with the same claim");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX_PAUSE);
                }
            }
        }
    }

    /// The outcome stays unknown: tells the terminal `PaymentPending` (it
    /// keeps the order in doubt and settles it with the platform) and ends
    /// the session.
    async fn pending(
        &self,
        core: &mut SessionCore,
        offered: &Offered,
        reason: String,
    ) -> WalletError {
        core.phase = Phase::Finished;
        let order_id = offered.body.order_id.clone();
        let told = async {
            core.send(&SessionMessage::PaymentPending {
                order_id: order_id.clone(),
            })
            .await?;
            core.receive_done(ABORT_TIMEOUT).await
        };
        match self.cancellable(told).await {
            Ok(done) => {
                tracing::info!(target: "wayfare_core::session", outcome = ?done.outcome, "terminal told the top-up is pending")
            }
            Err(e) => {
                tracing::warn!(target: "wayfare_core::session", error = %e, "could not tell the terminal the top-up is pending")
            }
        }
        core.finish().await;
        WalletError::TopUpPending {
            order_id,
            reason: format!(
                "the cash is not lost: the terminal settles this top-up with the server, and if \
                 it was credited it shows in the wallet's balance and history ({reason})"
            ),
        }
    }
}

/// The server's definitive refusal as an error an app can act on.
fn refusal(e: HttpError) -> WalletError {
    match e {
        HttpError::Api { code, reason, .. } if code == "top_up_already_claimed" => {
            WalletError::TopUpAlreadyClaimed { reason }
        }
        HttpError::Api { code, .. } if code == "offer_expired" => WalletError::TopUpOfferExpired,
        other => other.into(),
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl TerminalSession {
    /// At a `top_up` terminal (a counter or kiosk): waits for the cash
    /// offer the cashier entered (up to two minutes) and returns it, after
    /// checking it is signed by the connected terminal under the pinned
    /// operator key. Calling it again returns the same offer. `tap()` does
    /// the same for apps that do not know the terminal's kind. Errors:
    /// `InvalidInput` when the terminal asks for a payment instead (then
    /// `confirm()` or `decline()` it), `TerminalUntrusted` or
    /// `SessionFailed` for an offer that does not verify (declined).
    pub async fn next_top_up_offer(&self) -> Result<TopUpOfferInfo, WalletError> {
        match self.cancellable(self.wait_for_request()).await {
            Err(SessionError::TopUpOffered(offer)) => Ok(*offer),
            Ok(_) => Err(WalletError::invalid(
                "the terminal asks for a payment, not a top-up: call next_payment_request()",
            )),
            Err(SessionError::Untrusted(e)) => Err(WalletError::TerminalUntrusted {
                reason: format!("its top-up offer does not verify: {e}"),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The rider accepts the offered top-up: signs a claim for this
    /// wallet (kept on the phone first; the same offer accepted again
    /// re-sends the same claim), sends it to the server (retrying an
    /// unknown outcome with the same bytes for a few seconds), checks the
    /// server's receipt against the offer, hands it to the terminal and
    /// waits for its `Done`. Errors: `TopUpOfferExpired`,
    /// `TopUpAlreadyClaimed` (the cash went to another wallet),
    /// `TopUpPending` (the outcome is unknown: the terminal was told and
    /// settles it with the server; the cash is not lost), `NotRegistered`,
    /// `Server`, `SessionFailed`.
    pub async fn accept_top_up(&self) -> Result<TopUpOutcome, WalletError> {
        if *self.cancel.borrow() {
            return Err(WalletError::Cancelled);
        }
        self.accept().await
    }

    /// The rider declines the offered top-up: tells the terminal and
    /// returns its `Done`. Nothing is credited.
    pub async fn decline_top_up(&self, reason: String) -> Result<TerminalDone, WalletError> {
        self.decline(reason).await
    }
}
