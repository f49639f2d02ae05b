//! Phones over Bluetooth LE (issue 9.3): the terminal as a GATT peripheral
//! serving the Wayfare service of `wayfare_protocol::gatt` (a write
//! characteristic for the phone's fragments, a notify characteristic for
//! ours) and advertising its beacon. Each connected phone's link becomes a
//! byte stream through the shared pump (`wayfare_protocol::gatt::link`)
//! and is served by the same session code as TCP, as [`Peer::Ble`].
//!
//! The BlueZ peripheral ([`bluez`], feature `ble`, Linux only) is kept
//! thin: everything above its two link halves is tested over an in-memory
//! link through [`RunningTerminal::serve_gatt_link`].

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wayfare_protocol::gatt::link::{attach, FragmentSink, FragmentSource};
use wayfare_protocol::messages::Beacon;

#[cfg(all(feature = "ble", target_os = "linux"))]
mod bluez;

pub use crate::config::ble::BleConfig;
use crate::error::{Result, TerminalError};
use crate::session::link::Peer;
use crate::session::serve;
use crate::{RunningTerminal, Shared};

/// Starts advertising and serving the GATT service when `[ble]` is
/// configured; fails with [`TerminalError::BluetoothUnavailable`] when
/// there is no such adapter, no BlueZ, or no Bluetooth support in this
/// build, so a misconfigured terminal does not start silently without it.
pub(crate) async fn start(
    shared: Arc<Shared>,
    beacon: &Beacon,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>> {
    let Some(config) = shared.config.ble.clone() else {
        return Ok(None);
    };
    #[cfg(all(feature = "ble", target_os = "linux"))]
    {
        bluez::start(shared, &config, beacon, shutdown)
            .await
            .map(Some)
    }
    #[cfg(not(all(feature = "ble", target_os = "linux")))]
    {
        let _ = (shared, beacon, shutdown);
        Err(TerminalError::BluetoothUnavailable(format!(
            "[ble] names adapter {:?}, but this terminal was built without Bluetooth \
             (the `ble` feature, Linux only)",
            config.adapter
        )))
    }
}

/// Serves one phone over a connected GATT link: the pump turns the link
/// into a byte stream and the session runs over it.
pub(crate) fn serve_link<K: FragmentSink, S: FragmentSource>(
    shared: &Arc<Shared>,
    mtu: u16,
    sink: K,
    source: S,
) -> Result<JoinHandle<()>> {
    let stream = attach(mtu, sink, source)
        .map_err(|e| TerminalError::BluetoothUnavailable(format!("GATT link: {e}")))?;
    // No handshake ticket: the peripheral serves one central at a time.
    Ok(tokio::spawn(serve(
        shared.clone(),
        stream,
        Peer::Ble,
        None,
        shared.shutdown.clone(),
    )))
}

impl RunningTerminal {
    /// Serves one phone over a GATT link of ATT MTU `mtu` that the caller
    /// connected: `sink` sends our fragments (notifications), `source`
    /// yields the phone's (writes). The BlueZ peripheral does the same for
    /// each phone it serves; tests and other Bluetooth stacks bring their
    /// own link (e.g. `wayfare_protocol::gatt::link::memory_link`).
    /// Returns the session's task, which ends with the session.
    pub fn serve_gatt_link<K: FragmentSink, S: FragmentSource>(
        &self,
        mtu: u16,
        sink: K,
        source: S,
    ) -> Result<JoinHandle<()>> {
        serve_link(&self.shared, mtu, sink, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ble_table_names_an_adapter_and_refuses_unknown_keys() {
        let config: BleConfig = toml::from_str("adapter = \"hci1\"").unwrap();
        assert_eq!(config.adapter, "hci1");
        let config: BleConfig = toml::from_str("").unwrap();
        assert_eq!(config, BleConfig::default());
        assert!(toml::from_str::<BleConfig>("adaptor = \"hci0\"").is_err());
    }
}
