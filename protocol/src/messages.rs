//! Messages exchanged between a phone and an access terminal.
//!
//! Two layers: [`HandshakeMessage`]s travel in clear CBOR frames until the
//! session keys exist; [`SessionMessage`]s travel inside the encrypted
//! channel afterwards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::{from_cbor, to_cbor};
use crate::consent::RegistrationConsent;
use crate::error::{ProtocolError, Result};
use crate::money::Currency;
use crate::receipt::Receipt;
use crate::tap_in::TapInToken;

pub use crate::payment_request::PaymentRequest;
pub use crate::terminal_kind::TerminalKind;

/// What a terminal broadcasts so phones can show it before connecting (P3.1).
/// Carried in mDNS TXT records, BLE advertisements and NFC select responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    /// Protocol version.
    pub version: u16,
    /// Terminal identifier (matches its certificate).
    pub terminal_id: String,
    /// Merchant name shown to the user.
    pub merchant_name: String,
    /// Terminal kind.
    pub kind: TerminalKind,
}

impl Beacon {
    /// TXT record properties for DNS-SD advertisement.
    pub fn to_txt_properties(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("v".to_string(), self.version.to_string()),
            ("tid".to_string(), self.terminal_id.clone()),
            ("name".to_string(), self.merchant_name.clone()),
            ("kind".to_string(), self.kind.as_str().to_string()),
        ])
    }

    /// Parses TXT record properties; missing or bad fields are errors.
    pub fn from_txt_properties(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let field = |name: &'static str| {
            get(name).ok_or(ProtocolError::InvalidField {
                field: name,
                reason: "missing from TXT record".into(),
            })
        };
        let version = field("v")?
            .parse::<u16>()
            .map_err(|_| ProtocolError::InvalidField {
                field: "v",
                reason: "not a number".into(),
            })?;
        Ok(Self {
            version,
            terminal_id: field("tid")?,
            merchant_name: field("name")?,
            kind: TerminalKind::parse(&field("kind")?)?,
        })
    }
}

/// The phone's opening message: its ephemeral X25519 key and a nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    /// Protocol version.
    pub version: u16,
    /// Ephemeral X25519 public key (32 bytes).
    #[serde(with = "serde_bytes")]
    pub ephemeral_key: Vec<u8>,
    /// Fresh random nonce (16 bytes).
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
}

/// The terminal's answer: its ephemeral key, its certificate and its
/// signature over the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalHello {
    /// Protocol version.
    pub version: u16,
    /// Ephemeral X25519 public key (32 bytes).
    #[serde(with = "serde_bytes")]
    pub ephemeral_key: Vec<u8>,
    /// Fresh random nonce (16 bytes).
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    /// The operator-issued certificate.
    pub certificate: crate::certificate::TerminalCertificate,
    /// Ed25519 signature by the terminal key over the transcript hash.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Cleartext messages before the session keys exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeMessage {
    /// Phone → terminal.
    ClientHello(ClientHello),
    /// Terminal → phone.
    TerminalHello(TerminalHello),
    /// Terminal → phone: another phone is being served (P3.7).
    Busy {
        /// A hint for when to try again.
        retry_after_ms: u64,
    },
    /// Either side: the handshake cannot go on.
    Error(ErrorBody),
}

impl HandshakeMessage {
    /// CBOR bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_cbor(self)
    }
    /// Parses CBOR bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        from_cbor(bytes)
    }
}

/// How a session ended from the terminal's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneOutcome {
    /// Payment confirmed; the linkage device was switched on.
    Accepted,
    /// Payment not confirmed; the linkage device stays off.
    Refused,
    /// The user declined; nothing happened.
    Cancelled,
    /// The phone could not learn whether the payment server committed the
    /// payment. The terminal keeps the sale in doubt (never declined) and
    /// settles it with the platform before the request expires; the same
    /// order is offered again if the phone reconnects.
    InDoubt,
}

/// The terminal's closing message (P3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// The outcome.
    pub outcome: DoneOutcome,
    /// A human-readable explanation, e.g. "Gate opened".
    pub message: String,
}

/// Stable error codes sent between phone and terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Protocol violation or undecodable message.
    Protocol,
    /// Unsupported version.
    Version,
    /// The request expired before it was paid.
    Expired,
    /// The receipt did not verify or did not match the request.
    BadReceipt,
    /// The platform did not confirm the payment.
    NotConfirmed,
    /// The terminal is misconfigured or failing.
    Internal,
}

/// An error report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

/// Messages inside the encrypted session.
// A handful of these exist per session, each encoded once: boxing the large
// request would only add an allocation and noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionMessage {
    /// Phone → terminal (optional, P3.5), only when the rider asks for it:
    /// the rider's pseudonym for this terminal's merchant (unlinkable
    /// across merchants; never the account id or a phone number, P2). With
    /// the rider's consent to registration, a [`SessionMessage::Consent`]
    /// follows.
    ///
    /// The field keeps its first name, `handle`, so terminals deployed
    /// before pseudonyms still read it.
    Identity {
        /// The per-merchant pseudonym (`pn_…`, see [`crate::consent`]).
        handle: String,
    },
    /// Phone → terminal (optional, P3.5), right after `Identity` and only
    /// with the rider's consent: the device-signed consent for this
    /// terminal to register the rider, under the pseudonym just sent, with
    /// its merchant's platform. The terminal forwards it to the control
    /// center, which verifies it.
    Consent {
        /// The signed consent.
        consent: RegistrationConsent,
    },
    /// Phone → terminal: a tap-in token held from the entry terminal.
    TapIn {
        /// The token, if the phone holds one for this line.
        token: Option<TapInToken>,
    },
    /// Terminal → phone: entry recorded, keep this token for the exit.
    /// The gate opens once the phone acknowledges it (`TapInAccepted`).
    TapInIssued {
        /// The signed token.
        token: TapInToken,
        /// What an incomplete journey from this entry costs (the table's
        /// maximum fare), in minor units of `currency`.
        maximum_fare_minor: u64,
        /// Currency of the fare.
        currency: Currency,
    },
    /// Phone → terminal: the rider's device-signed acknowledgement of the
    /// entry, which the gate forwards to the control center so an
    /// incomplete journey can be charged (P3.6).
    TapInAccepted {
        /// The consent, signed by the device key.
        consent: crate::entry_consent::EntryConsent,
    },
    /// Terminal → phone: please pay this.
    PaymentRequest(PaymentRequest),
    /// Phone → terminal: the user declined.
    Decline {
        /// Why, for the terminal's log.
        reason: String,
    },
    /// Phone → terminal: the user confirmed and the phone sent the signed
    /// instruction (or top-up claim), but it could not learn the payment server's answer
    /// (timeout, lost response, 5xx) even after retrying. This is never a
    /// decline: the phone keeps the payment in its outbox and the terminal
    /// keeps the order in doubt until the platform settles it.
    PaymentPending {
        /// The order whose outcome is unknown (must be the requested one).
        order_id: String,
    },
    /// Phone → terminal: the payment is complete; here is the receipt.
    Receipt {
        /// Server-signed receipt.
        receipt: Receipt,
    },
    /// Terminal → phone (a `top_up` terminal): the cashier took this cash;
    /// claim it to credit the wallet (`TopUpReceipt`) or `Decline`.
    TopUpOffer {
        /// The terminal-signed offer.
        offer: crate::top_up::TopUpOffer,
    },
    /// Phone → terminal: the top-up is credited; here is the receipt.
    TopUpReceipt {
        /// Server-signed top-up receipt.
        receipt: crate::top_up::TopUpReceipt,
    },
    /// Terminal → phone: the session is over.
    Done(Done),
    /// Either side: something went wrong.
    Error(ErrorBody),
}

impl SessionMessage {
    /// CBOR bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_cbor(self)
    }
    /// Parses CBOR bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        from_cbor(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacon_txt_round_trip() {
        let b = Beacon {
            version: 1,
            terminal_id: "term_1".into(),
            merchant_name: "Tram T1".into(),
            kind: TerminalKind::Tram,
        };
        let props = b.to_txt_properties();
        let back = Beacon::from_txt_properties(|k| props.get(k).cloned()).unwrap();
        assert_eq!(back, b);
        assert!(Beacon::from_txt_properties(|_| None).is_err());
    }

    #[test]
    fn session_message_round_trip() {
        let m = SessionMessage::Done(Done {
            outcome: DoneOutcome::Accepted,
            message: "Gate opened".into(),
        });
        assert_eq!(SessionMessage::decode(&m.encode().unwrap()).unwrap(), m);
        assert!(SessionMessage::decode(b"\xff\x00garbage").is_err());
    }
}
