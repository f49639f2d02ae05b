//! The records of over-the-air top-up as apps see them, and the server's
//! JSON shapes they come from (`docs/api.md`, Over-the-air top-up).

use serde::{Deserialize, Serialize};

use crate::amount::format_amount;
use crate::clock::now_ms;

/// Where a top-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum, Serialize, Deserialize)]
pub enum TopUpStatus {
    /// Started; waiting for the rider to pay at the provider (open
    /// `checkout_url`) and for the provider to confirm. No money moved.
    Pending,
    /// The provider confirmed: the money is in the wallet.
    Confirmed,
    /// The provider reported the payment failed: nothing was added.
    Failed,
    /// Still pending after its checkout window; the provider may yet
    /// confirm it if the rider paid.
    Expired,
}

impl TopUpStatus {
    fn parse(status: &str) -> Self {
        match status {
            "confirmed" => TopUpStatus::Confirmed,
            "failed" => TopUpStatus::Failed,
            "expired" => TopUpStatus::Expired,
            _ => TopUpStatus::Pending,
        }
    }
}

/// What `account().top_up(...)` gives the app to show: the reference, and
/// for a card or bank provider the checkout link to open.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TopUpStarted {
    /// The top-up's reference (`fi_…`): show it to the rider and pass it to
    /// `account().top_up_status(...)`.
    pub reference: String,
    /// The provider's id.
    pub provider: String,
    /// `Pending` for a checkout (open `checkout_url`), `Confirmed` for the
    /// sandbox (the money is already in).
    pub status: TopUpStatus,
    /// The provider's page where the rider pays; `None` for the sandbox.
    pub checkout_url: Option<String>,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted for people, e.g. `¥50.00`.
    pub formatted_amount: String,
    /// After this the checkout can no longer be paid (Unix ms).
    pub expires_at_ms: u64,
}

/// A top-up as it is now: from `top_up_status(...)`, the top-up stream and
/// the `TopUpCompleted` / `TopUpFailed` events.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Serialize, Deserialize)]
pub struct TopUp {
    /// The top-up's reference (`fi_…`).
    pub reference: String,
    /// The provider's id.
    pub provider: String,
    /// Where it stands.
    pub status: TopUpStatus,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted for people, e.g. `¥50.00`.
    pub formatted_amount: String,
    /// The wallet movement (`top_…`) once confirmed; history shows it as
    /// `HistoryKind::TopUp`.
    pub top_up_id: Option<String>,
    /// The provider's reason, when it failed.
    pub failure_reason: Option<String>,
    /// When it last changed: started, confirmed or failed (Unix ms).
    pub updated_at_ms: u64,
}

/// A provider the app may offer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record, Deserialize)]
pub struct TopUpProvider {
    /// Pass it to `top_up(...)`.
    pub id: String,
    /// `sandbox` (test money, confirmed at once) or `checkout` (the rider
    /// pays on the provider's page).
    pub kind: String,
    /// The name to show.
    pub display_name: String,
    /// Currencies it takes (ISO 4217).
    pub currencies: Vec<String>,
}

/// What the server says of a top-up both in its routes' answers and in
/// its `top_up.completed` / `top_up.failed` device events.
#[derive(Debug, Deserialize)]
pub(crate) struct WireTopUp {
    pub reference: String,
    pub provider: String,
    pub status: String,
    pub amount_minor: u64,
    pub currency: String,
    #[serde(default)]
    pub top_up_id: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

impl WireTopUp {
    fn formatted_amount(&self) -> String {
        format_amount(&self.currency, signed(self.amount_minor))
    }

    /// The app's record, its status last changed at `updated_at_ms`.
    fn into_top_up(self, updated_at_ms: u64) -> TopUp {
        TopUp {
            formatted_amount: self.formatted_amount(),
            status: TopUpStatus::parse(&self.status),
            updated_at_ms,
            reference: self.reference,
            provider: self.provider,
            amount_minor: self.amount_minor,
            currency: self.currency,
            top_up_id: self.top_up_id,
            failure_reason: self.failure_reason,
        }
    }
}

/// A top-up as the server's routes answer it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireIntent {
    #[serde(flatten)]
    pub top_up: WireTopUp,
    #[serde(default)]
    pub checkout_url: Option<String>,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    #[serde(default)]
    pub completed_at_ms: Option<u64>,
}

impl WireIntent {
    pub(crate) fn started(self) -> TopUpStarted {
        let t = self.top_up;
        TopUpStarted {
            formatted_amount: t.formatted_amount(),
            status: TopUpStatus::parse(&t.status),
            reference: t.reference,
            provider: t.provider,
            checkout_url: self.checkout_url,
            amount_minor: t.amount_minor,
            currency: t.currency,
            expires_at_ms: self.expires_at_ms,
        }
    }

    pub(crate) fn top_up(self) -> TopUp {
        let updated_at_ms = self.completed_at_ms.unwrap_or(self.created_at_ms);
        self.top_up.into_top_up(updated_at_ms)
    }
}

/// The data of a `top_up.completed` / `top_up.failed` device event.
#[derive(Debug, Deserialize)]
pub(crate) struct WireEvent {
    #[serde(flatten)]
    pub top_up: WireTopUp,
    #[serde(default)]
    pub at_ms: Option<u64>,
}

impl WireEvent {
    pub(crate) fn top_up(self) -> TopUp {
        self.top_up.into_top_up(self.at_ms.unwrap_or_else(now_ms))
    }
}

/// `POST /v1/top-ups` body.
#[derive(Debug, Serialize)]
pub(crate) struct StartBody<'a> {
    pub provider: &'a str,
    pub amount_minor: u64,
    pub currency: &'a str,
    pub idempotency_key: &'a str,
}

/// `GET /v1/top-ups/providers` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ProvidersResponse {
    pub providers: Vec<TopUpProvider>,
}

fn signed(amount_minor: u64) -> i64 {
    i64::try_from(amount_minor).unwrap_or(i64::MAX)
}
