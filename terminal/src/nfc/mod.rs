//! NFC taps (P5: the phone is the contactless card): a PC/SC reader loop
//! ([`reader`], feature `nfc`) that runs the ordinary phone session over
//! the card's APDUs ([`bridge`]). Any mode can take NFC taps; the reader
//! is chosen in the `[nfc]` section of the configuration.

pub(crate) mod bridge;
#[cfg(feature = "nfc")]
mod reader;

use std::sync::Arc;

use thiserror::Error;
use tokio::sync::watch;
use wayfare_protocol::apdu::ApduError;

pub use crate::config::nfc::NfcConfig;
use crate::Shared;

/// Why the NFC reader cannot serve taps (the loop retries) or a tap ended.
#[derive(Debug, Error)]
#[cfg_attr(not(feature = "nfc"), allow(dead_code))]
pub(crate) enum NfcError {
    /// pcscd is not running, the reader vanished, or a transmit failed.
    #[cfg(feature = "nfc")]
    #[error("PC/SC: {0}")]
    Pcsc(#[from] pcsc::Error),
    /// No reader with the configured name is attached.
    #[cfg_attr(not(feature = "nfc"), allow(dead_code))]
    #[error("no NFC reader named {0:?} is attached")]
    ReaderNotFound(String),
    /// The reader stopped answering.
    #[cfg_attr(not(feature = "nfc"), allow(dead_code))]
    #[error("the NFC reader {0:?} went away")]
    ReaderGone(String),
    /// The card refused or sent a malformed APDU.
    #[error("APDU: {0}")]
    Apdu(#[from] ApduError),
}

/// Starts the reader loop when `[nfc]` is configured.
pub(crate) fn start(
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let config = shared.config.nfc.clone()?;
    #[cfg(feature = "nfc")]
    {
        let runtime = tokio::runtime::Handle::current();
        Some(tokio::task::spawn_blocking(move || {
            reader::run(shared, config, runtime, shutdown)
        }))
    }
    #[cfg(not(feature = "nfc"))]
    {
        let _ = (config, shutdown);
        tracing::error!(
            "[nfc] is configured but this terminal was built without the `nfc` feature"
        );
        None
    }
}
