//! The Wayfare access-terminal daemon (P2, P3): it advertises a beacon,
//! serves one phone at a time over an encrypted session, asks for payment,
//! verifies the receipt, has the platform confirm it, switches the linkage
//! device on or keeps it off, and reports every session to the control
//! center through a durable queue.
//!
//! Use [`start`] to run a terminal in-process (the demo and whole-system
//! tests do) or the `wayfare-terminal` binary with a TOML file (see
//! [`config`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use wayfare_protocol::messages::Beacon;
use wayfare_protocol::PROTOCOL_VERSION;

mod admission;
pub mod advertise;
pub mod announcer;
mod backoff;
pub mod ble;
pub mod config;
pub mod confirm;
mod control;
mod durable;
pub mod error;
pub mod events;
pub mod express;
mod in_doubt;
pub mod keys;
pub mod linkage;
mod listener;
pub mod nfc;
pub mod platform;
pub mod position;
pub mod provision;
pub mod reports;
pub mod sale;
mod session;
mod tap;
mod tap_config;
pub mod top_up;
mod tram;
mod untrusted;

pub use config::TerminalConfig;
pub use error::TerminalError;
pub use linkage::{LinkageDevice, LinkageEvent};
pub use provision::{enroll, EnrollRequest, Enrollment, TerminalLocation};
pub use sale::{SaleOutcome, SaleState};

use crate::advertise::Advertiser;
use crate::events::PushBook;
use crate::keys::TerminalIdentity;
use crate::linkage::Linkage;
use crate::platform::PlatformClient;
use crate::reports::ReportQueue;
use crate::sale::SaleBook;

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What `GET /status` and [`RunningTerminal::status`] report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TerminalStatus {
    /// The terminal id.
    pub terminal_id: String,
    /// `pos`, `tram` or `gate`.
    pub kind: String,
    /// Whether a phone is being served right now.
    pub busy: bool,
    /// Sessions that completed the handshake since start.
    pub sessions_served: u64,
    /// Times the linkage device was switched on since start.
    pub linkage_activations: u64,
    /// Reports waiting for upload.
    pub queued_reports: u64,
    /// The outcome of the last session that reached a verdict.
    pub last_outcome: Option<SaleOutcome>,
    /// Sales whose payment outcome is not known yet (a lost answer, a
    /// broken link): neither paid nor declined, being settled with the
    /// platform. Oldest first.
    pub in_doubt: Vec<SaleOutcome>,
    /// Express taps: offered, deny list, accepted and queued taps.
    pub express: express::ExpressStatus,
    /// Tram: where the vehicle is now, where that came from, how old it is
    /// and whether the feed is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<position::PositionStatus>,
}

/// State shared by the listener, the sessions and the control interface.
pub(crate) struct Shared {
    pub(crate) config: TerminalConfig,
    pub(crate) identity: TerminalIdentity,
    pub(crate) sales: SaleBook,
    pub(crate) linkage: Linkage,
    pub(crate) reports: ReportQueue,
    pub(crate) platform: PlatformClient,
    pub(crate) pushes: Arc<PushBook>,
    /// Tap-in token ids honoured at this terminal (tap-in/tap-out mode).
    pub(crate) used_tokens: tap::UsedTokens,
    /// One permit: the phone being served (P3.7).
    pub(crate) slot: Arc<Semaphore>,
    pub(crate) sessions_served: AtomicU64,
    pub(crate) last_outcome: Mutex<Option<SaleOutcome>>,
    /// Sales whose outcome is unknown, being settled with the platform.
    pub(crate) in_doubt: in_doubt::InDoubtBook,
    /// Becomes true when the terminal stops (background resolvers end).
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Offline express taps: deny list, queue, counters.
    pub(crate) express: express::Express,
    /// Tram: the live position, read at the moment of each tap.
    pub(crate) position: Option<Arc<position::LivePosition>>,
    /// Top-up mode: the signed offers not yet settled.
    pub(crate) top_ups: top_up::OfferBook,
}

impl Shared {
    pub(crate) fn status(&self) -> TerminalStatus {
        TerminalStatus {
            terminal_id: self.identity.body.terminal_id.clone(),
            kind: self.identity.body.kind.as_str().to_string(),
            busy: self.slot.available_permits() == 0,
            sessions_served: self.sessions_served.load(Ordering::SeqCst),
            linkage_activations: self.linkage.activations(),
            queued_reports: self.reports.len() as u64,
            last_outcome: self
                .last_outcome
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            in_doubt: self
                .in_doubt
                .list()
                .iter()
                .map(|s| in_doubt::outcome_of(self, s))
                .collect(),
            express: self.express.status(),
            position: self.position_now(),
        }
    }

    /// Tram: the live position at this moment; `None` in other modes.
    pub(crate) fn position_now(&self) -> Option<position::PositionStatus> {
        self.position.as_ref().map(|p| p.snapshot(now_ms()))
    }

    /// Makes the current outcome of `order_id` the "last outcome" shown
    /// by `GET /status`.
    pub(crate) fn record_last_outcome(&self, order_id: &str) {
        if let Some(outcome) = self.sales.outcome(order_id) {
            *self.last_outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        }
    }
}

/// A terminal running in this process. Call [`RunningTerminal::shutdown`]
/// to stop it cleanly; dropping it signals the background tasks to stop
/// without waiting for them.
pub struct RunningTerminal {
    shared: Arc<Shared>,
    phone_addr: SocketAddr,
    control_addr: SocketAddr,
    control_token: String,
    control_token_path: PathBuf,
    beacon: Beacon,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    advertiser: Option<Advertiser>,
}

impl std::fmt::Debug for RunningTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTerminal")
            .field("terminal_id", &self.terminal_id())
            .field("phone_addr", &self.phone_addr)
            .field("control_addr", &self.control_addr)
            .finish()
    }
}

/// Starts a terminal with the linkage device named by its configuration.
pub async fn start(config: TerminalConfig) -> Result<RunningTerminal, TerminalError> {
    start_inner(config, None).await
}

/// Starts a terminal driving a caller-supplied linkage device.
pub async fn start_with_linkage(
    config: TerminalConfig,
    device: Arc<dyn LinkageDevice>,
) -> Result<RunningTerminal, TerminalError> {
    start_inner(config, Some(device)).await
}

async fn start_inner(
    config: TerminalConfig,
    device: Option<Arc<dyn LinkageDevice>>,
) -> Result<RunningTerminal, TerminalError> {
    config.validate()?;
    platform::install_crypto_provider();
    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .map_err(TerminalError::file(
            "cannot create data directory",
            &config.data_dir,
        ))?;
    let identity = keys::load_identity(&config, now_ms()).await?;
    let reports = ReportQueue::open(&config.data_dir.join("terminal.sled")).await?;
    let meta = reports.meta()?;
    let used_tokens = tap::UsedTokens::new(reports.used_tap_in_tokens()?, now_ms());
    let in_doubt = in_doubt::InDoubtBook::open(reports.in_doubt_sales()?)?;
    let platform_key = Arc::new(wayfare_protocol::keys::SigningKey::from_seed(
        identity.key.seed(),
    )?);
    let server_roots = match &config.server_ca_file {
        Some(path) => platform::load_server_roots(path).await?,
        None => Vec::new(),
    };
    let platform = PlatformClient::with_roots(
        &config.server_url,
        &config.terminal_id,
        platform_key,
        &server_roots,
    )?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let device = device.unwrap_or_else(|| linkage::device_from_config(&config.linkage));
    let linkage = Linkage::new(
        device,
        linkage::hold_from_config(&config.linkage),
        shutdown_rx.clone(),
    );

    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| TerminalError::Bind {
                addr: config.listen,
                source,
            })?;
    let phone_addr = listener
        .local_addr()
        .map_err(|source| TerminalError::Bind {
            addr: config.listen,
            source,
        })?;
    let control_listener = TcpListener::bind(config.control_listen)
        .await
        .map_err(|source| TerminalError::Bind {
            addr: config.control_listen,
            source,
        })?;
    let control_addr = control_listener
        .local_addr()
        .map_err(|source| TerminalError::Bind {
            addr: config.control_listen,
            source,
        })?;
    let control_token_path = config.control_token_path();
    let control_token = control::load_or_create_token(&control_token_path).await?;
    let control_guard = control::ControlGuard::new(&config.control, control_token.clone());

    let beacon = Beacon {
        version: PROTOCOL_VERSION,
        terminal_id: identity.body.terminal_id.clone(),
        merchant_name: identity.body.merchant_name.clone(),
        kind: identity.body.kind,
    };
    let advertiser = advertise::advertise(&config.mdns, &beacon, phone_addr)?;

    // Cash top-ups are entered at the counter like POS sales.
    let pos = matches!(
        config.mode,
        config::ModeConfig::Pos(_) | config::ModeConfig::TopUp(_)
    );
    let top_ups = top_up::OfferBook::open(reports.tree("top_up_offers")?)?;
    let sales = SaleBook::new(config.mode.currency().clone(), pos);
    let pushes = Arc::new(PushBook::default());
    let express = express::Express::open(
        config.express.clone(),
        &config.mode,
        &reports,
        &config.receipt_key,
    )?;
    let position = match &config.mode {
        config::ModeConfig::Tram(t) => Some(Arc::new(position::LivePosition::new(
            t,
            config.position.as_ref(),
            now_ms(),
        ))),
        _ => None,
    };
    let feed = match (&config.position, &position, &config.mode) {
        (Some(p), Some(live), config::ModeConfig::Tram(t)) => Some(
            position::feed::FeedReader::new(p, &t.vehicle, live.clone())
                .map_err(|e| TerminalError::Config(format!("position: {e}")))?,
        ),
        _ => None,
    };
    let shared = Arc::new(Shared {
        config,
        identity,
        sales,
        linkage,
        reports: reports.clone(),
        platform: platform.clone(),
        pushes: pushes.clone(),
        used_tokens,
        slot: Arc::new(Semaphore::new(1)),
        sessions_served: AtomicU64::new(0),
        last_outcome: Mutex::new(None),
        in_doubt,
        shutdown: shutdown_rx.clone(),
        express,
        position,
        top_ups,
    });
    // Sales left in doubt by an earlier run are settled now.
    for held in shared.in_doubt.list() {
        shared.sales.mark_in_doubt(
            &held.sale,
            &held.request.currency,
            &held.reason,
            held.since_ms,
        );
        in_doubt::spawn_resolver(shared.clone(), held.sale.order_id.clone());
    }
    // So are top-up offers: a phone may have claimed them.
    for held in shared.top_ups.list() {
        let reason = held
            .in_doubt
            .clone()
            .unwrap_or_else(|| "the terminal stopped while the offer was open".into());
        top_up::resolver::hold(&shared, held, &reason).await;
    }

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(listener::run_listener(
        shared.clone(),
        listener,
        shutdown_rx.clone(),
    )));
    let mut control_shutdown = shutdown_rx.clone();
    // Built once for every connection (a bare `Router` given to
    // `axum::serve` rebuilds its route table per connection).
    let app = control::router(shared.clone(), control_guard).into_make_service();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(control_listener, app)
            .with_graceful_shutdown(async move {
                let _ = control_shutdown.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "control interface stopped");
        }
    }));
    if let Some(reader) = nfc::start(shared.clone(), shutdown_rx.clone()) {
        tasks.push(reader);
    }
    if let Some(feed) = feed {
        tasks.push(tokio::spawn(feed.run(shutdown_rx.clone())));
    }
    if shared.express.offered() {
        tasks.push(tokio::spawn(shared.express.deny.clone().run_sync(
            platform.clone(),
            Duration::from_millis(shared.config.express.deny_list_sync_ms.max(50)),
            shutdown_rx.clone(),
        )));
    }
    // Taps queued by an earlier run upload even if express is now off.
    tasks.push(tokio::spawn(
        shared
            .express
            .queue
            .clone()
            .run_uploader(platform.clone(), shutdown_rx.clone()),
    ));
    if let Some(peripheral) = ble::start(shared.clone(), &beacon, shutdown_rx.clone()).await? {
        tasks.push(peripheral);
    }
    tasks.push(tokio::spawn(
        reports.run_uploader(platform.clone(), shutdown_rx.clone()),
    ));
    tasks.push(tokio::spawn(events::run_subscription(
        platform,
        pushes,
        meta,
        shutdown_rx,
    )));

    tracing::info!(
        terminal = %wayfare_protocol::ids::redact(&shared.identity.body.terminal_id),
        kind = shared.identity.body.kind.as_str(),
        %phone_addr,
        %control_addr,
        control_token = %control_token_path.display(),
        "access terminal started"
    );
    Ok(RunningTerminal {
        shared,
        phone_addr,
        control_addr,
        control_token,
        control_token_path,
        beacon,
        shutdown,
        tasks,
        advertiser,
    })
}

impl RunningTerminal {
    /// The terminal id from the certificate.
    pub fn terminal_id(&self) -> &str {
        &self.shared.identity.body.terminal_id
    }

    /// Where phones connect (TCP).
    pub fn phone_addr(&self) -> SocketAddr {
        self.phone_addr
    }

    /// Where the local control interface listens (HTTP).
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// The bearer token the control interface requires
    /// (`Authorization: Bearer <token>`).
    pub fn control_token(&self) -> &str {
        &self.control_token
    }

    /// The file holding [`RunningTerminal::control_token`], for the POS
    /// app to read.
    pub fn control_token_path(&self) -> &std::path::Path {
        &self.control_token_path
    }

    /// The beacon being advertised.
    pub fn beacon(&self) -> &Beacon {
        &self.beacon
    }

    /// The DNS-SD instance name, when mDNS is enabled.
    pub fn mdns_fullname(&self) -> Option<&str> {
        self.advertiser.as_ref().map(|a| a.fullname())
    }

    /// A snapshot of the terminal's state.
    pub fn status(&self) -> TerminalStatus {
        self.shared.status()
    }

    /// POS: enters a sale for the next phone; returns its order id.
    pub async fn new_sale(
        &self,
        amount_minor: u64,
        description: &str,
    ) -> Result<String, TerminalError> {
        Ok(self
            .shared
            .sales
            .new_sale(amount_minor, description, now_ms())?)
    }

    /// What is known about an order (pending, in session, or its outcome).
    pub async fn sale_outcome(&self, order_id: &str) -> Option<SaleOutcome> {
        self.shared.sales.outcome(order_id)
    }

    /// Stops accepting phones, lets a running session finish (up to a few
    /// seconds), stops the control interface and background tasks,
    /// withdraws the mDNS advertisement and flushes the report queue.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(advertiser) = self.advertiser.take() {
            advertiser.stop().await;
        }
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if let Err(e) = self.shared.reports.flush().await {
            tracing::warn!(error = %e, "cannot flush the report queue");
        }
        tracing::info!("access terminal stopped");
    }
}

impl Drop for RunningTerminal {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(advertiser) = self.advertiser.take() {
            advertiser.stop_now();
        }
    }
}
