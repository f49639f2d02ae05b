//! The `TerminalSession` object: one encrypted session with one access
//! terminal, from the handshake to the terminal's `Done`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex};
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::fare::FareMode;
use wayfare_protocol::ids::{payment_idempotency_key, redact};
use wayfare_protocol::messages::{DoneOutcome, PaymentRequest, SessionMessage};
use wayfare_protocol::receipt::Receipt;
use wayfare_protocol::tap_in::TapInToken;

use super::identity::{pseudonym_for, sign_consent, IdentityShared};
use super::link::{Phase, SessionCore, ABORT_TIMEOUT};
use super::recovery::is_token_used;
use super::tap_in::{TapInStore, TapOutcome};
use super::transport::FramedStream;
use super::{PaymentRequestInfo, SessionError, TerminalDone, TerminalInfo};
use crate::clock::now_ms;
use crate::discovery::types::TerminalKind;
use crate::error::WalletError;
use crate::listener::notify;
use crate::payments::execute::pay_request;
use crate::payments::{PaymentError, PaymentFailure, PaymentOutcome};
use crate::wallet::WalletInner;

/// How long the handshake may take.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the terminal's payment request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for the terminal's `Done`.
const DONE_TIMEOUT: Duration = Duration::from_secs(30);
/// An encrypted session with one access terminal. The terminal's identity
/// was verified during `connect` (certificate issued by the pinned operator
/// key, transcript signature) before anything else happened.
///
/// Flow: `next_payment_request()`, then `confirm()` or `decline(reason)`.
/// `cancel()` aborts a pending wait from any thread; dropping any future of
/// this object is safe (a payment in flight stays in the outbox and settles
/// later). Dropping the session closes the connection.
#[derive(uniffi::Object)]
pub struct TerminalSession {
    pub(super) inner: Arc<WalletInner>,
    pub(super) terminal: TerminalInfo,
    pub(super) core: Mutex<SessionCore>,
    pub(super) cancel: watch::Sender<bool>,
    /// The last request received, for failure notifications.
    last_request: std::sync::Mutex<Option<PaymentRequest>>,
}

impl std::fmt::Debug for TerminalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalSession")
            .field("terminal", &redact(&self.terminal.terminal_id))
            .finish()
    }
}

impl TerminalSession {
    pub(crate) fn new(
        inner: Arc<WalletInner>,
        terminal: TerminalInfo,
        stream: FramedStream,
        channel: SecureChannel,
    ) -> Self {
        Self {
            inner,
            terminal,
            core: Mutex::new(SessionCore {
                stream,
                channel,
                phase: Phase::AwaitingRequest,
                tap_presented: false,
                identified: false,
            }),
            cancel: watch::channel(false).0,
            last_request: std::sync::Mutex::new(None),
        }
    }

    /// Runs `op` unless or until `cancel()` is called.
    pub(super) async fn cancellable<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, SessionError>>,
    ) -> Result<T, SessionError> {
        let mut cancelled = self.cancel.subscribe();
        if *cancelled.borrow() {
            return Err(SessionError::Cancelled);
        }
        tokio::select! {
            result = op => result,
            _ = cancelled.wait_for(|c| *c) => Err(SessionError::Cancelled),
        }
    }

    pub(super) async fn wait_for_request(&self) -> Result<PaymentRequest, SessionError> {
        let mut core = self.core.lock().await;
        match &core.phase {
            Phase::Requested(r) => return Ok(r.as_ref().clone()),
            Phase::Finished => return Err(SessionError::WrongState("the session is over")),
            Phase::AwaitingRequest => {}
            Phase::Offered(o) => return Err(SessionError::TopUpOffered(Box::new(o.info()))),
        }
        // If this future is dropped mid-read, the stream is unusable: the
        // phase is set to Finished first and restored on success.
        core.phase = Phase::Finished;
        if let Err(e) = self.present_tap_in(&mut core).await {
            core.finish().await;
            return Err(e);
        }
        let mut entered = None;
        let result = loop {
            match core.receive(REQUEST_TIMEOUT).await {
                Ok(SessionMessage::PaymentRequest(r)) => break self.check_request(r),
                Ok(SessionMessage::TapInIssued {
                    token,
                    maximum_fare_minor,
                    currency,
                }) => {
                    entered = self.keep_tap_in(&token).await;
                    if let Some(body) = &entered {
                        // The gate opens once the entry is acknowledged with
                        // the device's consent to an incomplete-journey fare.
                        match self.entry_consent(body, maximum_fare_minor, currency.code()) {
                            Ok(consent) => {
                                if let Err(e) =
                                    core.send(&SessionMessage::TapInAccepted { consent }).await
                                {
                                    break Err(e);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(target: "wayfare_core::session", error = %e, "cannot acknowledge the entry");
                            }
                        }
                    }
                }
                Ok(SessionMessage::Done(done)) if entered.is_some() => {
                    let Some(body) = entered.take() else {
                        break Err(SessionError::Closed);
                    };
                    break Err(SessionError::TappedIn {
                        station: body.station,
                        line: body.line,
                        expires_at_ms: body.expires_at_ms,
                        message: done.message,
                    });
                }
                Ok(SessionMessage::Done(done)) => {
                    break Err(SessionError::Terminal {
                        code: wayfare_protocol::messages::ErrorCode::Internal,
                        reason: format!("the terminal ended the session: {}", done.message),
                    })
                }
                Ok(SessionMessage::Error(body)) => {
                    break Err(SessionError::Terminal {
                        code: body.code,
                        reason: body.message,
                    })
                }
                Ok(SessionMessage::TopUpOffer { offer }) => {
                    return self.offer(&mut core, offer).await
                }
                Ok(_) => break Err(SessionError::Unexpected("expected a payment request")),
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(request) => {
                if let Ok(mut last) = self.last_request.lock() {
                    *last = Some(request.clone());
                }
                core.phase = Phase::Requested(Box::new(request.clone()));
                Ok(request)
            }
            Err(e) => {
                core.finish().await;
                Err(e)
            }
        }
    }

    /// At tram and gate terminals, presents the held tap-in token (or says
    /// there is none) once, before the terminal decides entry or exit.
    async fn present_tap_in(&self, core: &mut SessionCore) -> Result<(), SessionError> {
        if core.tap_presented
            || !matches!(self.terminal.kind, TerminalKind::Tram | TerminalKind::Gate)
        {
            return Ok(());
        }
        core.tap_presented = true;
        // A payment this phone left pending at this terminal (its answer was
        // lost) is named first, so the terminal can offer the same order
        // again instead of a new one: never charged twice (issue 8.1).
        if let Some(order_id) = self.pending_order_here() {
            tracing::info!(target: "wayfare_core::session", order = %redact(&order_id), "reminding the terminal of a pending payment");
            core.send(&SessionMessage::PaymentPending { order_id })
                .await?;
        }
        let token = match self.inner.opened() {
            Ok(state) => TapInStore::new(&state.store)
                .and_then(|s| s.current(now_ms()))
                .unwrap_or_else(|e| {
                    tracing::warn!(target: "wayfare_core::session", error = %e, "cannot read the tap-in token");
                    None
                })
                .and_then(|held| TapInToken::from_base64(&held.token).ok()),
            Err(_) => None,
        };
        tracing::debug!(target: "wayfare_core::session", holds_token = token.is_some(), "presenting tap-in");
        core.send(&SessionMessage::TapIn { token }).await
    }

    /// Verifies and keeps a token an entry terminal issued.
    async fn keep_tap_in(&self, token: &TapInToken) -> Option<wayfare_protocol::tap_in::TapInBody> {
        let kept = async {
            let operator = self.inner.operator_key().await.ok()?;
            let state = self.inner.opened().ok()?;
            let store = TapInStore::new(&state.store).ok()?;
            if !matches!(self.terminal.kind, TerminalKind::Tram | TerminalKind::Gate) {
                tracing::warn!(target: "wayfare_core::session", "a non-transit terminal sent a tap-in token; ignored");
                return None;
            }
            match store
                .keep(token, &self.terminal.terminal_id, &operator, now_ms())
                .await
            {
                Ok(body) => Some(body),
                Err(e) => {
                    tracing::warn!(target: "wayfare_core::session", error = %e, "tap-in token not kept");
                    None
                }
            }
        };
        let body = kept.await;
        if let Some(b) = &body {
            tracing::info!(target: "wayfare_core::session", token = %redact(&b.token_id), "tap-in token kept");
        }
        body
    }

    /// After a trip was charged on exit (or the maximum fare instead), the
    /// held token is spent.
    async fn spend_tap_in(&self, request: &PaymentRequest) {
        let spent = request
            .fare
            .as_ref()
            .is_some_and(|f| matches!(f.mode, FareMode::TapOut | FareMode::MaximumFare));
        if !spent {
            return;
        }
        if let Ok(state) = self.inner.opened() {
            if let Err(e) = async { TapInStore::new(&state.store)?.forget().await }.await {
                tracing::warn!(target: "wayfare_core::session", error = %e, "cannot forget the spent tap-in token");
            }
        }
    }

    fn check_request(&self, mut r: PaymentRequest) -> Result<PaymentRequest, SessionError> {
        if r.terminal_id != self.terminal.terminal_id {
            return Err(SessionError::Mismatch("it names another terminal"));
        }
        if r.merchant_id != self.terminal.merchant_id {
            return Err(SessionError::Mismatch("it names another merchant"));
        }
        if r.amount_minor == 0 {
            return Err(SessionError::Mismatch("the amount is zero"));
        }
        // The name shown to the rider (and kept on the receipt) is the one
        // the operator certified, never whatever the terminal typed into
        // the request.
        if r.merchant_name != self.terminal.merchant_name {
            tracing::warn!(target: "wayfare_core::session", "the request's merchant name differs from the certified one; showing the certified name");
            r.merchant_name = self.terminal.merchant_name.clone();
        }
        Ok(r)
    }

    /// The payment part of `confirm`, under the session lock.
    async fn pay(&self, points: u64) -> Result<PaymentOutcome, SessionError> {
        let mut core = self.core.lock().await;
        let request = match &core.phase {
            Phase::Requested(r) => r.as_ref().clone(),
            Phase::AwaitingRequest => {
                return Err(SessionError::WrongState(
                    "no payment request yet: call next_payment_request() first",
                ))
            }
            Phase::Finished => return Err(SessionError::WrongState("the session is over")),
            Phase::Offered(_) => return Err(super::top_up::NOT_A_PAYMENT),
        };
        if now_ms() > request.expires_at_ms {
            core.abort("the payment request expired").await;
            return Err(PaymentError::Expired.into());
        }
        let record = match pay_request(&self.inner, &request, points).await {
            Ok(record) => record,
            // Nothing happened yet: the user may register or reopen and
            // confirm again in the same session.
            Err(e @ (PaymentError::NotRegistered | PaymentError::Wallet(_))) => {
                return Err(e.into())
            }
            // The outcome is unknown even after retrying: never a decline.
            // The terminal keeps the order in doubt and settles it with the
            // platform; the outbox settles this phone's side.
            Err(e @ (PaymentError::Pending { .. } | PaymentError::BadReceipt(_))) => {
                core.phase = Phase::Finished;
                let pending = SessionMessage::PaymentPending {
                    order_id: request.order_id.clone(),
                };
                let told = async {
                    core.send(&pending).await?;
                    core.receive_done(ABORT_TIMEOUT).await
                };
                match self.cancellable(told).await {
                    Ok(done) => {
                        tracing::info!(target: "wayfare_core::session", outcome = ?done.outcome, "terminal told the payment is pending")
                    }
                    Err(e) => {
                        tracing::warn!(target: "wayfare_core::session", error = %e, "could not tell the terminal the payment is pending")
                    }
                }
                core.finish().await;
                return Err(e.into());
            }
            // The trip's token already paid a fare: the answer at another
            // gate was lost. Show this gate that payment, charged once.
            Err(e @ PaymentError::Refused { .. }) if is_token_used(&e) => {
                match self.earlier_trip_payment(&request).await {
                    Some(record) => record,
                    None => {
                        core.abort(&format!("payment failed: {e}")).await;
                        return Err(e.into());
                    }
                }
            }
            Err(e) => {
                let reason = format!("payment failed: {e}");
                core.abort(&reason).await;
                return Err(e.into());
            }
        };
        self.spend_tap_in(&request).await;
        let payment_id = record.payment_id.clone();
        let unacknowledged = |reason: String| SessionError::Unacknowledged {
            payment_id: redact(&payment_id),
            reason,
        };
        // The payment is complete; from here on the phase is Finished.
        core.phase = Phase::Finished;
        let receipt = Receipt::from_base64(&record.receipt)?;
        let acknowledged = async {
            core.send(&SessionMessage::Receipt { receipt }).await?;
            core.receive_done(DONE_TIMEOUT).await
        };
        let done = self.cancellable(acknowledged).await;
        let outcome_record = record.clone();
        core.finish().await;
        drop(core);
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                notify(self.inner.listener(), |l| {
                    l.on_payment_completed(PaymentOutcome::from_record(outcome_record, None))
                });
                return Err(match e {
                    SessionError::Terminal { code, reason } => SessionError::Refused {
                        reason: format!("{code:?}: {reason}"),
                    },
                    other => unacknowledged(other.to_string()),
                });
            }
        };
        let outcome = PaymentOutcome::from_record(record, Some(done.clone().into()));
        notify(self.inner.listener(), |l| {
            l.on_payment_completed(outcome.clone())
        });
        match done.outcome {
            DoneOutcome::Accepted => Ok(outcome),
            DoneOutcome::Refused | DoneOutcome::Cancelled | DoneOutcome::InDoubt => {
                Err(SessionError::Refused {
                    reason: done.message,
                })
            }
        }
    }

    async fn decline_inner(&self, reason: String) -> Result<TerminalDone, SessionError> {
        let mut core = self.core.lock().await;
        if matches!(core.phase, Phase::Finished) {
            return Err(SessionError::WrongState("the session is over"));
        }
        core.phase = Phase::Finished;
        let result = async {
            core.send(&SessionMessage::Decline { reason }).await?;
            core.receive_done(DONE_TIMEOUT).await
        }
        .await;
        core.finish().await;
        Ok(result?.into())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl TerminalSession {
    /// The terminal, as its verified certificate describes it.
    pub fn terminal(&self) -> TerminalInfo {
        self.terminal.clone()
    }

    /// Waits for the terminal's payment request (up to two minutes) and
    /// returns it; also calls the wallet listener's `on_payment_request`. Calling
    /// it again returns the same request.
    pub async fn next_payment_request(&self) -> Result<PaymentRequestInfo, WalletError> {
        let request = self.cancellable(self.wait_for_request()).await?;
        let info = PaymentRequestInfo::from(&request);
        notify(self.inner.listener(), |l| {
            l.on_payment_request(info.clone())
        });
        Ok(info)
    }

    /// For tram and gate terminals: presents the held tap-in token (if
    /// any) and returns what the terminal did: an entry recorded (the new
    /// token is kept; nothing to pay) or a payment request (a flat fare,
    /// the fare of the trip ending here, or the maximum fare with its
    /// reason) to `confirm()` or `decline()`. Works at POS terminals too
    /// (`PaymentRequested`) and at top_up terminals (`TopUpOffered`).
    pub async fn tap(&self) -> Result<TapOutcome, WalletError> {
        match self.cancellable(self.wait_for_request()).await {
            Ok(request) => {
                let info = PaymentRequestInfo::from(&request);
                notify(self.inner.listener(), |l| {
                    l.on_payment_request(info.clone())
                });
                Ok(TapOutcome::PaymentRequested { request: info })
            }
            Err(SessionError::TopUpOffered(o)) => Ok(TapOutcome::TopUpOffered { offer: *o }),
            Err(SessionError::TappedIn {
                station,
                line,
                expires_at_ms,
                message,
            }) => Ok(TapOutcome::Entered {
                station,
                line,
                token_expires_at_ms: expires_at_ms,
                message,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The user confirmed: pays the request (intent recorded on this phone
    /// first, then the server), sends the receipt to the terminal and waits
    /// for its `Done`. A server call whose outcome is unknown is retried
    /// with the same instruction for a few seconds (within the request's
    /// expiry). Errors: `RequestExpired`, `InsufficientFunds`,
    /// `PaymentPending` (the outcome is still unknown: the terminal was told
    /// and keeps the sale in doubt, the phone settles it later, never
    /// charged twice; tap again to finish the same order), `TerminalRefused` (paid, but
    /// the terminal did not accept: the receipt is stored), `SessionFailed`.
    /// `cancel()` does not interrupt the server call (the payment completes
    /// or stays pending), only the wait for the terminal.
    pub async fn confirm(&self) -> Result<PaymentOutcome, WalletError> {
        self.confirm_with_points(0).await
    }

    /// Like `confirm()`, paying `points` loyalty points' worth of the amount
    /// with points (valued at the merchant's rate, see
    /// `wallet.payments().points_rate(merchant_id)`) and the rest from the
    /// balance; the receipt shows the split. The same order confirmed again
    /// re-sends the first signed instruction, points included. Errors as
    /// `confirm()`, plus `Server` with code `points_not_accepted`,
    /// `insufficient_points` or `invalid_field` (over the merchant's cap or
    /// the amount); nothing was charged then.
    pub async fn confirm_with_points(&self, points: u64) -> Result<PaymentOutcome, WalletError> {
        if *self.cancel.borrow() {
            return Err(WalletError::Cancelled);
        }
        match self.pay(points).await {
            Ok(outcome) => Ok(outcome),
            Err(SessionError::Payment(e)) => {
                let will_retry = matches!(e, PaymentError::Pending { .. });
                let definitive =
                    !matches!(e, PaymentError::NotRegistered | PaymentError::Wallet(_));
                let error: WalletError = e.into();
                if definitive {
                    self.notify_failure(&error, will_retry);
                }
                Err(error)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The optional identity step (P3.5), only when the rider asks for it:
    /// shows the terminal the rider's pseudonym for its merchant (never the
    /// account, its handle or a phone number; other merchants see other
    /// pseudonyms). With `consent_to_register`, also sends the rider's
    /// signed consent for the terminal to register the rider with its
    /// merchant's platform; the registration then appears in
    /// `wallet.registrations()` and the rider can revoke it there.
    ///
    /// Call it after `connect` and before `confirm()`, not while
    /// `next_payment_request()` or `tap()` is waiting (it would wait for
    /// them). At tram and gate terminals, registration is possible only
    /// after `tap()`; a plain identity step may come before. The first time
    /// at a merchant it asks the control center for the pseudonym (kept
    /// afterwards). Once per session. Errors: `NotRegistered`, `Network`,
    /// `InvalidInput` (repeated, or registration before `tap()` at a
    /// transit terminal), `SessionFailed` (the session is over).
    pub async fn identify(&self, consent_to_register: bool) -> Result<IdentityShared, WalletError> {
        if *self.cancel.borrow() {
            return Err(WalletError::Cancelled);
        }
        let (_, id) = self.inner.device()?;
        let merchant_id = self.terminal.merchant_id.clone();
        let pseudonym = pseudonym_for(&self.inner, &merchant_id).await?;
        let consent = consent_to_register
            .then(|| sign_consent(&id, &pseudonym, &merchant_id, &self.terminal.terminal_id))
            .transpose()?;
        let mut core = self.core.lock().await;
        if matches!(core.phase, Phase::Finished) {
            return Err(SessionError::WrongState("the session is over").into());
        }
        if core.identified {
            return Err(WalletError::invalid(
                "the rider was already identified in this session",
            ));
        }
        let transit = matches!(self.terminal.kind, TerminalKind::Tram | TerminalKind::Gate);
        if consent.is_some() && transit && !core.tap_presented {
            return Err(WalletError::invalid(
                "at tram and gate terminals, register with the platform after tap()",
            ));
        }
        core.identified = true;
        let sent = async {
            core.send(&SessionMessage::Identity {
                handle: pseudonym.clone(),
            })
            .await?;
            if let Some(consent) = consent {
                core.send(&SessionMessage::Consent { consent }).await?;
            }
            Ok::<_, SessionError>(())
        }
        .await;
        if let Err(e) = sent {
            core.finish().await;
            return Err(e.into());
        }
        tracing::info!(target: "wayfare_core::session", terminal = %redact(&self.terminal.terminal_id), registration = consent_to_register, "identity step: pseudonym sent");
        Ok(IdentityShared {
            merchant_id,
            pseudonym,
            registration_requested: consent_to_register,
        })
    }

    /// The user declined: tells the terminal and returns its `Done`.
    /// Nothing is paid.
    pub async fn decline(&self, reason: String) -> Result<TerminalDone, WalletError> {
        Ok(self.cancellable(self.decline_inner(reason)).await?)
    }

    /// Aborts whatever this session is waiting for (the call returns
    /// `Cancelled`) and ends the session. Safe to call from any thread, any
    /// number of times.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }
}

impl TerminalSession {
    fn notify_failure(&self, error: &WalletError, will_retry: bool) {
        let request = self.last_request.lock().ok().and_then(|r| r.clone());
        let Some(r) = request else { return };
        let idempotency_key = self
            .inner
            .device()
            .map(|(_, id)| payment_idempotency_key(&id.account_id, &r.terminal_id, &r.order_id))
            .unwrap_or_default();
        let failure = PaymentFailure {
            idempotency_key,
            order_id: r.order_id,
            amount_minor: r.amount_minor,
            currency: r.currency.code().to_string(),
            error: error.to_string(),
            will_retry,
        };
        notify(self.inner.listener(), |l| l.on_payment_failed(failure));
    }
}
