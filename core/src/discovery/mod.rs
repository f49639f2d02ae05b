//! Finding access terminals (`wallet.terminals()`): the core's own mDNS
//! browser ([`mdns`]), a BLE scan ([`ble`], feature `ble`), every source
//! merged into one list nearest first ([`nearby`], `watch_nearby`), and
//! connecting to a terminal found by any source (LAN, BLE, NFC or typed
//! in).

#[cfg(feature = "ble")]
pub(crate) mod ble;
pub(crate) mod mdns;
pub(crate) mod nearby;
pub(crate) mod types;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use wayfare_protocol::gatt::link::{attach, FragmentSink, FragmentSource};
use wayfare_protocol::ids::redact;

use crate::clock::now_ms;
use crate::error::WalletError;
use crate::listener::DiscoveryListener;
use crate::session::terminal_session::HANDSHAKE_TIMEOUT;
use crate::session::transport::FramedStream;
use crate::session::{handshake, SessionError, TerminalInfo, TerminalSession};
use crate::wallet::WalletInner;

pub use mdns::DiscoveryHandle;
pub use nearby::{
    NearbyHandle, NearbyListener, NearbyOptions, NearbySource, NearbyTerminal, PlatformDiscovery,
    PlatformDiscoverySink, PlatformService,
};
pub use types::{DiscoveredTerminal, DiscoverySource, TerminalKind};

/// What can go wrong while discovering terminals.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoveryError {
    /// The mDNS daemon failed.
    #[error("mDNS: {0}")]
    Mdns(#[from] mdns_sd::Error),
    /// No Bluetooth adapter, Bluetooth off, or no permission.
    #[error("{0}")]
    #[cfg_attr(not(feature = "ble"), allow(dead_code))]
    BluetoothUnavailable(String),
    /// A BLE scan failed after it started.
    #[error("Bluetooth scan failed: {0}")]
    #[cfg_attr(not(feature = "ble"), allow(dead_code))]
    Ble(String),
}

impl From<DiscoveryError> for WalletError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::BluetoothUnavailable(reason) => {
                WalletError::BluetoothUnavailable { reason }
            }
            other => WalletError::Discovery {
                reason: other.to_string(),
            },
        }
    }
}

/// Terminal discovery and sessions. Get it with `wallet.terminals()`.
#[derive(uniffi::Object)]
pub struct TerminalsApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for TerminalsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TerminalsApi")
    }
}

impl TerminalsApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }

    /// The wallet this API belongs to.
    pub(crate) fn inner(&self) -> &Arc<WalletInner> {
        &self.inner
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl TerminalsApi {
    /// Browses mDNS on the configured scope for `timeout_ms` and returns the
    /// terminals seen (and not withdrawn), sorted by merchant name.
    pub async fn discover(&self, timeout_ms: u64) -> Result<Vec<DiscoveredTerminal>, WalletError> {
        let timeout = Duration::from_millis(timeout_ms.clamp(1, 60_000));
        Ok(mdns::discover(self.inner.config.mdns_scope, timeout).await?)
    }

    /// Starts a continuous mDNS browse; terminals are reported to `listener`
    /// from a background thread until the returned handle is cancelled or
    /// dropped. If the browser cannot start, the handle reports it in
    /// `error()` and nothing is reported to the listener.
    pub fn start_discovery(&self, listener: Arc<dyn DiscoveryListener>) -> Arc<DiscoveryHandle> {
        Arc::new(mdns::start(self.inner.config.mdns_scope, listener))
    }

    /// Connects to a terminal and runs the handshake: the terminal must
    /// present a certificate issued by the pinned operator key, naming the
    /// advertised terminal id, and sign the transcript with the certified
    /// key; otherwise `TerminalUntrusted` and nothing else happens. When the
    /// device is registered, its pseudonymous handle (never a phone number)
    /// is then sent to the terminal.
    pub async fn connect(
        &self,
        terminal: DiscoveredTerminal,
    ) -> Result<Arc<TerminalSession>, WalletError> {
        if terminal.source == DiscoverySource::Ble {
            return self.connect_ble(terminal).await;
        }
        if terminal.host.trim().is_empty() || terminal.port == 0 {
            return Err(WalletError::invalid("the terminal has no host or port"));
        }
        let operator = self.inner.operator_key().await?;
        let expected = Some(terminal.terminal_id.as_str()).filter(|t| !t.is_empty());
        tracing::info!(target: "wayfare_core::session", terminal = %redact(&terminal.terminal_id), "connecting");

        let connect = TcpStream::connect((terminal.host.trim(), terminal.port));
        let tcp = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
            .await
            .map_err(|_| {
                SessionError::Connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            })?
            .map_err(SessionError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let session = establish(
            self.inner.clone(),
            FramedStream::new(Box::new(tcp)),
            operator,
            expected.map(str::to_string),
        )
        .await?;
        Ok(Arc::new(session))
    }
}

impl TerminalsApi {
    /// Connects over Bluetooth LE to the peripheral a BLE scan found, and
    /// runs the same handshake and session as over TCP through the GATT
    /// fragment layer.
    #[cfg(feature = "ble")]
    async fn connect_ble(
        &self,
        terminal: DiscoveredTerminal,
    ) -> Result<Arc<TerminalSession>, WalletError> {
        let ble_id = terminal
            .ble_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| WalletError::invalid("the terminal has no Bluetooth identifier"))?;
        tracing::info!(target: "wayfare_core::session", terminal = %redact(&terminal.terminal_id), "connecting over Bluetooth");
        let (mtu, sink, source) = tokio::time::timeout(HANDSHAKE_TIMEOUT, ble::open_link(&ble_id))
            .await
            .map_err(|_| SessionError::Timeout(HANDSHAKE_TIMEOUT.as_secs()))??;
        self.connect_gatt_link(&terminal, mtu, sink, source).await
    }

    /// Without the `ble` feature there is no Bluetooth stack to connect with.
    #[cfg(not(feature = "ble"))]
    async fn connect_ble(
        &self,
        _terminal: DiscoveredTerminal,
    ) -> Result<Arc<TerminalSession>, WalletError> {
        Err(WalletError::BluetoothUnavailable {
            reason: "this build of the wallet has no Bluetooth support".into(),
        })
    }

    /// Runs a session with `terminal` over a GATT link of ATT MTU `mtu`
    /// that the caller connected: `sink` sends the phone's fragments (GATT
    /// writes), `source` yields the terminal's (notifications). The
    /// Bluetooth connect above uses it with btleplug's link; Rust callers
    /// (tests, a desktop wallet) can bring another one, such as
    /// `wayfare_protocol::gatt::link::memory_link`. Not exported to the
    /// apps: btleplug is their Bluetooth stack, reached through
    /// `connect` with a terminal from `discover_ble`.
    pub async fn connect_gatt_link<K: FragmentSink, S: FragmentSource>(
        &self,
        terminal: &DiscoveredTerminal,
        mtu: u16,
        sink: K,
        source: S,
    ) -> Result<Arc<TerminalSession>, WalletError> {
        let stream = attach(mtu, sink, source)
            .map_err(|e| WalletError::invalid(format!("Bluetooth link: {e}")))?;
        let operator = self.inner.operator_key().await?;
        let expected = Some(terminal.terminal_id.clone()).filter(|t| !t.is_empty());
        let session = establish(
            self.inner.clone(),
            FramedStream::new(Box::new(stream)),
            operator,
            expected,
        )
        .await?;
        Ok(Arc::new(session))
    }
}

/// Runs the handshake over a connected stream (TCP, or NFC's APDU bridge)
/// within [`HANDSHAKE_TIMEOUT`] and returns the verified session. Owns its
/// arguments so that the NFC card can keep the future between APDUs.
pub(crate) async fn establish(
    inner: Arc<WalletInner>,
    mut stream: FramedStream,
    operator: wayfare_protocol::keys::PublicKey,
    expected: Option<String>,
) -> Result<TerminalSession, SessionError> {
    let established = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::run(&mut stream, &operator, expected.as_deref(), now_ms()),
    )
    .await
    .map_err(|_| SessionError::Timeout(HANDSHAKE_TIMEOUT.as_secs()))??;

    let info = TerminalInfo::from(&established.terminal);
    // Nothing about the rider is sent here: the identity step (P3.5)
    // happens only when the app asks (`TerminalSession::identify`).
    tracing::info!(target: "wayfare_core::session", terminal = %redact(&info.terminal_id), "terminal verified");
    Ok(TerminalSession::new(
        inner,
        info,
        stream,
        established.channel,
    ))
}

#[cfg(feature = "ble")]
#[uniffi::export(async_runtime = "tokio")]
impl TerminalsApi {
    /// Scans Bluetooth LE for `timeout_ms` for terminals advertising the
    /// Wayfare service. Fails with `BluetoothUnavailable` when there is no
    /// adapter, Bluetooth is off or not permitted. (Feature `ble`.)
    pub async fn discover_ble(
        &self,
        timeout_ms: u64,
    ) -> Result<Vec<DiscoveredTerminal>, WalletError> {
        let timeout = Duration::from_millis(timeout_ms.clamp(1, 60_000));
        Ok(ble::scan(timeout).await?)
    }
}
