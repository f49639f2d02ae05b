//! The terminal's configuration: a TOML file (`wayfare-terminal --config
//! FILE`) or a [`TerminalConfig`] built in code.
//!
//! ```toml
//! server_url = "http://127.0.0.1:8080"
//! data_dir = "/var/lib/wayfare-terminal"
//! listen = "127.0.0.1:0"
//! control_listen = "127.0.0.1:0"
//! operator_key = "base64url Ed25519 public key"
//! receipt_key = "base64url Ed25519 public key"
//! terminal_id = "term_..."
//! # key_file = "terminal.key"          (default: DATA_DIR/terminal.key)
//! # certificate_file = "terminal.cert" (default: DATA_DIR/terminal.cert)
//! # server_ca_file = "ca.pem"          (a private CA the control center's
//! #                                     HTTPS certificate chains to)
//!
//! [mode]
//! kind = "tram"
//! fare_minor = 200
//! currency = "CNY"
//! line = "T1"
//! vehicle = "tram 1207"
//! direction_from = "Airport"
//! direction_towards = "Harbour"
//! station = "Central"
//! station_index = 4
//! request_ttl_ms = 60000
//! # The line's stops, so the station can change while the tram runs
//! # (absent: the station above never changes). `station` must be one.
//! stops = [
//!   { id = "S3", name = "Museum", index = 3 },
//!   { id = "S4", name = "Central", index = 4 },
//!   { id = "S5", name = "Harbour", index = 5 },
//! ]
//!
//! [position]                 # a GTFS-Realtime vehicle position feed; absent: off
//! feed_url = "http://127.0.0.1:8000/vehicle-positions.pb"   # or feed_file = "..."
//! # poll_ms = 5000
//! # max_age_ms = 90000       older positions are not applied; the stop is flagged stale
//! # vehicle_id = "1207"      the feed's vehicle id or label (default: mode.vehicle)
//! # route_id = "T1"          only positions on this route / trip
//! # trip_id = "..."
//!
//! [linkage]
//! kind = "command"
//! open = ["/usr/local/bin/gate", "open"]
//! close = ["/usr/local/bin/gate", "close"]
//!
//! [mdns]
//! enabled = true
//! interfaces = "loopback"   # or "all", or ["eth0"]
//!
//! [ble]                      # phones over Bluetooth LE (BlueZ); absent: off
//! adapter = "hci0"
//!
//! [nfc]                      # NFC taps on a PC/SC reader (pcscd); absent: off
//! reader = "ACS ACR122U"     # the reader's name or its start; absent: the first
//!
//! [express]                  # offline express taps (tram mode; default on)
//! # enabled = true
//! # max_deny_list_age_ms = 86400000    refuse express taps on an older deny list
//! # deny_list_sync_ms = 60000
//!
//! [connections]              # phones still in the handshake
//! max_handshakes = 64
//! max_handshakes_per_peer = 4
//!
//! [control]                  # the local control interface
//! # require_token = true
//! # token_file = "control-token"          (default: DATA_DIR/control-token)
//! # allowed_origins = ["http://localhost:5173"]
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::{validate_amount, Currency};

use crate::error::{Result, TerminalError};
pub use crate::tap_config::{TapConfig, TapRole};
pub use crate::top_up::TopUpConfig;
use ble::BleConfig;
use express::ExpressConfig;
pub use linkage::{CommandLinkageConfig, LinkageConfig};
pub use mdns::{MdnsConfig, MdnsInterfaces};
use nfc::NfcConfig;
pub use position::{PositionConfig, StopConfig};

pub(crate) mod ble;
pub(crate) mod express;
mod linkage;
mod mdns;
pub(crate) mod nfc;
pub(crate) mod position;

/// Everything the terminal daemon needs to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// Base URL of the control center, e.g. `http://127.0.0.1:8080`.
    pub server_url: String,
    /// Directory for the durable report queue and, by default, the key and
    /// certificate files.
    pub data_dir: PathBuf,
    /// Where phones connect (TCP). Port 0 picks a free port.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the local control interface (POS sales, status) listens. Must
    /// be a loopback address (see [`ControlConfig`] for who may call it).
    #[serde(default = "default_listen")]
    pub control_listen: SocketAddr,
    /// The operator's public key (pinned), which issued our certificate.
    pub operator_key: PublicKey,
    /// The payment server's receipt key (pinned).
    pub receipt_key: PublicKey,
    /// The terminal id named by the certificate.
    pub terminal_id: String,
    /// The Ed25519 seed of the terminal key; created (mode 0600) on first
    /// start. Default: `DATA_DIR/terminal.key`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The operator-issued certificate (base64url COSE). Default:
    /// `DATA_DIR/terminal.cert`.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// A PEM file of root CA certificates trusted for the control center's
    /// HTTPS certificate besides the system's roots: a private deployment
    /// whose server certificate is issued by its own CA. Default: none.
    #[serde(default)]
    pub server_ca_file: Option<PathBuf>,
    /// What this terminal sells: POS sales or tram fares.
    pub mode: ModeConfig,
    /// The linkage device switched on when a payment is confirmed.
    #[serde(default)]
    pub linkage: LinkageConfig,
    /// mDNS/DNS-SD advertisement.
    #[serde(default)]
    pub mdns: MdnsConfig,
    /// NFC taps on a PC/SC reader; absent: no NFC.
    #[serde(default)]
    pub nfc: Option<NfcConfig>,
    /// Offline express taps over NFC (tram mode).
    #[serde(default)]
    pub express: ExpressConfig,
    /// Phones over Bluetooth LE on a BlueZ adapter; absent: no Bluetooth.
    #[serde(default)]
    pub ble: Option<BleConfig>,
    /// Session timeouts.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Caps on phone connections that have not finished the handshake.
    #[serde(default)]
    pub connections: ConnectionLimits,
    /// Who may call the local control interface.
    #[serde(default)]
    pub control: ControlConfig,
    /// Tram: the vehicle position feed moving the current stop; absent:
    /// the stop moves only through the control interface.
    #[serde(default)]
    pub position: Option<PositionConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The terminal's mode of operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModeConfig {
    /// A point of sale: amounts are entered per sale through the control
    /// interface.
    Pos(PosConfig),
    /// A tram's on-board reader charging a flat fare on boarding (P1).
    Tram(TramConfig),
    /// A tram reader or station/parking gate doing tap-in/tap-out: a
    /// signed tap-in token on entry, the fare-table price on exit (P3.6).
    TapInOut(TapConfig),
    /// A counter or station kiosk: the cashier enters the cash received
    /// and the rider's phone claims it as wallet money (P1, P5).
    TopUp(TopUpConfig),
}

impl ModeConfig {
    /// The currency of every request this terminal makes.
    pub fn currency(&self) -> &Currency {
        match self {
            ModeConfig::Pos(p) => &p.currency,
            ModeConfig::Tram(t) => &t.currency,
            ModeConfig::TapInOut(t) => &t.currency,
            ModeConfig::TopUp(t) => &t.currency,
        }
    }

    /// How long a payment request stays payable.
    pub fn request_ttl_ms(&self) -> u64 {
        match self {
            ModeConfig::Pos(p) => p.request_ttl_ms,
            ModeConfig::Tram(t) => t.request_ttl_ms,
            ModeConfig::TapInOut(t) => t.request_ttl_ms,
            ModeConfig::TopUp(t) => t.offer_ttl_ms,
        }
    }

    /// Whether a certificate of `kind` may run in this mode.
    pub fn accepts_kind(&self, kind: TerminalKind) -> bool {
        match self {
            ModeConfig::Pos(_) => kind == TerminalKind::Pos,
            ModeConfig::TopUp(_) => kind == TerminalKind::TopUp,
            ModeConfig::Tram(_) | ModeConfig::TapInOut(_) => {
                matches!(kind, TerminalKind::Tram | TerminalKind::Gate)
            }
        }
    }
}

fn default_ttl() -> u64 {
    60_000
}

/// Point-of-sale settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosConfig {
    /// Currency of the sales.
    pub currency: Currency,
    /// How long a payment request stays payable (ms).
    #[serde(default = "default_ttl")]
    pub request_ttl_ms: u64,
}

/// Tram flat-fare settings: where the vehicle is (P1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TramConfig {
    /// The flat fare, in minor units.
    pub fare_minor: u64,
    /// Currency of the fare.
    pub currency: Currency,
    /// Line name, e.g. "T1".
    pub line: String,
    /// Vehicle identifier, e.g. "tram 1207".
    pub vehicle: String,
    /// Terminus the vehicle comes from.
    pub direction_from: String,
    /// Terminus the vehicle heads to.
    pub direction_towards: String,
    /// The station the vehicle is at when the terminal starts.
    pub station: String,
    /// Position of that station on the line.
    pub station_index: u32,
    /// How long a payment request stays payable (ms).
    #[serde(default = "default_ttl")]
    pub request_ttl_ms: u64,
    /// The line's stops, so the current station can change while the tram
    /// runs (control interface, position feed); empty: it never changes.
    #[serde(default)]
    pub stops: Vec<StopConfig>,
}

/// Checks the line's stop list against the configured station: ids and
/// names present, ids and indices unique, `station` one of the stops at
/// `station_index`. An empty list is fine: the static station stays.
pub fn validate_stops(tram: &TramConfig) -> Result<(), String> {
    let stops = &tram.stops;
    for (i, s) in stops.iter().enumerate() {
        if s.id.trim().is_empty() {
            return Err(format!("mode.stops[{i}].id is empty"));
        }
        if s.name.trim().is_empty() {
            return Err(format!("mode.stops[{i}] ({}): name is empty", s.id));
        }
        if stops[..i].iter().any(|o| o.id == s.id) {
            return Err(format!("mode.stops: stop id {:?} appears twice", s.id));
        }
        if stops[..i].iter().any(|o| o.index == s.index) {
            return Err(format!("mode.stops: index {} appears twice", s.index));
        }
    }
    if !stops.is_empty() {
        match stops.iter().find(|s| s.name == tram.station) {
            None => {
                return Err(format!(
                    "mode.station {:?} is not one of mode.stops",
                    tram.station
                ))
            }
            Some(s) if s.index != tram.station_index => {
                return Err(format!(
                    "mode.station_index {} differs from the index {} of {:?} in mode.stops",
                    tram.station_index, s.index, s.name
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Timeouts of a phone session, all in milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// Longest time from a phone's connection to the end of the handshake
    /// (its hello read, our answer written). A connection still in the
    /// handshake does not hold the terminal; after this it is dropped.
    pub handshake_ms: u64,
    /// Longest wait for any other phone message or socket write (the wait
    /// for a receipt is bounded by the request's expiry instead).
    pub step_ms: u64,
    /// POS: longest time a session may sit idle holding the terminal while
    /// no sale is entered; then the phone is told `Expired` and the
    /// terminal is free again. The default matches the phone's own wait
    /// for a request (120 s), so the terminal never holds itself for a
    /// phone that already gave up without closing the connection.
    pub sale_wait_ms: u64,
    /// Longest time spent getting the platform's confirmation of a receipt.
    pub confirm_ms: u64,
    /// The retry hint sent with `Busy`.
    pub busy_retry_after_ms: u64,
    /// How long after a request's expiry an in-doubt sale is still asked
    /// about before it is settled as unpaid: covers clock skew between
    /// this terminal and the payment server (which never commits a payment
    /// after the request's expiry by its own clock).
    pub in_doubt_grace_ms: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            handshake_ms: 10_000,
            step_ms: 30_000,
            sale_wait_ms: 120_000,
            confirm_ms: 15_000,
            busy_retry_after_ms: 2_000,
            in_doubt_grace_ms: 5_000,
        }
    }
}

/// Caps on phone connections that have not finished the handshake (an
/// anonymous connection costs the peer nothing, so they are limited).
/// Connections over a cap are closed at once, unread.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Connections in the handshake at once, from all peers.
    pub max_handshakes: usize,
    /// Connections in the handshake at once from one peer address (for
    /// IPv6, one /64 network).
    pub max_handshakes_per_peer: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_handshakes: 64,
            max_handshakes_per_peer: 4,
        }
    }
}

/// Who may call the local control interface. It listens on loopback only,
/// but a web page open on the POS host can still send requests to loopback,
/// so every request must name a loopback `Host` (no DNS rebinding), carry no
/// `Origin` outside [`ControlConfig::allowed_origins`], carry the bearer
/// token (unless [`ControlConfig::require_token`] is off), and state-changing
/// requests must be `Content-Type: application/json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Require `Authorization: Bearer <token>` on every request.
    pub require_token: bool,
    /// The token file; created (mode 0600) with a fresh random token on
    /// first start. Default: `DATA_DIR/control-token`.
    pub token_file: Option<PathBuf>,
    /// Web origins (e.g. `"http://localhost:5173"`) whose pages may call
    /// the interface (answered with CORS headers). Requests carrying any
    /// other `Origin` header are refused. Default: none.
    pub allowed_origins: Vec<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            require_token: true,
            token_file: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl TerminalConfig {
    /// Parses TOML text. Relative paths stay relative to the working
    /// directory; use [`TerminalConfig::from_file`] to resolve them against
    /// the file's directory.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: TerminalConfig =
            toml::from_str(text).map_err(|e| TerminalError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and validates a TOML file; relative paths in it are resolved
    /// against the file's directory.
    pub async fn from_file(path: &Path) -> Result<Self> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(TerminalError::file("cannot read configuration file", path))?;
        let mut config = Self::from_toml_str(&text).map_err(|e| match e {
            TerminalError::Config(m) => TerminalError::Config(format!("{}: {m}", path.display())),
            other => other,
        })?;
        config.resolve_paths(path.parent().unwrap_or_else(|| Path::new(".")));
        Ok(config)
    }

    /// Makes the relative paths of the configuration relative to `base`
    /// (the configuration file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        self.data_dir = base.join(&self.data_dir);
        self.key_file = self.key_file.take().map(|p| base.join(p));
        self.certificate_file = self.certificate_file.take().map(|p| base.join(p));
        self.server_ca_file = self.server_ca_file.take().map(|p| base.join(p));
        self.control.token_file = self.control.token_file.take().map(|p| base.join(p));
        if let Some(position) = &mut self.position {
            position.feed_file = position.feed_file.take().map(|p| base.join(p));
        }
    }

    /// The key file path (configured or `DATA_DIR/terminal.key`).
    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("terminal.key"))
    }

    /// The control interface's token file (configured or
    /// `DATA_DIR/control-token`).
    pub fn control_token_path(&self) -> PathBuf {
        self.control
            .token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("control-token"))
    }

    /// The certificate file path (configured or `DATA_DIR/terminal.cert`).
    pub fn certificate_path(&self) -> PathBuf {
        self.certificate_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("terminal.cert"))
    }

    /// Checks the values that serde cannot: URL, loopback control address,
    /// amounts, non-empty names, linkage commands.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TerminalError::Config(m));
        if let Err(e) = wayfare_protocol::transport::check_server_url(&self.server_url) {
            return bad(format!("server_url: {e}"));
        }
        if self.terminal_id.trim().is_empty() {
            return bad("terminal_id is empty".into());
        }
        if !self.control_listen.ip().is_loopback() {
            return bad(format!(
                "control_listen {} is not a loopback address; the control interface serves only this machine",
                self.control_listen
            ));
        }
        for origin in &self.control.allowed_origins {
            let ok = reqwest::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.origin().ascii_serialization() == *origin
            });
            if !ok {
                return bad(format!(
                    "control.allowed_origins: {origin:?} is not an origin like \"http://localhost:5173\" (scheme, host and port only, no path or trailing slash)"
                ));
            }
        }
        let c = &self.connections;
        if c.max_handshakes == 0 || c.max_handshakes_per_peer == 0 {
            return bad(
                "connections.max_handshakes and max_handshakes_per_peer must be positive".into(),
            );
        }
        let ttl = self.mode.request_ttl_ms();
        if !(1_000..=3_600_000).contains(&ttl) {
            return bad(format!(
                "request_ttl_ms = {ttl} must be between 1000 and 3600000"
            ));
        }
        if let ModeConfig::Tram(t) = &self.mode {
            validate_amount(i128::from(t.fare_minor))
                .map_err(|e| TerminalError::Config(format!("fare_minor: {e}")))?;
            for (name, value) in [
                ("line", &t.line),
                ("vehicle", &t.vehicle),
                ("direction_from", &t.direction_from),
                ("direction_towards", &t.direction_towards),
                ("station", &t.station),
            ] {
                if value.trim().is_empty() {
                    return bad(format!("mode.{name} is empty"));
                }
            }
            validate_stops(t).map_err(TerminalError::Config)?;
        }
        if let Some(p) = &self.position {
            let ModeConfig::Tram(t) = &self.mode else {
                return bad("[position] applies only to tram mode".into());
            };
            p.validate(&t.stops).map_err(TerminalError::Config)?;
        }
        if let ModeConfig::TapInOut(t) = &self.mode {
            t.validate()?;
        }
        if let ModeConfig::TopUp(t) = &self.mode {
            t.validate().map_err(TerminalError::Config)?;
        }
        if let LinkageConfig::Command(c) = &self.linkage {
            if c.open.is_empty() || c.open[0].trim().is_empty() {
                return bad("linkage.open must name a program to run".into());
            }
        }
        let t = &self.timeouts;
        for (name, v) in [
            ("handshake_ms", t.handshake_ms),
            ("step_ms", t.step_ms),
            ("sale_wait_ms", t.sale_wait_ms),
            ("confirm_ms", t.confirm_ms),
        ] {
            if v == 0 {
                return bad(format!("timeouts.{name} must be positive"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
