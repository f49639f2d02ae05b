//! The express area's records (what the app sees) and the server's JSON
//! (what `docs/api.md` promises for `/v1/express`).

use serde::{Deserialize, Serialize};

/// Per-tap cap a rider starts with (minor units), until they choose.
pub(crate) const DEFAULT_PER_TAP_MAX_MINOR: u64 = 1_000;
/// Total cap a rider starts with (minor units), until they choose.
pub(crate) const DEFAULT_TOTAL_MAX_MINOR: u64 = 5_000;

/// The rider's choice: whether gates may charge this phone offline, and
/// how much. The phone declines any express tap above these caps, whatever
/// the allowance allows, so the rider's limits hold even offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ExpressSettings {
    /// Whether express taps are on. Off: the phone presents no allowance
    /// and every gate runs the full (online) session.
    pub enabled: bool,
    /// Largest single express fare (minor units, at least 1).
    pub per_tap_max_minor: u64,
    /// Largest total of express fares under one allowance (minor units, at
    /// least `per_tap_max_minor`): what the rider can owe while offline.
    pub total_max_minor: u64,
}

impl Default for ExpressSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            per_tap_max_minor: DEFAULT_PER_TAP_MAX_MINOR,
            total_max_minor: DEFAULT_TOTAL_MAX_MINOR,
        }
    }
}

/// The allowance the phone holds now, as the app may show it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExpressAllowanceInfo {
    /// The allowance's id, shortened (`alw_1a2b…`): enough to tell two
    /// apart on screen, never the whole id.
    pub allowance_hint: String,
    /// Largest single tap the server allows (minor units); may be lower
    /// than the rider asked for.
    pub per_tap_max_minor: u64,
    /// Largest total the server allows (minor units); never above the
    /// balance when it was issued.
    pub total_max_minor: u64,
    /// Currency of every tap under it.
    pub currency: String,
    /// Issued at (Unix ms).
    pub issued_at_ms: u64,
    /// Gates refuse it after this (Unix ms).
    pub expires_at_ms: u64,
    /// Fares the phone has authorised under it so far (minor units).
    pub spent_minor: u64,
    /// Express taps made under it so far.
    pub taps: u32,
}

/// Where express taps stand on this phone, from local data only (works
/// offline; `sync()` adds the server's view).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExpressStatus {
    /// The rider's settings.
    pub settings: ExpressSettings,
    /// The allowance held, if any (it may have expired: see `ready`).
    pub allowance: Option<ExpressAllowanceInfo>,
    /// Whether a gate can charge this phone offline right now: express is
    /// on and a valid allowance has room for at least one more fare.
    pub ready: bool,
    /// Whether `refresh()` would ask the server for a new allowance (none,
    /// half its life gone, used up, or the caps changed).
    pub needs_refresh: bool,
    /// Express taps made on this phone that the server has not yet
    /// reported settled (show them as pending in the history), oldest
    /// first.
    pub pending_taps: Vec<PendingExpressTap>,
}

/// An express tap this phone signed at a gate, not yet known settled. The
/// gate uploads it; the server charges it once and it then also appears in
/// the wallet history as a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct PendingExpressTap {
    /// The allowance it was made under (matches `SettledExpressTap`).
    pub allowance_id: String,
    /// Its number under that allowance (1, 2, …).
    pub counter: u32,
    /// The gate.
    pub terminal_id: String,
    /// The gate's operator.
    pub merchant_name: String,
    /// Line (may be empty).
    pub line: String,
    /// Station (may be empty).
    pub station: String,
    /// The fare authorised (minor units).
    pub amount_minor: u64,
    /// Its currency.
    pub currency: String,
    /// The gate's clock at the tap (Unix ms).
    pub offered_at_ms: u64,
    /// This phone's clock at the tap (Unix ms).
    pub tapped_at_ms: u64,
}

/// An express tap the server has settled (charged).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, uniffi::Record)]
pub struct SettledExpressTap {
    /// The allowance it was made under.
    pub allowance_id: String,
    /// Its number under that allowance.
    pub counter: u32,
    /// The gate.
    pub terminal_id: String,
    /// The fare the phone authorised (minor units).
    pub amount_minor: u64,
    /// What the balance could pay (minor units).
    pub charged_minor: u64,
    /// What it could not: owed until the next top-up (minor units).
    pub debt_minor: u64,
    /// The payment in the wallet history, once charged.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// When the gate saw it (Unix ms).
    pub tapped_at_ms: u64,
    /// When the server settled it (Unix ms).
    pub settled_at_ms: u64,
}

/// The server's view of this rider's express taps (`sync()`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExpressAccount {
    /// What express taps left unpaid (minor units); a top-up pays it.
    pub debt_minor: i64,
    /// Whether express taps are paused until the debt is paid. While
    /// blocked the phone holds no allowance and gates run the full session.
    pub blocked: bool,
    /// Currency of the debt.
    pub currency: String,
    /// Recently settled express taps, newest first.
    pub settled_taps: Vec<SettledExpressTap>,
    /// Taps made on this phone the server has not reported yet.
    pub pending_taps: Vec<PendingExpressTap>,
}

/// `POST /v1/express/allowances` body.
#[derive(Debug, Serialize)]
pub(crate) struct AllowanceRequest {
    pub tap_key: String,
    pub per_tap_max_minor: u64,
    pub total_max_minor: u64,
}

/// `POST /v1/express/allowances` answer (the COSE bytes are authoritative;
/// the rest is checked against them).
#[derive(Debug, Deserialize)]
pub(crate) struct AllowanceResponse {
    pub allowance: String,
    pub allowance_id: String,
}

/// `DELETE /v1/express/allowances` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct RevokedResponse {
    pub revoked: u64,
}

/// `GET /v1/express` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ExpressAccountResponse {
    pub debt_minor: i64,
    pub blocked: bool,
    pub currency: String,
    #[serde(default)]
    pub taps: Vec<SettledExpressTap>,
}

/// The express area's locks, shared by the wallet's sub-objects and its
/// NFC cards.
#[derive(Default)]
pub(crate) struct ExpressLocks {
    /// Held while the allowance record changes (a tap, a new allowance,
    /// forgetting it): two taps never get the same counter.
    pub state: tokio::sync::Mutex<()>,
    /// One allowance request at a time (held across the server call;
    /// taps never wait for it).
    pub refresh: tokio::sync::Mutex<()>,
}
