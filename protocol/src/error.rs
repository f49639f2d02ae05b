//! The one error type of the protocol crate.

use thiserror::Error;

/// Everything that can go wrong while decoding, verifying or decrypting
/// protocol data. Each variant names the problem precisely so that callers
/// can map it to an actionable message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The bytes are not valid CBOR for the expected message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A frame announced a length above the maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// Maximum allowed length.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({have} of {need} bytes)")]
    Truncated {
        /// Bytes received.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The peer speaks a protocol version we do not.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// A signature did not verify against the expected key.
    #[error("signature does not verify ({0})")]
    BadSignature(&'static str),
    /// A signed object was signed with a key we do not trust for it.
    #[error("signed by an unknown key ({0})")]
    UnknownSigner(&'static str),
    /// A certificate or token is outside its validity period.
    #[error("{what} expired at {expired_at_ms} (now {now_ms})")]
    Expired {
        /// What expired.
        what: &'static str,
        /// When it expired.
        expired_at_ms: u64,
        /// The time of the check.
        now_ms: u64,
    },
    /// A certificate or token is not valid yet.
    #[error("{what} not valid before {valid_from_ms} (now {now_ms})")]
    NotYetValid {
        /// What is not valid yet.
        what: &'static str,
        /// Start of validity.
        valid_from_ms: u64,
        /// The time of the check.
        now_ms: u64,
    },
    /// An encrypted frame failed authentication: it was modified in transit
    /// or encrypted under another key.
    #[error("encrypted frame failed authentication (tampered or wrong key)")]
    Tampered,
    /// An encrypted frame carries a counter we already accepted.
    #[error("replayed frame: counter {got}, expected {expected}")]
    Replayed {
        /// Counter the receiver expected.
        expected: u64,
        /// Counter the frame carried.
        got: u64,
    },
    /// An encrypted frame skipped ahead: frames were lost or reordered.
    #[error("out-of-order frame: counter {got}, expected {expected}")]
    Reordered {
        /// Counter the receiver expected.
        expected: u64,
        /// Counter the frame carried.
        got: u64,
    },
    /// The counter space of a session is exhausted.
    #[error("session counter exhausted")]
    CounterExhausted,
    /// An amount is zero, negative or above the maximum.
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// A currency code is not one we support.
    #[error("unsupported currency {0:?}: use one of CNY, EUR, USD, GBP, JPY, HKD, CHF")]
    InvalidCurrency(String),
    /// A key has the wrong length or encoding.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A field has a value the protocol does not allow.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The system random generator failed (should never happen).
    #[error("random generator failure")]
    Random,
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ProtocolError>;
