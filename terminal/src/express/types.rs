//! The express taps as they travel to the control center and back. They
//! live apart from the queue so that the platform client can upload them
//! without importing back into [`super::queue`].

use serde::{Deserialize, Serialize};

/// One accepted tap, as uploaded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct QueuedTap {
    /// The allowance the phone presented (base64url COSE).
    pub(crate) allowance: String,
    /// The phone's signed tap (base64url COSE).
    pub(crate) tap: String,
    /// When the gate opened (Unix ms).
    pub(crate) tapped_at_ms: u64,
}

/// What the control center answered for one uploaded tap.
#[derive(Debug, Deserialize)]
pub(crate) struct TapResult {
    /// How the tap settled, as the control center names it.
    pub(crate) status: String,
    /// What the rider owes after this tap, in minor units.
    #[serde(default)]
    pub(crate) debt_minor: u64,
    /// Why the tap was refused, when it was.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}
