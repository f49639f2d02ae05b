//! The public face of the nearby list: what the app receives
//! ([`NearbyTerminal`], [`NearbySource`]), how it asks
//! ([`NearbyOptions`]), and the foreign traits it implements
//! ([`NearbyListener`], [`PlatformDiscovery`]).

use std::collections::HashMap;

use crate::discovery::types::DiscoveredTerminal;
use crate::discovery::types::TerminalKind;
use crate::listener::ListenerError;

/// Which source saw a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum NearbySource {
    /// The core's own mDNS browser (the LAN).
    Mdns,
    /// The app's platform browser (Android NSD, iOS NWBrowser) through
    /// [`PlatformDiscovery`] (the LAN).
    Platform,
    /// A Bluetooth LE advertisement, with its signal strength.
    Ble,
    /// A recent NFC tap whose handshake verified the terminal.
    Nfc,
}

/// One terminal near the phone, with everything every source knows about
/// it: the unit of the list `NearbyListener::on_nearby_changed` receives.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NearbyTerminal {
    /// The terminal id (the same from every source; the merge key).
    pub terminal_id: String,
    /// Merchant name to show: a tap's (verified by the certificate) over
    /// the advertised ones.
    pub merchant_name: String,
    /// Terminal kind.
    pub kind: TerminalKind,
    /// The sources that currently see it, nearest kind first (`Nfc`,
    /// `Ble`, `Mdns`, `Platform`).
    pub sources: Vec<NearbySource>,
    /// LAN address, when a LAN browser resolved it.
    pub host: Option<String>,
    /// LAN TCP port, with `host`.
    pub port: Option<u16>,
    /// The Bluetooth peripheral, while a BLE scan hears it.
    pub ble_id: Option<String>,
    /// Smoothed signal strength in dBm, while a BLE scan hears it.
    pub rssi: Option<i16>,
    /// When the phone last tapped it (Unix ms), if it did while it was
    /// listed.
    pub tapped_at_ms: Option<u64>,
    /// When any source last reported it (Unix ms).
    pub last_seen_at_ms: u64,
    /// What to pass to `terminals().connect(...)`: over the LAN when an
    /// address is known (quicker and sturdier than a GATT link), else over
    /// Bluetooth; `None` for a terminal known only from a tap.
    pub connect: Option<DiscoveredTerminal>,
}

/// Which of the core's own sources `watch_nearby` runs (the app's platform
/// browser and NFC taps always feed the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct NearbyOptions {
    /// Run the core's mDNS browser on the configured scope. Apps that
    /// browse with NSD or NWBrowser may turn it off (on Android it also
    /// needs a multicast lock).
    #[uniffi(default = true)]
    pub mdns: bool,
    /// Scan Bluetooth LE (builds with the `ble` feature).
    #[uniffi(default = true)]
    pub bluetooth: bool,
}

impl Default for NearbyOptions {
    fn default() -> Self {
        Self {
            mdns: true,
            bluetooth: true,
        }
    }
}

/// A `_wayfare._tcp` service the app's platform browser resolved.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PlatformService {
    /// The DNS-SD instance name (what a later loss names): Android
    /// `NsdServiceInfo.serviceName`, iOS the endpoint's service name.
    pub name: String,
    /// Resolved address, preferably IPv4 (`NsdServiceInfo.host`; on iOS
    /// resolve the endpoint first).
    pub host: String,
    /// Resolved TCP port.
    pub port: u16,
    /// The TXT record as text (Android `attributes` decoded as UTF-8, iOS
    /// `NWTXTRecord.dictionary`): the terminal's beacon.
    pub txt: HashMap<String, String>,
}

/// Receives the merged list during `terminals().watch_nearby(...)`. Called
/// from the watch's thread; return quickly (post to the UI thread).
#[uniffi::export(foreign)]
pub trait NearbyListener: Send + Sync {
    /// The list changed: every terminal near the phone, nearest first.
    /// Each call carries the whole list (replace, don't merge).
    fn on_nearby_changed(&self, terminals: Vec<NearbyTerminal>) -> Result<(), ListenerError>;
    /// A source cannot run (no Bluetooth adapter, Bluetooth off or not
    /// permitted, the mDNS socket failed, the platform browser failed);
    /// the others go on. Said once per source per watch.
    fn on_source_unavailable(
        &self,
        source: NearbySource,
        reason: String,
    ) -> Result<(), ListenerError>;
}
