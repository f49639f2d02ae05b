//! `[nfc]`: taps on a PC/SC reader. The settings live with the rest of the
//! configuration, so reading a configuration file needs nothing of the NFC
//! code ([`crate::nfc`]).

use serde::{Deserialize, Serialize};

/// `[nfc]`: take taps on a PC/SC reader.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfcConfig {
    /// The reader's name as PC/SC lists it (`pcsc_scan`), or the start of
    /// it, e.g. `"ACS ACR122U"`; absent: the first reader.
    #[serde(default)]
    pub reader: Option<String>,
}
