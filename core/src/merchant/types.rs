//! The records and enums of the merchant area, and their wire forms.

use serde::{Deserialize, Serialize};

/// What a merchant device may do (its operation scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum MerchantOperation {
    /// Receive a prompt for every payment, refund and forwarded notice.
    ReceivePrompts,
    /// List the merchant's payments.
    ViewHistory,
    /// Refund payments, fully or partly.
    Refund,
}

impl MerchantOperation {
    pub(crate) fn wire(self) -> &'static str {
        match self {
            Self::ReceivePrompts => "receive_prompts",
            Self::ViewHistory => "view_history",
            Self::Refund => "refund",
        }
    }

    pub(crate) fn from_wire(s: &str) -> Option<Self> {
        [Self::ReceivePrompts, Self::ViewHistory, Self::Refund]
            .into_iter()
            .find(|o| o.wire() == s)
    }
}

/// An attribute of a payment a merchant device may receive (its content
/// scope, P4): the server never sends a device an attribute outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PromptAttribute {
    /// The order id.
    OrderId,
    /// The payer's name.
    PayerName,
    /// The payee's (merchant's) name.
    PayeeName,
    /// The payment type (pos, tram, gate, or an outside platform's type).
    PaymentType,
    /// The amount and currency.
    Amount,
    /// The time.
    Time,
    /// The payment platform (Wayfare or an outside platform).
    PaymentPlatform,
}

impl PromptAttribute {
    /// Every attribute.
    pub const ALL: [PromptAttribute; 7] = [
        Self::OrderId,
        Self::PayerName,
        Self::PayeeName,
        Self::PaymentType,
        Self::Amount,
        Self::Time,
        Self::PaymentPlatform,
    ];

    pub(crate) fn wire(self) -> &'static str {
        match self {
            Self::OrderId => "order_id",
            Self::PayerName => "payer_name",
            Self::PayeeName => "payee_name",
            Self::PaymentType => "payment_type",
            Self::Amount => "amount",
            Self::Time => "time",
            Self::PaymentPlatform => "payment_platform",
        }
    }

    pub(crate) fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.wire() == s)
    }
}

/// The device's role in a merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MerchantRole {
    /// The main management terminal: every scope; manages staff.
    Owner,
    /// A sub management terminal with the scopes the owner granted.
    Staff,
}

/// A device's membership in a merchant (the caller's own, or a staff
/// device as the owner sees it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantMembership {
    /// Member id (what the owner passes to change or revoke it).
    pub member_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The merchant's name.
    pub merchant_name: String,
    /// The locale prompts are rendered in (`zh` or `en`).
    pub locale: String,
    /// Owner or staff.
    pub role: MerchantRole,
    /// The member device's pseudonymous handle.
    pub handle: String,
    /// The owner's label for the device.
    pub label: String,
    /// Operation scope.
    pub operations: Vec<MerchantOperation>,
    /// Content scope.
    pub content: Vec<PromptAttribute>,
    /// True until the owner revokes it.
    pub active: bool,
}

/// A staff invitation: show `code` or encode `qr_payload` as a QR code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StaffInvitation {
    /// Invitation id.
    pub invitation_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// `ABCD-EFGH`, to type on the staff device.
    pub code: String,
    /// The QR payload carrying the code.
    pub qr_payload: String,
    /// The owner's label for the future device.
    pub label: String,
    /// Operation scope granted on acceptance.
    pub operations: Vec<MerchantOperation>,
    /// Content scope granted on acceptance.
    pub content: Vec<PromptAttribute>,
    /// Unusable after this time (Unix ms).
    pub expires_at_ms: i64,
}

/// A payment of the merchant as a device with `view_history` sees it:
/// attributes outside its content scope are `None` (the server leaves them
/// out of the JSON, which decodes straight into this record).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, uniffi::Record)]
pub struct MerchantPayment {
    /// The payment (to refund it).
    pub payment_id: String,
    /// Order id.
    pub order_id: Option<String>,
    /// Payer's name.
    pub payer_name: Option<String>,
    /// Payee's name.
    pub payee_name: Option<String>,
    /// Payment type.
    pub payment_type: Option<String>,
    /// Amount (minor units).
    pub amount_minor: Option<i64>,
    /// Refunded so far (minor units; with the amount scope).
    pub refunded_minor: Option<i64>,
    /// Currency code.
    pub currency: Option<String>,
    /// Time (Unix ms).
    pub at_ms: Option<i64>,
    /// Payment platform.
    pub payment_platform: Option<String>,
}

/// A refund made (or a retry of one answered).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantRefund {
    /// Refund id.
    pub refund_id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// This refund's amount (minor units).
    pub amount_minor: i64,
    /// Currency code.
    pub currency: String,
    /// Refunded so far, this one included.
    pub refunded_total_minor: i64,
    /// What is left to refund.
    pub remaining_minor: i64,
}

/// A payment notice captured by the owner's app from an outside platform
/// (P4 claim 1), to fan out to the staff.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExternalNotice {
    /// The outside platform's name, e.g. `Alipay`.
    pub platform: String,
    /// Its order id (the same order id as a Wayfare payment is announced once).
    pub order_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// Payer's name, if the notice shows it.
    pub payer_name: Option<String>,
    /// Payee's name (default: the merchant's).
    pub payee_name: Option<String>,
    /// The platform's payment type, e.g. `qr_code`.
    pub payment_type: Option<String>,
    /// When it was paid (Unix ms; default: now).
    pub paid_at_ms: Option<i64>,
}

/// What the server did with a forwarded notice.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ForwardOutcome {
    /// The notice's id (derived from platform and order id).
    pub notice_id: String,
    /// Prompts written (0 for a duplicate).
    pub prompts: u32,
    /// True when this notice was forwarded before.
    pub duplicate: bool,
}

/// How this device announces prompts (kept on the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct PromptSettings {
    /// Show the display text.
    pub show_text: bool,
    /// Speak the speech text.
    pub speak: bool,
    /// Vibrate.
    pub vibrate: bool,
}

impl Default for PromptSettings {
    fn default() -> Self {
        Self {
            show_text: true,
            speak: true,
            vibrate: true,
        }
    }
}

/// What a prompt announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
pub enum MerchantPromptEvent {
    /// A payment received through Wayfare.
    Payment,
    /// A refund.
    Refund,
    /// A notice forwarded from an outside platform.
    External,
}

/// A merchant prompt to announce: the attributes this device may see
/// (others are `None`), the texts rendered in the merchant's locale, and
/// which of text / speech / vibration to use per the device's settings.
/// Only the earliest prompt of an order reaches the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct MerchantPrompt {
    /// The server's event id.
    pub event_id: u64,
    /// The merchant.
    pub merchant_id: String,
    /// What happened.
    pub event: MerchantPromptEvent,
    /// The order's de-duplication key (opaque).
    pub dedupe_key: String,
    /// The locale of the texts.
    pub locale: String,
    /// Order id.
    pub order_id: Option<String>,
    /// Payer's name.
    pub payer_name: Option<String>,
    /// Payee's name.
    pub payee_name: Option<String>,
    /// Payment type.
    pub payment_type: Option<String>,
    /// Amount (minor units).
    pub amount_minor: Option<i64>,
    /// Currency code.
    pub currency: Option<String>,
    /// Time (Unix ms).
    pub at_ms: Option<i64>,
    /// Payment platform.
    pub payment_platform: Option<String>,
    /// The payment, when this device may refund it.
    pub payment_id: Option<String>,
    /// One line for the screen, e.g. "Wayfare到账12.50元 · 订单 A-17".
    pub display_text: String,
    /// What to speak, e.g. "Wayfare到账12.50元".
    pub speech_text: String,
    /// Show `display_text`.
    pub show_text: bool,
    /// Speak `speech_text`.
    pub speak: bool,
    /// Vibrate.
    pub vibrate: bool,
    /// The JSON the server sent, as received (for audits and tests).
    pub raw_json: String,
}

/// `MerchantView` of the server (docs/api.md).
#[derive(Debug, Deserialize)]
pub(crate) struct MemberJson {
    pub member_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub locale: String,
    pub role: String,
    #[serde(default)]
    pub handle: String,
    #[serde(default)]
    pub label: String,
    pub operations: Vec<String>,
    pub content: Vec<String>,
    pub status: String,
}

impl From<MemberJson> for MerchantMembership {
    fn from(m: MemberJson) -> Self {
        Self {
            member_id: m.member_id,
            merchant_id: m.merchant_id,
            merchant_name: m.merchant_name,
            locale: m.locale,
            role: if m.role == "owner" {
                MerchantRole::Owner
            } else {
                MerchantRole::Staff
            },
            handle: m.handle,
            label: m.label,
            operations: m
                .operations
                .iter()
                .filter_map(|o| MerchantOperation::from_wire(o))
                .collect(),
            content: m
                .content
                .iter()
                .filter_map(|a| PromptAttribute::from_wire(a))
                .collect(),
            active: m.status == "active",
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct InvitationJson {
    pub invitation_id: String,
    pub merchant_id: String,
    pub code: String,
    pub qr_payload: String,
    pub label: String,
    pub operations: Vec<String>,
    pub content: Vec<String>,
    pub expires_at_ms: i64,
}

impl From<InvitationJson> for StaffInvitation {
    fn from(i: InvitationJson) -> Self {
        Self {
            invitation_id: i.invitation_id,
            merchant_id: i.merchant_id,
            code: i.code,
            qr_payload: i.qr_payload,
            label: i.label,
            operations: i
                .operations
                .iter()
                .filter_map(|o| MerchantOperation::from_wire(o))
                .collect(),
            content: i
                .content
                .iter()
                .filter_map(|a| PromptAttribute::from_wire(a))
                .collect(),
            expires_at_ms: i.expires_at_ms,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundJson {
    pub refund_id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_total_minor: i64,
    pub remaining_minor: i64,
}

impl From<RefundJson> for MerchantRefund {
    fn from(r: RefundJson) -> Self {
        Self {
            refund_id: r.refund_id,
            payment_id: r.payment_id,
            amount_minor: r.amount_minor,
            currency: r.currency,
            refunded_total_minor: r.refunded_total_minor,
            remaining_minor: r.remaining_minor,
        }
    }
}
