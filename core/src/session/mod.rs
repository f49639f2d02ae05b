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
pub(crate) mod types;

use wayfare_protocol::messages::ErrorCode;
use wayfare_protocol::ProtocolError;

use crate::error::WalletError;
use crate::payments::PaymentError;

pub use identity::IdentityShared;
pub use terminal_session::TerminalSession;
pub use top_up::{TopUpOfferInfo, TopUpOutcome};
pub use types::{DoneKind, FareInfo, PaymentRequestInfo, TerminalDone, TerminalInfo};

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

#[cfg(test)]
mod tests;
