//! A whole Wayfare system on one machine: a control center, access
//! terminals and wallets, each real, talking over loopback in temporary
//! directories. The demo narrates it; the whole-system tests assert on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use wayfare_core::{
    DiscoveredTerminal, DiscoverySource, InMemoryKeyStore, MdnsScope, Wallet, WalletConfig,
};
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::Currency;
use wayfare_server::{FundingConfig, RunningServer, ServerConfig, ServerOptions};
use wayfare_terminal::config::{
    ConnectionLimits, ControlConfig, LinkageConfig, MdnsConfig, ModeConfig, PosConfig,
    TimeoutConfig, TopUpConfig, TramConfig,
};
use wayfare_terminal::{EnrollRequest, RunningTerminal, TerminalConfig, TerminalLocation};

use crate::admin::{AdminClient, Merchant};

/// The control center plus the operator's console, in a directory that is
/// removed when the system is dropped (unless it was given by the caller).
pub struct LocalSystem {
    root: PathBuf,
    _temp: Option<tempfile::TempDir>,
    server: Option<RunningServer>,
    listen: SocketAddr,
    base_url: String,
    admin: AdminClient,
    database_url: Option<String>,
    funding: FundingConfig,
    next_dir: std::sync::atomic::AtomicUsize,
}

/// The time zone of the demo's and tests' transit network (China, UTC+8),
/// used for the local times in guardian alerts.
pub const LOCAL_UTC_OFFSET_MINUTES: i64 = 480;

/// Where a tram is and what it charges.
#[derive(Clone, Debug)]
pub struct TramSetup {
    /// Flat fare in minor units.
    pub fare_minor: u64,
    /// Line name.
    pub line: String,
    /// Vehicle name.
    pub vehicle: String,
    /// Terminus the tram comes from.
    pub direction_from: String,
    /// Terminus the tram heads to.
    pub direction_towards: String,
    /// Current station.
    pub station: String,
    /// Current station's position on the line.
    pub station_index: u32,
    /// The line's stops, so the tram can move (empty: it stays at
    /// `station`).
    pub stops: Vec<wayfare_terminal::config::StopConfig>,
}

impl Default for TramSetup {
    fn default() -> Self {
        Self {
            fare_minor: 200,
            line: "T1".into(),
            vehicle: "tram 1207".into(),
            direction_from: "Harbour".into(),
            direction_towards: "University".into(),
            station: "Central Square".into(),
            station_index: 4,
            stops: Vec::new(),
        }
    }
}

/// Options of a terminal started by [`LocalSystem`].
#[derive(Clone, Debug)]
pub struct TerminalOptions {
    /// Advertise over mDNS on loopback.
    pub advertise: bool,
    /// How long a payment request stays payable.
    pub request_ttl_ms: u64,
    /// Control center URL the terminal talks to (default: the system's).
    pub server_url: Option<String>,
    /// How long past a request's expiry an in-doubt sale is still asked
    /// about (default: the terminal's, 5 s).
    pub in_doubt_grace_ms: Option<u64>,
    /// Take NFC taps on this PC/SC reader (see `wayfare_terminal::nfc`).
    pub nfc: Option<wayfare_terminal::nfc::NfcConfig>,
    /// Express-tap settings (default: on in tram mode, deny list every 60 s).
    pub express: wayfare_terminal::express::ExpressConfig,
    /// Serve phones over Bluetooth LE on this BlueZ adapter (see
    /// `wayfare_terminal::ble`).
    pub ble: Option<wayfare_terminal::ble::BleConfig>,
    /// Tram: a GTFS-Realtime vehicle position feed moving the stop.
    pub position: Option<wayfare_terminal::config::PositionConfig>,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        Self {
            advertise: false,
            request_ttl_ms: 60_000,
            server_url: None,
            in_doubt_grace_ms: None,
            nfc: None,
            ble: None,
            express: wayfare_terminal::express::ExpressConfig::default(),
            position: None,
        }
    }
}

impl LocalSystem {
    /// Starts a control center on a free loopback port in a temporary
    /// directory, with SQLite.
    pub async fn start() -> Result<Self> {
        let temp = tempfile::Builder::new().prefix("wayfare-").tempdir()?;
        let root = temp.path().to_path_buf();
        Self::start_at(root, Some(temp), None, FundingConfig::default()).await
    }

    /// Like [`LocalSystem::start`] but on the given database URL
    /// (e.g. PostgreSQL); SQLite when `None`.
    pub async fn start_with_database(database_url: Option<String>) -> Result<Self> {
        let temp = tempfile::Builder::new().prefix("wayfare-").tempdir()?;
        let root = temp.path().to_path_buf();
        Self::start_at(root, Some(temp), database_url, FundingConfig::default()).await
    }

    /// Like [`LocalSystem::start_with_database`], offering riders
    /// over-the-air top-up through the `funding` providers.
    pub async fn start_with_funding(
        database_url: Option<String>,
        funding: FundingConfig,
    ) -> Result<Self> {
        let temp = tempfile::Builder::new().prefix("wayfare-").tempdir()?;
        let root = temp.path().to_path_buf();
        Self::start_at(root, Some(temp), database_url, funding).await
    }

    async fn start_at(
        root: PathBuf,
        temp: Option<tempfile::TempDir>,
        database_url: Option<String>,
        funding: FundingConfig,
    ) -> Result<Self> {
        crate::install_crypto_provider();
        let config = ServerConfig {
            data_dir: root.join("server"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.clone(),
            tls: None,
        };
        let options = ServerOptions {
            funding: funding.clone(),
            ..ServerOptions::default()
        };
        let server = wayfare_server::start_with(config, options)
            .await
            .context("starting the control center")?;
        let admin = AdminClient::new(&server.base_url(), &server.admin_token())?;
        Ok(Self {
            root,
            _temp: temp,
            listen: server.addr(),
            base_url: server.base_url(),
            server: Some(server),
            admin,
            database_url,
            funding,
            next_dir: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The control center, while it runs.
    pub fn server(&self) -> Option<&RunningServer> {
        self.server.as_ref()
    }

    /// The control center's URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The control center's socket address.
    pub fn server_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The operator console.
    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    /// The directory everything lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh directory under the root, named after `what`.
    pub fn new_dir(&self, what: &str) -> PathBuf {
        let n = self
            .next_dir
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.root.join(format!("{what}-{n}"))
    }

    /// Stops the control center (the data stays), e.g. to test outages.
    pub async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Starts the control center again on the same data and port.
    pub async fn restart_server(&mut self) -> Result<()> {
        self.stop_server().await;
        let config = ServerConfig {
            data_dir: self.root.join("server"),
            listen: self.listen,
            database_url: self.database_url.clone(),
            tls: None,
        };
        let options = ServerOptions {
            funding: self.funding.clone(),
            ..ServerOptions::default()
        };
        let server = wayfare_server::start_with(config, options)
            .await
            .context("restarting the control center")?;
        self.server = Some(server);
        Ok(())
    }

    /// Creates a merchant (or transit operator) with its ledger account.
    pub async fn merchant(&self, name: &str, currency: &str) -> Result<Merchant> {
        self.admin.create_merchant(name, currency).await
    }

    /// Enrolls and starts a POS terminal for `merchant`.
    pub async fn pos_terminal(
        &self,
        merchant: &Merchant,
        currency: &str,
        options: TerminalOptions,
    ) -> Result<RunningTerminal> {
        let mode = ModeConfig::Pos(PosConfig {
            currency: Currency::parse(currency)?,
            request_ttl_ms: options.request_ttl_ms,
        });
        self.terminal(merchant, TerminalKind::Pos, mode, None, options)
            .await
    }

    /// Enrolls and starts a counter/kiosk top-up terminal for `merchant`
    /// (offers stay open for `options.request_ttl_ms`, at most 10 min).
    pub async fn top_up_terminal(
        &self,
        merchant: &Merchant,
        currency: &str,
        options: TerminalOptions,
    ) -> Result<RunningTerminal> {
        let mode = ModeConfig::TopUp(TopUpConfig {
            currency: Currency::parse(currency)?,
            offer_ttl_ms: options
                .request_ttl_ms
                .min(wayfare_protocol::top_up::MAX_OFFER_LIFETIME_MS),
            max_amount_minor: 50_000,
        });
        self.terminal(merchant, TerminalKind::TopUp, mode, None, options)
            .await
    }

    /// Enrolls and starts a tram reader charging a flat fare.
    pub async fn tram_terminal(
        &self,
        merchant: &Merchant,
        currency: &str,
        tram: &TramSetup,
        options: TerminalOptions,
    ) -> Result<RunningTerminal> {
        self.flat_fare_terminal(merchant, TerminalKind::Tram, currency, tram, options)
            .await
    }

    /// Enrolls and starts a flat-fare terminal of `kind`: a tram reader, or
    /// a station gate charging one fare (where express taps apply).
    pub async fn flat_fare_terminal(
        &self,
        merchant: &Merchant,
        kind: TerminalKind,
        currency: &str,
        tram: &TramSetup,
        options: TerminalOptions,
    ) -> Result<RunningTerminal> {
        let location = TerminalLocation {
            line: tram.line.clone(),
            vehicle: tram.vehicle.clone(),
            station: tram.station.clone(),
            station_index: Some(tram.station_index),
            tap_role: None,
            direction_from: tram.direction_from.clone(),
            direction_towards: tram.direction_towards.clone(),
            utc_offset_minutes: Some(LOCAL_UTC_OFFSET_MINUTES),
        };
        let mode = ModeConfig::Tram(TramConfig {
            fare_minor: tram.fare_minor,
            currency: Currency::parse(currency)?,
            line: tram.line.clone(),
            vehicle: tram.vehicle.clone(),
            direction_from: tram.direction_from.clone(),
            direction_towards: tram.direction_towards.clone(),
            station: tram.station.clone(),
            station_index: tram.station_index,
            request_ttl_ms: options.request_ttl_ms,
            stops: tram.stops.clone(),
        });
        self.terminal(merchant, kind, mode, Some(location), options)
            .await
    }

    /// Enrolls a terminal of any mode with the control center, then starts it.
    pub async fn terminal(
        &self,
        merchant: &Merchant,
        kind: TerminalKind,
        mode: ModeConfig,
        location: Option<TerminalLocation>,
        options: TerminalOptions,
    ) -> Result<RunningTerminal> {
        let data_dir = self.new_dir("terminal");
        let key =
            wayfare_terminal::keys::load_or_create_key(&data_dir.join("terminal.key")).await?;
        let enrollment = wayfare_terminal::enroll(
            &self.base_url,
            &self.admin_token(),
            EnrollRequest {
                merchant_id: merchant.merchant_id.clone(),
                kind,
                label: Some(format!("{} {}", merchant.name, kind.as_str())),
                location,
                valid_for_days: None,
            },
            &key,
        )
        .await
        .context("enrolling the terminal")?;
        wayfare_terminal::keys::save_certificate(
            &data_dir.join("terminal.cert"),
            &enrollment.certificate,
        )
        .await?;
        let config = TerminalConfig {
            server_url: options
                .server_url
                .clone()
                .unwrap_or_else(|| self.base_url.clone()),
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            control_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            operator_key: enrollment.operator_key,
            receipt_key: enrollment.receipt_key,
            terminal_id: enrollment.terminal_id,
            key_file: None,
            certificate_file: None,
            server_ca_file: None,
            mode,
            linkage: LinkageConfig::default(),
            mdns: MdnsConfig {
                enabled: options.advertise,
                ..MdnsConfig::default()
            },
            nfc: options.nfc.clone(),
            express: options.express.clone(),
            ble: options.ble.clone(),
            timeouts: TimeoutConfig {
                in_doubt_grace_ms: options
                    .in_doubt_grace_ms
                    .unwrap_or(TimeoutConfig::default().in_doubt_grace_ms),
                ..TimeoutConfig::default()
            },
            connections: ConnectionLimits::default(),
            control: ControlConfig::default(),
            position: options.position.clone(),
        };
        wayfare_terminal::start(config)
            .await
            .context("starting the terminal")
    }

    /// The operator's admin token.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.root.join("server").join("admin-token"))
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    }

    /// Opens a wallet in a new directory, registers it and returns it with
    /// its directory and key store (to reopen it later).
    pub async fn rider(&self, name: &str, phone: Option<&str>) -> Result<RiderWallet> {
        let dir = self.new_dir("wallet");
        let key_store = InMemoryKeyStore::new();
        let wallet = open_wallet(&dir, &self.base_url, key_store.clone()).await?;
        wallet
            .account()
            .register(name.to_string(), phone.map(str::to_string))
            .await
            .context("registering the wallet")?;
        Ok(RiderWallet {
            wallet,
            dir,
            key_store,
            server_url: self.base_url.clone(),
        })
    }

    /// An account's balance in minor units, as the control center has it
    /// (0 when the account cannot be read).
    pub async fn balance_of(&self, account_id: &str) -> i64 {
        self.admin
            .account(account_id)
            .await
            .map(|a| a.balance_minor)
            .unwrap_or_default()
    }

    /// Funds a wallet's account from the sandbox funding source.
    pub async fn fund(&self, rider: &RiderWallet, amount_minor: u64) -> Result<i64> {
        let info = rider
            .wallet
            .account()
            .info()
            .context("wallet not registered")?;
        self.admin
            .sandbox_top_up(&info.account_id, amount_minor, &info.currency)
            .await
    }
}

/// A registered wallet and what is needed to reopen it (as after an app
/// restart).
pub struct RiderWallet {
    /// The wallet.
    pub wallet: Arc<Wallet>,
    /// Its data directory.
    pub dir: PathBuf,
    /// Its key store (the platform keystore's stand-in).
    pub key_store: Arc<InMemoryKeyStore>,
    /// The control center URL it talks to.
    pub server_url: String,
}

impl RiderWallet {
    /// Closes and reopens the wallet on the same data, optionally against
    /// another server URL (e.g. a fault-injecting proxy).
    pub async fn reopen(&mut self, server_url: Option<&str>) -> Result<wayfare_core::OpenReport> {
        self.wallet.close().await;
        if let Some(url) = server_url {
            self.server_url = url.to_string();
        }
        let wallet = Wallet::new(config(&self.dir, &self.server_url), self.key_store.clone())?;
        let report = wallet.open().await?;
        self.wallet = wallet;
        Ok(report)
    }

    /// The wallet's balance in minor units, fetched from the control center.
    pub async fn balance(&self) -> Result<i64> {
        Ok(self.wallet.account().balance().await?.balance_minor)
    }

    /// This wallet's account id.
    pub fn account_id(&self) -> String {
        self.wallet
            .account()
            .info()
            .map(|i| i.account_id)
            .unwrap_or_default()
    }
}

fn config(dir: &Path, server_url: &str) -> WalletConfig {
    WalletConfig {
        data_dir: dir.display().to_string(),
        server_url: server_url.to_string(),
        operator_key: None,
        receipt_key: None,
        mdns_scope: MdnsScope::Loopback,
    }
}

/// Opens a wallet on `dir` against `server_url`.
pub async fn open_wallet(
    dir: &Path,
    server_url: &str,
    key_store: Arc<InMemoryKeyStore>,
) -> Result<Arc<Wallet>> {
    let wallet = Wallet::new(config(dir, server_url), key_store)?;
    wallet.open().await?;
    Ok(wallet)
}

/// How a wallet reaches a terminal without discovery.
pub fn manual_terminal(terminal: &RunningTerminal) -> DiscoveredTerminal {
    let beacon = terminal.beacon();
    let addr = terminal.phone_addr();
    DiscoveredTerminal {
        terminal_id: beacon.terminal_id.clone(),
        merchant_name: beacon.merchant_name.clone(),
        kind: beacon.kind.into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        source: DiscoverySource::Manual,
        rssi: None,
        ble_id: None,
    }
}
