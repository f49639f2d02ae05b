//! The records and enums of the guardian area as apps see them, and the
//! server's JSON shapes they come from (`docs/api.md`, Guardians).

use serde::{Deserialize, Serialize};

/// What a guardian receives about the rider's payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum GuardianScope {
    /// Only transit payments (tram, gate).
    TransitOnly,
    /// Every payment.
    AllPayments,
}

impl GuardianScope {
    /// The wire name (`transit_only`, `all_payments`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuardianScope::TransitOnly => "transit_only",
            GuardianScope::AllPayments => "all_payments",
        }
    }
}

/// Which side of a binding the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum BindingRole {
    /// The caller is the rider whose payments are watched.
    Rider,
    /// The caller is the guardian who is told.
    Guardian,
}

impl BindingRole {
    /// The wire name (`rider`, `guardian`), for logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingRole::Rider => "rider",
            BindingRole::Guardian => "guardian",
        }
    }
}

/// Where a binding stands. Only an active binding sends alerts and counts
/// a daily limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum BindingStatus {
    /// Alerts flow.
    Active,
    /// The rider ended it.
    Revoked,
    /// The guardian left.
    Left,
}

impl BindingStatus {
    /// The wire name (`active`, `revoked`, `left`), for logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingStatus::Active => "active",
            BindingStatus::Revoked => "revoked",
            BindingStatus::Left => "left",
        }
    }
}

/// Which kind of name the rider chose to be shown by (the name itself is
/// the record's `rider_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum RiderNameKind {
    /// The last four digits of the rider's phone number.
    PhoneTail,
    /// A nickname the rider chose.
    Nickname,
}

/// How the rider is named in the guardian's alerts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RiderName {
    /// "The phone ending 1234": the last four digits of the rider's
    /// registered phone number (never the whole number).
    PhoneTail,
    /// A name the rider chooses.
    Nickname {
        /// The nickname, 1 to 40 characters.
        nickname: String,
    },
}

/// A fresh invitation for a guardian: show the code or a QR code of
/// `qr_payload`. Single use; it expires at `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Deserialize)]
pub struct GuardianInvitation {
    /// Invitation id.
    pub invitation_id: String,
    /// The short code to read out or type, e.g. `K7M2-Q9XD`.
    pub code: String,
    /// The string to encode in a QR code (the guardian may scan it instead).
    pub qr_payload: String,
    /// What the guardian will receive.
    pub scope: GuardianScope,
    /// Which kind of name the rider is shown by.
    pub shown_as: RiderNameKind,
    /// How the rider will be named, e.g. "The phone ending 1234".
    pub rider_name: String,
    /// After this the invitation is refused (Unix ms).
    pub expires_at_ms: i64,
}

/// A binding between a rider and a guardian, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Deserialize, Serialize)]
pub struct GuardianBinding {
    /// Binding id.
    pub binding_id: String,
    /// The caller's side.
    pub role: BindingRole,
    /// Active, or how it ended.
    pub status: BindingStatus,
    /// What the guardian will receive.
    pub scope: GuardianScope,
    /// Which kind of name the rider is shown by.
    pub shown_as: RiderNameKind,
    /// How the rider is named in alerts (English).
    pub rider_name: String,
    /// How the rider is named in alerts (Chinese).
    pub rider_name_zh: String,
    /// The other party's pseudonymous handle.
    pub counterpart_handle: String,
    /// The other party's name: the guardian's display name (rider's view),
    /// or the name the rider chose to be shown as (guardian's view).
    pub counterpart_name: String,
    /// The guardian's daily spending limit, in the rider's currency.
    pub daily_limit_minor: Option<i64>,
    /// The UTC offset (minutes) of the day the limit counts.
    pub limit_utc_offset_minutes: i64,
    /// The rider's currency.
    pub currency: String,
    /// When the guardian accepted (Unix ms).
    pub created_at_ms: i64,
    /// When the binding ended (Unix ms).
    pub ended_at_ms: Option<i64>,
}

/// The caller's bindings on both sides.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Deserialize)]
pub struct GuardianBindings {
    /// Bindings where the caller is the rider.
    pub as_rider: Vec<GuardianBinding>,
    /// Bindings where the caller is the guardian.
    pub as_guardian: Vec<GuardianBinding>,
}

/// Where a transit payment happened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Deserialize, Serialize)]
pub struct AlertTransit {
    /// `flat`, `tap_out` or `maximum_fare`.
    pub mode: String,
    /// Line, e.g. "T1".
    pub line: String,
    /// Vehicle, e.g. "tram 1207".
    pub vehicle: String,
    /// Station of the payment (the exit, for a tap-out).
    pub station: String,
    /// Terminus the vehicle came from.
    pub direction_from: String,
    /// Terminus the vehicle headed to.
    pub direction_towards: String,
    /// Where the ride began (tap-out only).
    pub entry_station: Option<String>,
    /// When the ride began, local time `HH:MM` (tap-out only).
    pub entry_local_time: Option<String>,
}

/// A payment alert for a guardian (P1).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Deserialize, Serialize)]
pub struct GuardianAlert {
    /// The server's event id on the device stream (increasing).
    pub event_id: u64,
    /// Unique alert id (the de-duplication key).
    pub alert_id: String,
    /// The binding it was made for.
    pub binding_id: String,
    /// How the rider is named (English), e.g. "The phone ending 1234".
    pub rider_name: String,
    /// The payment.
    pub payment_id: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Formatted amount, e.g. `¥2.00`.
    pub amount_text: String,
    /// Merchant or transit operator.
    pub merchant_name: String,
    /// When it was paid (Unix ms).
    pub at_ms: i64,
    /// Local time of the payment, `HH:MM`.
    pub local_time: String,
    /// The UTC offset of that local time, e.g. `+08:00`.
    pub utc_offset: String,
    /// Transit details, when it was a transit payment.
    pub transit: Option<AlertTransit>,
    /// The sentence in English.
    pub text_en: String,
    /// The sentence in Chinese.
    pub text_zh: String,
}

/// The server's alert JSON (a superset of what the app needs).
#[derive(Deserialize)]
pub(crate) struct WireAlert {
    pub alert_id: String,
    pub binding_id: String,
    pub rider_name: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub amount_text: String,
    pub merchant_name: String,
    pub at_ms: i64,
    pub local_time: String,
    pub utc_offset: String,
    pub transit: Option<WireTransit>,
    pub text_en: String,
    pub text_zh: String,
}

#[derive(Deserialize)]
pub(crate) struct WireTransit {
    pub mode: String,
    pub line: String,
    pub vehicle: String,
    pub station: String,
    pub direction_from: String,
    pub direction_towards: String,
    pub entry: Option<WireEntry>,
}

#[derive(Deserialize)]
pub(crate) struct WireEntry {
    pub station: String,
    pub local_time: String,
}

impl WireAlert {
    pub(crate) fn into_alert(self, event_id: u64) -> GuardianAlert {
        GuardianAlert {
            event_id,
            alert_id: self.alert_id,
            binding_id: self.binding_id,
            rider_name: self.rider_name,
            payment_id: self.payment_id,
            amount_minor: self.amount_minor,
            currency: self.currency,
            amount_text: self.amount_text,
            merchant_name: self.merchant_name,
            at_ms: self.at_ms,
            local_time: self.local_time,
            utc_offset: self.utc_offset,
            transit: self.transit.map(|t| AlertTransit {
                mode: t.mode,
                line: t.line,
                vehicle: t.vehicle,
                station: t.station,
                direction_from: t.direction_from,
                direction_towards: t.direction_towards,
                entry_station: t.entry.as_ref().map(|e| e.station.clone()),
                entry_local_time: t.entry.map(|e| e.local_time),
            }),
            text_en: self.text_en,
            text_zh: self.text_zh,
        }
    }
}
