//! The session report, the body of `POST /v1/terminals/me/reports`. It
//! lives apart from the queue so that the platform client can send it
//! without importing back into [`crate::reports`].

use serde::{Deserialize, Serialize};
use wayfare_protocol::fare::FareContext;

/// What happened in a session, as sent to `POST /v1/terminals/me/reports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Unique id; the server stores a report once per id.
    pub report_id: String,
    /// `payment_accepted`, `payment_refused`, `payment_declined`,
    /// `request_expired`, `session_abandoned` or `linkage_failed`.
    pub kind: String,
    /// The order of the session.
    pub order_id: String,
    /// The payment, when a receipt arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Amount requested, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<u64>,
    /// Currency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Where the vehicle was (tram terminals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fare: Option<FareContext>,
    /// When the session ended (Unix ms).
    pub at_ms: u64,
    /// A human-readable explanation.
    pub detail: String,
    /// For `tap_in`: the rider's device-signed entry consent (base64url),
    /// so the control center knows the open entry (incomplete journeys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_consent: Option<String>,
}
