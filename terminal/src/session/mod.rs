//! Phone sessions over any byte stream (TCP, NFC through [`crate::nfc`]):
//! one phone at a time (P3.7), the handshake, the payment request, and the
//! verdict on the phone's answer (P3.2–P3.4).
//!
//! Every wait is a cancel-safe `recv` on the frame channel of [`link`],
//! bounded by a timeout, so a misbehaving phone can only end its own
//! session.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio::time::Instant;
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::consent::RegistrationConsent;
use wayfare_protocol::fare::FareContext;
use wayfare_protocol::framing::encode_frame;
use wayfare_protocol::handshake::respond;
use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::{
    Done, DoneOutcome, ErrorBody, ErrorCode, HandshakeMessage, PaymentRequest, SessionMessage,
};
use wayfare_protocol::receipt::Receipt;
use wayfare_protocol::ProtocolError;

pub(crate) mod link;
pub(crate) mod report;
mod resume;
mod tap_in;
mod top_up;
mod verdict;

use verdict::Verdict;

pub(crate) use report::{queue_report, switch_on};

use resume::trip_paid_elsewhere;

use crate::admission::Ticket;
use crate::config::ModeConfig;
use crate::sale::{Sale, SaleState};
use crate::untrusted::{untrusted, Untrusted};
use crate::{confirm, now_ms, tap, tram, Shared};
use link::{frame_of, spawn_reader, Incoming, Peer};

/// Tram: how long the phone's opening messages are awaited before the
/// fare is asked (the core sends them at once; older phones send nothing).
const PENDING_HINT_WAIT_MS: u64 = 300;

/// Longest identity handle accepted.
const MAX_HANDLE_LEN: usize = 64;

/// Why a session ended without a verdict.
#[derive(Debug)]
pub(crate) enum End {
    /// The phone closed the connection.
    Closed,
    /// The phone was silent too long.
    Timeout(&'static str),
    /// The phone broke the protocol (bad, tampered, replayed or oversized frame).
    Protocol(String),
    /// The phone reported an error and gave up.
    Phone(String),
    /// The socket failed.
    Io(String),
    /// The terminal is stopping.
    Shutdown,
    /// The phone completed the handshake while another phone held the
    /// terminal; it was told `Busy` (P3.7).
    Busy,
    /// Something on our side failed.
    Internal(String),
}

impl End {
    /// The phone gave up with `message`, which is made safe to log and
    /// report (see [`crate::untrusted`]).
    pub(crate) fn phone(message: &str) -> Self {
        End::Phone(untrusted(message))
    }
}

impl From<ProtocolError> for End {
    fn from(e: ProtocolError) -> Self {
        End::Protocol(e.to_string())
    }
}

pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    peer: Peer,
    rx: mpsc::Receiver<Incoming>,
    writer: Box<dyn AsyncWrite + Send + Sync + Unpin>,
    channel: Option<SecureChannel>,
    pub(crate) handle: Option<String>,
    /// Whether a registration consent was forwarded (one per session).
    consent_forwarded: bool,
    step: Duration,
    /// This session's hold on the terminal (one phone at a time). Released
    /// once the verdict is recorded, so the next phone is not told `Busy`
    /// while this session says goodbye and files its report.
    pub(crate) slot: Option<OwnedSemaphorePermit>,
    /// This connection's place among those in the handshake (capped per
    /// peer); given back once the handshake is over.
    ticket: Option<Ticket>,
    /// The payment request this session sent, once sent: from then on the
    /// phone may have paid, so an ending without a verdict leaves the sale
    /// in doubt, never declined.
    offered: Option<PaymentRequest>,
    /// This session offers an order that was already in doubt (a phone
    /// reconnecting for it): it settles the order only if it claims it
    /// before the resolver does.
    resumed_in_doubt: bool,
}

/// Serves one admitted connection: the handshake (holding only `ticket`,
/// a place among the TCP connections in the handshake; an NFC tap has
/// none: the reader admits one card at a time), then, with the terminal
/// taken, the session.
pub(crate) async fn serve<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: Peer,
    ticket: Option<Ticket>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Send + Sync + 'static,
{
    let (read, writer) = tokio::io::split(stream);
    let (rx, reader) = spawn_reader(read);
    let step = Duration::from_millis(shared.config.timeouts.step_ms);
    let mut session = Session {
        shared,
        peer,
        rx,
        writer: Box::new(writer),
        channel: None,
        handle: None,
        consent_forwarded: false,
        step,
        slot: None,
        ticket,
        offered: None,
        resumed_in_doubt: false,
    };
    tracing::debug!(%peer, "phone connection accepted");
    match session.run(&mut shutdown).await {
        Ok(()) => tracing::info!(%peer, "session finished"),
        Err(End::Closed) => tracing::info!(%peer, "session ended: the phone disconnected"),
        Err(End::Timeout(what)) => tracing::warn!(%peer, "session ended: timed out {what}"),
        Err(End::Protocol(e)) => {
            // Decoder errors may quote the phone's bytes.
            tracing::warn!(%peer, error = %Untrusted(&e), "session ended: protocol error");
            session
                .tell_error(ErrorCode::Protocol, "protocol error")
                .await;
        }
        // Already made safe by `End::phone`.
        Err(End::Phone(e)) => {
            tracing::info!(%peer, message = %e, "session ended: the phone reported an error")
        }
        Err(End::Busy) => {
            tracing::info!(%peer, "answered Busy: another phone is being served")
        }
        Err(End::Io(e)) => tracing::warn!(%peer, error = %e, "session ended: connection failed"),
        Err(End::Shutdown) => tracing::info!(%peer, "session ended: terminal shutting down"),
        Err(End::Internal(e)) => {
            tracing::error!(%peer, error = %e, "session ended: internal error");
            session
                .tell_error(ErrorCode::Internal, "the terminal failed; try again")
                .await;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), session.writer.shutdown()).await;
    reader.abort();
}

impl Session {
    async fn write_frame(&mut self, payload: &[u8]) -> Result<(), End> {
        let frame = encode_frame(payload)?;
        match tokio::time::timeout(self.step, self.writer.write_all(&frame)).await {
            Err(_) => Err(End::Timeout("writing to the phone")),
            Ok(Err(e)) => Err(End::Io(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }

    pub(crate) async fn send(&mut self, message: &SessionMessage) -> Result<(), End> {
        let channel = self
            .channel
            .as_mut()
            .ok_or_else(|| End::Internal("no session channel".into()))?;
        let sealed = channel.seal(message)?;
        self.write_frame(&sealed).await
    }

    /// Best-effort error message to the phone before closing.
    async fn tell_error(&mut self, code: ErrorCode, message: &str) {
        let body = ErrorBody {
            code,
            message: message.to_string(),
        };
        let _ = if self.channel.is_some() {
            self.send(&SessionMessage::Error(body)).await
        } else {
            match HandshakeMessage::Error(body).encode() {
                Ok(bytes) => self.write_frame(&bytes).await,
                Err(e) => Err(e.into()),
            }
        };
    }

    pub(crate) async fn next_frame(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Vec<u8>, End> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_) => Err(End::Timeout(what)),
            Ok(incoming) => frame_of(incoming),
        }
    }

    pub(crate) fn open(&mut self, frame: &[u8]) -> Result<SessionMessage, End> {
        let channel = self
            .channel
            .as_mut()
            .ok_or_else(|| End::Internal("no session channel".into()))?;
        channel
            .open(frame)
            .map_err(|e| End::Protocol(format!("bad frame from the phone: {e}")))
    }

    /// Forwards the rider's consent to be registered with the platform
    /// (P3.5), if it follows the identity step and names this terminal, its
    /// merchant and the pseudonym just sent. The control center verifies
    /// the device signature; the session does not wait for it.
    pub(crate) fn note_consent(&mut self, consent: RegistrationConsent) {
        if self.consent_forwarded {
            tracing::warn!(peer = %self.peer, "ignoring a second registration consent in one session");
            return;
        }
        let cert = &self.shared.identity.body;
        let checked = consent.peek().and_then(|body| {
            body.check_at(&cert.merchant_id, &cert.terminal_id)?;
            if self.handle.as_deref() != Some(body.pseudonym.as_str()) {
                return Err(ProtocolError::InvalidField {
                    field: "consent.pseudonym",
                    reason: "not the pseudonym of this session's identity step".into(),
                });
            }
            Ok(body)
        });
        if let Err(e) = checked {
            tracing::warn!(peer = %self.peer, error = %Untrusted(&e.to_string()), "ignoring a registration consent");
            return;
        }
        self.consent_forwarded = true;
        let platform = self.shared.platform.clone();
        let peer = self.peer;
        tokio::spawn(async move {
            match platform.register_rider(&consent).await {
                Ok(id) => {
                    tracing::info!(%peer, registration = %redact(&id), "rider registered with the platform (P3.5)")
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %Untrusted(&e.to_string()), "the platform refused or missed a rider registration")
                }
            }
        });
    }

    /// Keeps the pseudonym the phone sent in the identity step (P3.5) if it
    /// is a plain token (letters, digits, `-_.:=`, at most
    /// [`MAX_HANDLE_LEN`]; phones send `pn_…`, older ones their handle): it
    /// goes into reports, so nothing else a phone chooses is kept.
    pub(crate) fn note_identity(&mut self, handle: String) {
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:=".contains(c);
        if handle.is_empty() || handle.len() > MAX_HANDLE_LEN || !handle.chars().all(plain) {
            tracing::warn!(peer = %self.peer, "ignoring an identity handle that is empty, overlong or not a plain token");
            return;
        }
        tracing::info!(peer = %self.peer, handle = %redact(&handle), "phone identified its account (P3.5)");
        self.handle = Some(handle);
    }

    /// Handles a message that may arrive at any time before the verdict;
    /// anything else is returned.
    fn side_message(&mut self, message: SessionMessage) -> Result<Option<SessionMessage>, End> {
        match message {
            SessionMessage::Identity { handle } => {
                self.note_identity(handle);
                Ok(None)
            }
            SessionMessage::Consent { consent } => {
                self.note_consent(consent);
                Ok(None)
            }
            SessionMessage::TapIn { .. } => {
                tracing::debug!(peer = %self.peer, "ignoring a tap-in token: this terminal charges flat fares");
                Ok(None)
            }
            SessionMessage::Error(body) => Err(End::phone(&body.message)),
            // The reason goes into the log, the report and the sale's
            // outcome: only its safe form is kept.
            SessionMessage::Decline { reason } => Ok(Some(SessionMessage::Decline {
                reason: untrusted(&reason),
            })),
            other => Ok(Some(other)),
        }
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        let shared = self.shared.clone();
        let timeouts = &shared.config.timeouts;

        // 1. Handshake, within `handshake_ms` of the connection. Until it is
        // complete this connection does not hold the terminal: a connection
        // that stays silent or stops mid-frame cannot make phones `Busy`.
        let deadline = Instant::now() + Duration::from_millis(timeouts.handshake_ms);
        let frame = tokio::select! {
            frame = self.next_frame(deadline, "waiting for the phone's hello") => frame?,
            _ = shutdown.wait_for(|s| *s) => return Err(End::Shutdown),
        };
        let hello = match HandshakeMessage::decode(&frame)? {
            HandshakeMessage::ClientHello(hello) => hello,
            _ => return Err(End::Protocol("expected a ClientHello".into())),
        };
        let identity = &shared.identity;
        let (reply, channel) = match respond(&hello, &identity.key, &identity.certificate) {
            Ok(ok) => ok,
            Err(e @ ProtocolError::UnsupportedVersion(_)) => {
                self.tell_error(ErrorCode::Version, &e.to_string()).await;
                return Err(End::Protocol(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        // The handshake is complete: take the terminal, or tell the phone
        // it is busy in place of `TerminalHello` (phones read either).
        let answer = match shared.slot.clone().try_acquire_owned() {
            Ok(slot) => {
                self.slot = Some(slot);
                self.ticket.take();
                HandshakeMessage::TerminalHello(reply)
            }
            Err(_) => HandshakeMessage::Busy {
                retry_after_ms: timeouts.busy_retry_after_ms,
            },
        };
        let busy = self.slot.is_none();
        match tokio::time::timeout_at(deadline, self.write_frame(&answer.encode()?)).await {
            Err(_) => return Err(End::Timeout("answering the phone's hello")),
            Ok(written) => written?,
        }
        if busy {
            return Err(End::Busy);
        }
        self.channel = Some(channel);
        shared.sessions_served.fetch_add(1, Ordering::SeqCst);
        tracing::info!(peer = %self.peer, "phone connected: session keys established");

        // 2. The order: a flat fare now, the next POS sale, or for
        // tap-in/tap-out an entry (token, no charge) or a priced exit.
        let mut honoured_token = None;
        let (sale, fare) = match &shared.config.mode {
            ModeConfig::Tram(t) => {
                // A phone whose earlier fare here is in doubt names it first:
                // it gets that order again, not a second fare.
                let resumed = self
                    .pending_hint()
                    .await?
                    .and_then(|order| shared.in_doubt.get(&order));
                match resumed {
                    Some(held) => (held.sale, held.request.fare),
                    None => {
                        // Where the tram is at this tap, not at start-up.
                        let at = shared.position_now().ok_or_else(|| {
                            End::Internal("a tram terminal without a position".into())
                        })?;
                        (
                            tram::fare_sale(t, &at).map_err(|e| End::Internal(e.to_string()))?,
                            Some(tram::fare_context(t, &at)),
                        )
                    }
                }
            }
            ModeConfig::Pos(_) => (self.wait_for_sale(shutdown).await?, None),
            ModeConfig::TopUp(_) => return self.top_up(shutdown).await,
            ModeConfig::TapInOut(t) => {
                let token = self.await_tap_in(t).await?;
                let check = tap::check_token(
                    token.as_ref(),
                    t,
                    &shared.config.operator_key,
                    &shared.identity.body.merchant_id,
                    &shared.used_tokens,
                    now_ms(),
                );
                match tap::plan(t, check, now_ms()).map_err(|e| End::Internal(e.to_string()))? {
                    tap::Plan::Entry => return self.tap_entry(t).await,
                    tap::Plan::Exit { sale, fare, token } => {
                        // A rider tapping again after an unknown outcome
                        // finishes the same order (same instruction).
                        let held = token
                            .as_ref()
                            .and_then(|(id, _)| shared.in_doubt.by_token(id));
                        match held {
                            Some(held) => {
                                honoured_token = held.token.clone();
                                (held.sale, held.request.fare)
                            }
                            None => {
                                honoured_token = token;
                                (sale, Some(fare))
                            }
                        }
                    }
                }
            }
        };

        // 3–4. Request and verdict. The outcome is recorded before the
        // phone hears it, so anyone polling the terminal after `Done` sees it.
        // An order already in doubt is offered again unchanged.
        let held = shared.in_doubt.get(&sale.order_id);
        self.resumed_in_doubt = held.is_some();
        let resent = held.as_ref().map(|h| h.request.clone());
        match self.pay(&sale, fare.clone(), resent).await {
            Ok(verdict) if verdict.state == SaleState::InDoubt => {
                self.slot.take();
                self.keep_in_doubt(
                    &sale,
                    honoured_token.clone(),
                    verdict.payment_id.clone(),
                    &verdict.detail,
                )
                .await;
                self.done(DoneOutcome::InDoubt, &verdict.message).await;
                self.report(&sale, fare, verdict.report_kind, None, &verdict.detail)
                    .await;
                Ok(())
            }
            Ok(verdict) if held.is_some() && verdict.state != SaleState::Accepted => {
                // A reconnecting phone that declines, or whose new attempt
                // fails, does not settle an order it may already have paid.
                shared.sales.release(&sale.order_id, now_ms());
                self.slot.take();
                match verdict.reply {
                    Some(outcome) => self.done(outcome, &verdict.message).await,
                    None => {
                        self.tell_error(
                            ErrorCode::Expired,
                            "this sale is being settled with the payment server",
                        )
                        .await
                    }
                }
                Ok(())
            }
            Ok(verdict) => {
                if verdict.settled_elsewhere {
                    self.slot.take();
                    if let Some(outcome) = verdict.reply {
                        self.done(outcome, &verdict.message).await;
                    }
                    return Ok(());
                }
                if let (SaleState::Accepted, Some((id, expires))) = (verdict.state, &honoured_token)
                {
                    if let Err(e) = shared.used_tokens.remember(id, *expires).await {
                        tracing::error!(error = %e, "cannot record the used tap-in token");
                    }
                }
                shared.sales.finish(
                    &sale,
                    verdict.state,
                    verdict.payment_id.clone(),
                    &verdict.message,
                    now_ms(),
                );
                shared.record_last_outcome(&sale.order_id);
                tracing::info!(
                    peer = %self.peer,
                    order = %redact(&sale.order_id),
                    outcome = verdict.report_kind,
                    detail = %verdict.detail,
                    "session verdict"
                );
                // Free the terminal before the phone hears the verdict: a
                // phone that reconnects right after `Done` is not `Busy`.
                self.slot.take();
                match verdict.reply {
                    Some(outcome) => self.done(outcome, &verdict.message).await,
                    None => {
                        self.tell_error(
                            ErrorCode::Expired,
                            "the payment request expired; tap again to retry",
                        )
                        .await
                    }
                }
                self.report(
                    &sale,
                    fare,
                    verdict.report_kind,
                    verdict.payment_id,
                    &verdict.detail,
                )
                .await;
                Ok(())
            }
            Err(end) if self.offered.is_some() => {
                // The phone had the request: it may have paid. Unknown is
                // never a decline.
                let detail = format!("session ended after the payment request was sent: {end:?}");
                self.keep_in_doubt(&sale, honoured_token.clone(), None, &detail)
                    .await;
                self.report(&sale, fare, "payment_in_doubt", None, &detail)
                    .await;
                Err(end)
            }
            Err(end) => {
                if matches!(shared.config.mode, ModeConfig::Pos(_)) {
                    shared.sales.release(&sale.order_id, now_ms());
                }
                let detail = format!("session ended before an answer: {end:?}");
                self.report(&sale, fare, "session_abandoned", None, &detail)
                    .await;
                Err(end)
            }
        }
    }

    /// POS: waits for a sale while the phone stays connected.
    async fn wait_for_sale(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<Sale, End> {
        enum Event {
            Sale(Sale),
            Incoming(Option<Incoming>),
            TimedOut,
            Shutdown,
        }
        let shared = self.shared.clone();
        let deadline = Instant::now() + Duration::from_millis(shared.config.timeouts.sale_wait_ms);
        tracing::info!(peer = %self.peer, "waiting for a sale to be entered");
        loop {
            let event = tokio::select! {
                sale = shared.sales.take() => Event::Sale(sale),
                incoming = self.rx.recv() => Event::Incoming(incoming),
                _ = tokio::time::sleep_until(deadline) => Event::TimedOut,
                _ = shutdown.wait_for(|s| *s) => Event::Shutdown,
            };
            match event {
                Event::Sale(sale) => return Ok(sale),
                Event::Incoming(incoming) => {
                    let frame = frame_of(incoming)?;
                    let message = self.open(&frame)?;
                    if let Some(other) = self.side_message(message)? {
                        return Err(End::Protocol(format!(
                            "unexpected {} before the payment request",
                            message_name(&other)
                        )));
                    }
                }
                Event::TimedOut => {
                    self.tell_error(ErrorCode::Expired, "no sale was entered in time")
                        .await;
                    return Err(End::Timeout("waiting for a sale"));
                }
                Event::Shutdown => {
                    self.tell_error(ErrorCode::Internal, "the terminal is shutting down")
                        .await;
                    return Err(End::Shutdown);
                }
            }
        }
    }
}

pub(crate) fn message_name(message: &SessionMessage) -> &'static str {
    match message {
        SessionMessage::Identity { .. } => "Identity",
        SessionMessage::Consent { .. } => "Consent",
        SessionMessage::TapIn { .. } => "TapIn",
        SessionMessage::TapInIssued { .. } => "TapInIssued",
        SessionMessage::TapInAccepted { .. } => "TapInAccepted",
        SessionMessage::PaymentRequest(_) => "PaymentRequest",
        SessionMessage::Decline { .. } => "Decline",
        SessionMessage::PaymentPending { .. } => "PaymentPending",
        SessionMessage::Receipt { .. } => "Receipt",
        SessionMessage::TopUpOffer { .. } => "TopUpOffer",
        SessionMessage::TopUpReceipt { .. } => "TopUpReceipt",
        SessionMessage::Done(_) => "Done",
        SessionMessage::Error(_) => "Error",
    }
}
