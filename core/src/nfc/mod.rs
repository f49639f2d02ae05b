//! The phone as the contactless card (P5): the app's host card emulation
//! service (Android `HostApduService`) hands every command APDU to
//! [`NfcCard::process_apdu`] and sends back its answer.
//!
//! Once a reader selects Wayfare's AID, its `EXCHANGE` APDUs carry the
//! same framed session as TCP (see `wayfare_protocol::apdu`): the bytes of
//! each command go into an in-memory pipe whose other end is an ordinary
//! [`TerminalSession`]; the answer carries what the phone's side wrote
//! meanwhile. The reader drives the exchange (a card only ever answers),
//! polling with empty commands while the phone has nothing to say. The
//! handshake runs inside the APDU calls, so the core spawns no task; once
//! the terminal is verified the app's [`NfcListener`] gets the session and
//! drives it like one over the LAN. A deselect or a lost field
//! ([`NfcCard::deactivated`]) closes the pipe: the session ends as if the
//! connection dropped, and a payment in flight stays in the outbox.
//!
//! Express taps (`crate::express`): with express on, the `SELECT` answer
//! carries the phone's allowance, and an `EXPRESS` command with a gate's
//! offer is answered with a signed tap (recorded on disk first) or `69 86`,
//! on which the gate runs the session above instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::time::Instant;
use wayfare_protocol::apdu::{CardEvent, CardLink, ResponseApdu, StatusWord};
use wayfare_protocol::framing::{ends_on_frame_boundary, MAX_FRAME_LEN};

use crate::discovery::{establish, TerminalsApi};
use crate::listener::ListenerError;
use crate::session::transport::FramedStream;
use crate::session::{SessionError, TerminalSession};
use crate::wallet::WalletInner;

/// How long one `EXCHANGE` waits for the phone's side to answer before it
/// answers empty (the reader polls again). Well under the few hundred ms an
/// HCE answer may take before readers give up.
const ANSWER_WAIT: Duration = Duration::from_millis(120);
/// Room in the in-memory pipe each way: many session frames.
const PIPE_CAPACITY: usize = 4 * MAX_FRAME_LEN;

type Opening = Pin<Box<dyn Future<Output = Result<TerminalSession, SessionError>> + Send>>;

/// The app's side of an NFC tap. Called from the thread that called
/// `process_apdu`; return quickly (post to the UI or a coroutine).
#[uniffi::export(foreign)]
pub trait NfcListener: Send + Sync {
    /// A reader selected Wayfare and proved it is a genuine terminal of the
    /// operator. Drive `session` while the phone stays in the field: `tap()`
    /// at a gate or tram, `next_payment_request()` then `confirm()` or
    /// `decline()` at a point of sale.
    fn on_session(&self, session: Arc<TerminalSession>) -> Result<(), ListenerError>;
    /// A tap could not start a session (the reader is not a genuine
    /// terminal, or it stopped answering); `reason` is for the person.
    fn on_tap_failed(&self, reason: String) -> Result<(), ListenerError>;
}

/// The card side of NFC taps for one wallet. Get it with
/// `wallet.terminals().nfc_card(listener)` and keep it for the life of the
/// HCE service.
#[derive(uniffi::Object)]
pub struct NfcCard {
    inner: Arc<WalletInner>,
    listener: Arc<dyn NfcListener>,
    card: tokio::sync::Mutex<Card>,
    /// Bumped by `deactivated`: an APDU in flight that sees it change drops
    /// its session instead of keeping it.
    field: AtomicU64,
}

impl std::fmt::Debug for NfcCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NfcCard")
    }
}

/// The APDU link and, while a reader has Wayfare selected, the pipe to the
/// session.
#[derive(Default)]
struct Card {
    link: CardLink,
    pipe: Option<Pipe>,
    field: u64,
}

/// The card's end of the in-memory pipe to one session.
struct Pipe {
    from_phone: ReadHalf<DuplexStream>,
    to_phone: WriteHalf<DuplexStream>,
    /// The handshake, until it completes.
    opening: Option<Opening>,
    /// The phone's side closed its end (the session ended or failed).
    ended: bool,
}

/// What the listener is told once the card's lock is released.
enum Notice {
    Session(Box<TerminalSession>),
    Failed(String),
}

impl NfcCard {
    pub(crate) fn new(inner: Arc<WalletInner>, listener: Arc<dyn NfcListener>) -> Self {
        Self {
            inner,
            listener,
            card: tokio::sync::Mutex::new(Card::default()),
            field: AtomicU64::new(0),
        }
    }

    /// A new session for a reader that just selected Wayfare. With express
    /// taps on and a valid allowance held, the answer carries the
    /// allowance, so a gate can go straight to `EXPRESS`; without an
    /// operator key (never online) only the express tap is possible.
    async fn select(&self, card: &mut Card) -> Vec<u8> {
        let allowance = crate::express::select_data(&self.inner);
        let answer = ResponseApdu {
            data: allowance.clone().unwrap_or_default(),
            status: StatusWord::Ok,
        };
        let operator = match self.inner.operator_key().await {
            Ok(key) => key,
            Err(e) if allowance.is_some() => {
                tracing::warn!(target: "wayfare_core::nfc", error = %e, "no operator key: express tap only");
                return answer.encode();
            }
            Err(e) => {
                tracing::warn!(target: "wayfare_core::nfc", error = %e, "NFC tap refused: no operator key");
                card.link.deselect();
                return ResponseApdu::status(StatusWord::ConditionsNotSatisfied).encode();
            }
        };
        let (phone_end, card_end) = tokio::io::duplex(PIPE_CAPACITY);
        let (from_phone, to_phone) = tokio::io::split(card_end);
        let opening = establish(
            self.inner.clone(),
            FramedStream::new(Box::new(phone_end)),
            operator,
            None,
        );
        card.pipe = Some(Pipe {
            from_phone,
            to_phone,
            opening: Some(Box::pin(opening)),
            ended: false,
        });
        tracing::info!(target: "wayfare_core::nfc", express = allowance.is_some(), "a reader selected Wayfare");
        answer.encode()
    }

    /// Hands the reader's bytes to the session and answers with the
    /// phone's.
    async fn exchange(
        &self,
        card: &mut Card,
        bytes: Vec<u8>,
        notices: &mut Vec<Notice>,
    ) -> Vec<u8> {
        let Some(pipe) = card.pipe.as_mut() else {
            return ResponseApdu::status(StatusWord::ConditionsNotSatisfied).encode();
        };
        if pipe.ended && pipe.opening.is_none() && bytes.is_empty() {
            // The session is over: tell the reader so it stops polling.
            return ResponseApdu::status(StatusWord::ConditionsNotSatisfied).encode();
        }
        if !bytes.is_empty() {
            let written = tokio::time::timeout(ANSWER_WAIT, pipe.to_phone.write_all(&bytes)).await;
            if !matches!(written, Ok(Ok(()))) {
                pipe.ended = true;
            }
        }
        let out = pipe.collect(notices).await;
        card.link.answer(out)
    }
}

impl Pipe {
    /// Gathers what the phone's side writes within [`ANSWER_WAIT`], driving
    /// the handshake meanwhile; returns as soon as whole frames are in.
    async fn collect(&mut self, notices: &mut Vec<Notice>) -> Vec<u8> {
        let deadline = Instant::now() + ANSWER_WAIT;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        while !self.ended && out.len() < MAX_FRAME_LEN {
            if !out.is_empty() && ends_on_frame_boundary(&out) {
                self.drain_ready(&mut out, &mut buf);
                break;
            }
            let room = (MAX_FRAME_LEN - out.len()).min(buf.len());
            let Pipe {
                from_phone,
                opening,
                ended,
                ..
            } = self;
            tokio::select! {
                opened = async {
                    match opening.as_mut() {
                        Some(handshake) => handshake.await,
                        None => std::future::pending().await,
                    }
                }, if opening.is_some() => {
                    *opening = None;
                    notices.push(match opened {
                        Ok(session) => Notice::Session(Box::new(session)),
                        Err(e) => Notice::Failed(crate::error::WalletError::from(e).to_string()),
                    });
                }
                read = tokio::time::timeout_at(deadline, from_phone.read(&mut buf[..room])) => match read {
                    Err(_) => break,
                    Ok(Ok(0)) | Ok(Err(_)) => *ended = true,
                    Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                },
            }
        }
        out
    }

    /// Adds whatever the phone's side has already written, without waiting.
    fn drain_ready(&mut self, out: &mut Vec<u8>, buf: &mut [u8]) {
        while out.len() < MAX_FRAME_LEN {
            let room = (MAX_FRAME_LEN - out.len()).min(buf.len());
            match self.from_phone.read(&mut buf[..room]).now_or_never() {
                Some(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
                Some(_) => {
                    self.ended = true;
                    return;
                }
                None => return,
            }
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl NfcCard {
    /// Answers one command APDU from the reader (ISO/IEC 7816-4): `SELECT`
    /// of Wayfare's AID starts a session (and presents the express
    /// allowance when express taps are on), `EXCHANGE` carries it, `GET
    /// RESPONSE` fetches the rest of a long answer, `EXPRESS` answers a
    /// gate's offer with a signed express tap. Never fails: every refusal
    /// is a status word (`6A 82` another application, `69 85` out of
    /// sequence, `67 00` wrong length, `6D 00` unknown instruction, `69 86`
    /// express tap declined, `6A 80` malformed offer).
    /// Call it for each APDU in turn; a new `SELECT` replaces the session.
    pub async fn process_apdu(&self, command: Vec<u8>) -> Vec<u8> {
        let mut notices = Vec::new();
        let answer = {
            let mut card = self.card.lock().await;
            let field = self.field.load(Ordering::SeqCst);
            if card.field != field {
                *card = Card {
                    field,
                    ..Card::default()
                };
            }
            let answer = match card.link.command(&command) {
                CardEvent::Respond(bytes) => bytes,
                CardEvent::Selected => self.select(&mut card).await,
                CardEvent::Frame(bytes) => self.exchange(&mut card, bytes, &mut notices).await,
                // Signed (or declined: the reader then runs the full session)
                // after the tap is on disk.
                CardEvent::Express(offer) => {
                    crate::express::answer_offer(&self.inner, &offer).await
                }
            };
            if self.field.load(Ordering::SeqCst) != field {
                // The field went while we answered: nobody will read this.
                card.pipe = None;
                notices.clear();
            }
            answer
        };
        for notice in notices {
            let told = match notice {
                Notice::Session(session) => {
                    // The tapped terminal goes first in `watch_nearby` lists.
                    self.inner.nearby.tapped(&session.terminal());
                    self.listener.on_session(Arc::new(*session))
                }
                Notice::Failed(reason) => {
                    tracing::info!(target: "wayfare_core::nfc", reason = %reason, "NFC tap failed");
                    self.listener.on_tap_failed(reason)
                }
            };
            if let Err(e) = told {
                tracing::warn!(target: "wayfare_core::nfc", error = %e, "the NFC listener failed");
            }
        }
        answer
    }

    /// The reader deselected Wayfare or the phone left the field (Android's
    /// `onDeactivated`): the session's connection closes. A payment already
    /// sent stays in the outbox and settles later; nothing is paid twice.
    pub fn deactivated(&self) {
        self.field.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut card) = self.card.try_lock() {
            let field = self.field.load(Ordering::SeqCst);
            *card = Card {
                field,
                ..Card::default()
            };
        }
        tracing::info!(target: "wayfare_core::nfc", "NFC field lost or deselected");
    }
}

#[uniffi::export]
impl TerminalsApi {
    /// The card side of NFC taps (host card emulation): the app's
    /// `HostApduService` passes each APDU to it; `listener` gets each
    /// verified session to drive.
    pub fn nfc_card(&self, listener: Arc<dyn NfcListener>) -> Arc<NfcCard> {
        Arc::new(NfcCard::new(self.inner().clone(), listener))
    }
}

#[cfg(test)]
mod tests;
