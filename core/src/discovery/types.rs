//! What discovery finds: a terminal, its kind and how it was found. A leaf,
//! so that sessions, the nearby list and the app's listeners can name them
//! without importing discovery itself.

use wayfare_protocol::messages::TerminalKind as WireKind;

/// What kind of access terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TerminalKind {
    /// A point-of-sale terminal.
    Pos,
    /// A tram's on-board reader.
    Tram,
    /// A station or parking gate.
    Gate,
    /// A counter or station kiosk that turns cash into wallet money.
    TopUp,
}

impl From<WireKind> for TerminalKind {
    fn from(k: WireKind) -> Self {
        match k {
            WireKind::Pos => TerminalKind::Pos,
            WireKind::Tram => TerminalKind::Tram,
            WireKind::Gate => TerminalKind::Gate,
            WireKind::TopUp => TerminalKind::TopUp,
        }
    }
}

/// How a terminal was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DiscoverySource {
    /// mDNS/DNS-SD on the local network.
    Lan,
    /// A Bluetooth LE advertisement.
    Ble,
    /// An NFC tap (reported by the app).
    Nfc,
    /// Typed in or configured (host and port known).
    Manual,
}

/// A terminal that can be connected to. Apps may build one themselves
/// (source `Manual`, or `Nfc`/`Lan` from the platform's own radios) to
/// connect by address; an empty `terminal_id` skips the check that the
/// certificate names the expected terminal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct DiscoveredTerminal {
    /// The terminal id it advertises (checked against its certificate).
    pub terminal_id: String,
    /// Merchant name it advertises (the verified one is in the session).
    pub merchant_name: String,
    /// Terminal kind.
    pub kind: TerminalKind,
    /// Host name or IP address to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How it was found.
    pub source: DiscoverySource,
    /// Received signal strength in dBm when a Bluetooth scan found it (the
    /// nearer terminal is usually the stronger), else `None`.
    #[uniffi(default = None)]
    pub rssi: Option<i16>,
    /// The Bluetooth peripheral to connect to when the source is `Ble`, as
    /// the platform names it (an address on Android and Linux, a UUID on
    /// iOS), else `None`.
    #[uniffi(default = None)]
    pub ble_id: Option<String>,
}
