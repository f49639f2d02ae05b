//! `[ble]`: phones over Bluetooth LE. The settings live with the rest of the
//! configuration, so reading a configuration file needs nothing of the
//! Bluetooth code ([`crate::ble`]).

use serde::{Deserialize, Serialize};

/// `[ble]`: serve phones over Bluetooth LE on a BlueZ adapter. Absent: no
/// Bluetooth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BleConfig {
    /// The BlueZ adapter, e.g. `"hci0"` (`bluetoothctl list`).
    #[serde(default = "default_adapter")]
    pub adapter: String,
}

impl Default for BleConfig {
    fn default() -> Self {
        Self {
            adapter: default_adapter(),
        }
    }
}

fn default_adapter() -> String {
    "hci0".into()
}
