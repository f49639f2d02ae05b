//! Listeners the app implements (foreign traits). They are nudges for UI
//! freshness only: the money state lives in the wallet's store (outbox and
//! receipts) and survives restarts whether or not a listener saw an event.
//!
//! The core never holds a lock while calling a listener. A listener that
//! keeps a reference to the `Wallet` creates a reference cycle: call
//! `Wallet::close()` (which drops the listener) when done.

use std::sync::Arc;

use crate::discovery::types::DiscoveredTerminal;
use crate::guardians::types::GuardianAlert;
use crate::payments::types::{PaymentFailure, PaymentOutcome};
use crate::session::types::PaymentRequestInfo;

/// An error raised by an app's listener. The core logs it and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener failed.
    #[error("listener failed: {reason}")]
    Failed {
        /// Why.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

/// Wallet events for the app's UI. Called from a core thread; return
/// quickly (post to the UI thread).
#[uniffi::export(foreign)]
pub trait WalletListener: Send + Sync {
    /// A terminal asked for a payment; the app should ask the user to
    /// confirm or decline on the `TerminalSession`.
    fn on_payment_request(&self, request: PaymentRequestInfo) -> Result<(), ListenerError>;
    /// A payment completed (during a session or when a pending one settled).
    fn on_payment_completed(&self, outcome: PaymentOutcome) -> Result<(), ListenerError>;
    /// A payment failed, or could not reach the server and will be retried
    /// (`failure.will_retry`).
    fn on_payment_failed(&self, failure: PaymentFailure) -> Result<(), ListenerError>;
    /// A guardian alert arrived (this phone is the guardian): a bound rider
    /// paid. Each alert comes once; it is also kept in
    /// `guardians().alerts()` and queued in `events()`.
    fn on_guardian_alert(&self, alert: GuardianAlert) -> Result<(), ListenerError>;
}

/// Receives terminals as they appear and disappear during
/// `terminals().start_discovery(listener)`.
#[uniffi::export(foreign)]
pub trait DiscoveryListener: Send + Sync {
    /// A terminal was found (or its details changed).
    fn on_terminal_found(&self, terminal: DiscoveredTerminal) -> Result<(), ListenerError>;
    /// A terminal stopped advertising.
    fn on_terminal_lost(&self, terminal_id: String) -> Result<(), ListenerError>;
}

/// Calls a wallet listener, logging (never propagating) its failure.
pub(crate) fn notify(
    listener: Option<Arc<dyn WalletListener>>,
    call: impl FnOnce(&dyn WalletListener) -> Result<(), ListenerError>,
) {
    if let Some(listener) = listener {
        if let Err(e) = call(listener.as_ref()) {
            tracing::warn!(target: "wayfare_core::listener", error = %e, "wallet listener failed");
        }
    }
}

/// The app's nudge that events are waiting (implemented in Kotlin, Swift or
/// Python). Called from a core thread; return quickly. Then call
/// `wallet.events().pending(...)` and acknowledge what was handled.
#[uniffi::export(foreign)]
pub trait WalletEventListener: Send + Sync {
    /// `pending` events wait for acknowledgement.
    fn on_events_available(&self, pending: u32) -> Result<(), ListenerError>;
}
