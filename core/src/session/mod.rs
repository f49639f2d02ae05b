//! Terminal sessions: framing over TCP ([`transport`]), the handshake
//! ([`handshake`]) and the `TerminalSession` object ([`terminal_session`]).

pub(crate) mod handshake;
pub(crate) mod identity;
mod link;
mod recovery;
pub(crate) mod tap_in;
pub(crate) mod terminal_session;
pub(crate) mod top_up;
pub(crate) mod transport;

use wayfare_protocol::certificate::CertificateBody;
use wayfare_protocol::messages::{Done, DoneOutcome, ErrorCode, PaymentRequest};
use wayfare_protocol::ProtocolError;

use crate::account::format_amount;
use crate::discovery::TerminalKind;
use crate::error::WalletError;
use crate::payments::PaymentError;

pub use identity::IdentityShared;
pub use terminal_session::TerminalSession;
pub use top_up::{TopUpOfferInfo, TopUpOutcome};

/// What can go wrong in a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// The TCP connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// The connection failed mid-session.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame or message was invalid, or the channel check failed.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The terminal is serving another phone.
    #[error("terminal busy (retry after {retry_after_ms} ms)")]
    Busy {
        /// Hint from the terminal.
        retry_after_ms: u64,
    },
    /// The terminal's certificate or signature did not verify.
    #[error("untrusted terminal: {0}")]
    Untrusted(ProtocolError),
    /// The terminal closed the connection.
    #[error("the terminal closed the connection")]
    Closed,
    /// The terminal did not answer in time.
    #[error("the terminal did not answer within {0} s")]
    Timeout(u64),
    /// The terminal reported an error.
    #[error("the terminal reported an error ({code:?}): {reason}")]
    Terminal {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        reason: String,
    },
    /// A message arrived that makes no sense at this point.
    #[error("unexpected message from the terminal: {0}")]
    Unexpected(&'static str),
    /// The call does not fit the session's state.
    #[error("{0}")]
    WrongState(&'static str),
    /// The request does not match the terminal's certificate.
    #[error("the payment request does not match the terminal: {0}")]
    Mismatch(&'static str),
    /// The payment completed but the terminal did not acknowledge it.
    #[error("the payment completed (payment {payment_id}, receipt stored) but the terminal did not acknowledge it: {reason}")]
    Unacknowledged {
        /// The completed payment (redacted).
        payment_id: String,
        /// What happened.
        reason: String,
    },
    /// The terminal refused after payment.
    #[error("refused: {reason}")]
    Refused {
        /// The terminal's message.
        reason: String,
    },
    /// The payment failed.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// `cancel()` was called.
    #[error("cancelled")]
    Cancelled,
    /// The terminal recorded an entry instead of asking for a payment: the
    /// phone now holds its tap-in token (see `TerminalSession::tap`).
    #[error("no payment: the terminal recorded a tap-in at {station} ({message}); the token is kept for the exit")]
    TappedIn {
        /// Boarding station.
        station: String,
        /// Line.
        line: String,
        /// When the token stops being honoured (Unix ms).
        expires_at_ms: u64,
        /// The terminal's message.
        message: String,
    },
    /// A top_up terminal offered a verified top-up instead of asking for a
    /// payment (see `TerminalSession::tap` and `next_top_up_offer`).
    #[error("no payment: the terminal offers a top-up of {} {}; accept_top_up() or decline_top_up()", .0.formatted_amount, .0.currency)]
    TopUpOffered(Box<TopUpOfferInfo>),
}

impl From<SessionError> for WalletError {
    fn from(e: SessionError) -> Self {
        tracing::info!(target: "wayfare_core::session", error = %e, "session ended with an error");
        match e {
            SessionError::Busy { .. } => WalletError::TerminalBusy,
            SessionError::Untrusted(e) => WalletError::TerminalUntrusted {
                reason: e.to_string(),
            },
            SessionError::Connect(e) => WalletError::TerminalUnreachable {
                reason: e.to_string(),
            },
            SessionError::Cancelled => WalletError::Cancelled,
            SessionError::Payment(p) => p.into(),
            SessionError::Refused { reason } => WalletError::TerminalRefused { reason },
            other @ (SessionError::Io(_)
            | SessionError::Protocol(_)
            | SessionError::Closed
            | SessionError::Timeout(_)
            | SessionError::Terminal { .. }
            | SessionError::Unexpected(_)
            | SessionError::WrongState(_)
            | SessionError::Mismatch(_)
            | SessionError::Unacknowledged { .. }
            | SessionError::TappedIn { .. }
            | SessionError::TopUpOffered(_)) => WalletError::SessionFailed {
                reason: other.to_string(),
            },
        }
    }
}

/// The verified identity of the terminal a session is connected to (from
/// its operator-issued certificate).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TerminalInfo {
    /// Terminal id.
    pub terminal_id: String,
    /// Merchant (or transit operator) id.
    pub merchant_id: String,
    /// Merchant name to show.
    pub merchant_name: String,
    /// Terminal kind.
    pub kind: TerminalKind,
    /// End of the certificate's validity (Unix ms).
    pub certificate_valid_until_ms: u64,
    /// Short id of the terminal key, for support.
    pub key_id: String,
}

impl From<&CertificateBody> for TerminalInfo {
    fn from(c: &CertificateBody) -> Self {
        Self {
            terminal_id: c.terminal_id.clone(),
            merchant_id: c.merchant_id.clone(),
            merchant_name: c.merchant_name.clone(),
            kind: c.kind.into(),
            certificate_valid_until_ms: c.not_after_ms,
            key_id: c.terminal_key.key_id(),
        }
    }
}

/// Transit context of a request (tram and gate terminals).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FareInfo {
    /// How the fare was derived: `flat`, `tap_out` or `maximum_fare`.
    pub mode: String,
    /// Line, e.g. "T1".
    pub line: String,
    /// Vehicle, e.g. "tram 1207".
    pub vehicle: String,
    /// Terminus the vehicle comes from.
    pub direction_from: String,
    /// Terminus the vehicle heads to.
    pub direction_towards: String,
    /// Station of this payment.
    pub station: String,
    /// Boarding station, for a tap-out charge.
    pub entry_station: Option<String>,
    /// Boarding time (Unix ms), for a tap-out charge.
    pub entry_at_ms: Option<u64>,
}

/// A terminal's payment request, to show to the user before they confirm.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentRequestInfo {
    /// The terminal's order id.
    pub order_id: String,
    /// Merchant id.
    pub merchant_id: String,
    /// Merchant name.
    pub merchant_name: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted amount, e.g. `¥2.00`.
    pub formatted_amount: String,
    /// What is paid for.
    pub description: String,
    /// Transit context, if any.
    pub fare: Option<FareInfo>,
    /// When the terminal made the request (Unix ms).
    pub created_at_ms: u64,
    /// After this time the payment is refused (Unix ms).
    pub expires_at_ms: u64,
}

impl From<&PaymentRequest> for PaymentRequestInfo {
    fn from(r: &PaymentRequest) -> Self {
        let amount = i64::try_from(r.amount_minor).unwrap_or(i64::MAX);
        Self {
            order_id: r.order_id.clone(),
            merchant_id: r.merchant_id.clone(),
            merchant_name: r.merchant_name.clone(),
            terminal_id: r.terminal_id.clone(),
            amount_minor: r.amount_minor,
            currency: r.currency.code().to_string(),
            formatted_amount: format_amount(r.currency.code(), amount),
            description: r.description.clone(),
            fare: r.fare.as_ref().map(|f| FareInfo {
                mode: match f.mode {
                    wayfare_protocol::fare::FareMode::Flat => "flat",
                    wayfare_protocol::fare::FareMode::TapOut => "tap_out",
                    wayfare_protocol::fare::FareMode::MaximumFare => "maximum_fare",
                    wayfare_protocol::fare::FareMode::TapIn => "tap_in",
                }
                .to_string(),
                line: f.line.clone(),
                vehicle: f.vehicle.clone(),
                direction_from: f.direction.from.clone(),
                direction_towards: f.direction.towards.clone(),
                station: f.station.clone(),
                entry_station: f.entry.as_ref().map(|e| e.station.clone()),
                entry_at_ms: f.entry.as_ref().map(|e| e.at_ms),
            }),
            created_at_ms: r.created_at_ms,
            expires_at_ms: r.expires_at_ms,
        }
    }
}

/// How the terminal ended the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DoneKind {
    /// Payment confirmed; the linkage device (gate, printer) was switched on.
    Accepted,
    /// Payment not confirmed; the linkage device stays off.
    Refused,
    /// The session was cancelled (the user declined); nothing happened.
    Cancelled,
    /// The phone could not learn the payment's outcome; the terminal keeps
    /// the sale in doubt and settles it with the platform (never charged
    /// twice; tapping again finishes the same order).
    InDoubt,
}

/// The terminal's closing message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TerminalDone {
    /// The outcome.
    pub outcome: DoneKind,
    /// The terminal's explanation, e.g. "Gate opened".
    pub message: String,
}

impl From<Done> for TerminalDone {
    fn from(d: Done) -> Self {
        Self {
            outcome: match d.outcome {
                DoneOutcome::Accepted => DoneKind::Accepted,
                DoneOutcome::Refused => DoneKind::Refused,
                DoneOutcome::Cancelled => DoneKind::Cancelled,
                DoneOutcome::InDoubt => DoneKind::InDoubt,
            },
            message: d.message,
        }
    }
}

#[cfg(test)]
mod tests;
