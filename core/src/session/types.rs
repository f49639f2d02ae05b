//! What a session shows the app: the verified terminal, its payment request
//! and its closing message. A leaf, so that payments and the app's
//! listeners can name them without importing the session.

use wayfare_protocol::certificate::CertificateBody;
use wayfare_protocol::messages::{Done, DoneOutcome, PaymentRequest};

use crate::amount::format_amount;
use crate::discovery::types::TerminalKind;

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
