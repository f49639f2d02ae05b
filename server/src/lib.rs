//! The Wayfare control center: accounts, double-entry ledger, payments with
//! signed receipts, the terminal registry, platform confirmation and the
//! push to terminals; guardian bindings with daily limits and alerts
//! (delivered over the device event stream and an outbound gateway), the
//! one-payment-per-tap-in-token rule, settlements and reconciliation. The
//! HTTP contract is `docs/api.md`.
//!
//! Where things live: each area is a folder that owns its routes (a
//! `router()` that `routes` merges), its SQL and its types —
//! `accounts` (devices, wallet, registrations), `payments`, `ledger`
//! (with pending entries), `points`, `top_ups` and `funding`, `kiosk`,
//! `express`, `journeys`, `guardians`, `merchants`, `terminals`, `streams`
//! (event streams and node wake-ups), `push`, `billing`, `metrics`,
//! `openapi`. Beside them: `auth` and `extract` (what a request must be),
//! `db` (pools, the SQLite group-commit writer), `invitations` (what
//! guardian and staff invitations share), `outbox` and `gateway`
//! (deliveries), `state`, `config`, `keys`, `tls`.
//!
//! Used in-process by the demo and the whole-system tests:
//!
//! ```no_run
//! # async fn demo() -> Result<(), wayfare_server::ServerError> {
//! let config = wayfare_server::ServerConfig::new("/tmp/wayfare", "127.0.0.1:0".parse().unwrap());
//! let server = wayfare_server::start(config).await?;
//! println!("{}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wayfare_protocol::keys::PublicKey;

mod accounts;
mod auth;
mod billing;
mod civil;
mod config;
mod db;
mod error;
mod express;
mod extract;
mod funding;
pub mod gateway;
mod guardians;
mod invitations;
mod journeys;
mod keys;
mod kiosk;
mod ledger;
mod merchants;
mod metrics;
mod openapi;
mod outbox;
mod payments;
mod points;
pub mod push;
mod request_span;
mod routes;
mod state;
mod streams;
mod terminals;
mod tls;
mod top_ups;

pub use billing::{BillingConfigError, BillingEndpoint};
pub use config::{ConfigFile, ConfigFileError, LogFormat, ServerConfig, ServerSection};
pub use error::{ApiError, ServerError};
pub use funding::{
    sign_callback, FundingConfig, FundingConfigError, ProviderConfig, ProviderKind,
    SIGNATURE_HEADER as FUNDING_SIGNATURE_HEADER,
};
pub use gateway::{LogGateway, OutboundGateway, OutboundMessage, WebhookGateway};
pub use invitations::AttemptLimits;
pub use outbox::RetryPolicy;
pub use push::{PushConfig, PushConfigError, PushGateways};
pub use tls::{TlsConfig, TlsError};

/// What a server does besides its configuration: where alerts go out.
#[derive(Clone)]
pub struct ServerOptions {
    /// The outbound gateway for SMS (default: [`LogGateway`]).
    pub gateway: Arc<dyn OutboundGateway>,
    /// The push adapters (FCM, APNs) for devices that registered a push
    /// token; none by default. Build them with [`PushConfig::resolve`].
    pub push: PushGateways,
    /// Backoff of failed gateway deliveries.
    pub retry: RetryPolicy,
    /// Limits of failed invitation accept attempts (guardian and staff).
    pub invitation_limits: AttemptLimits,
    /// The external billing system that closed days are delivered to;
    /// `None` keeps exports pending (stored, not sent) until one is set.
    pub billing: Option<BillingEndpoint>,
    /// Backoff of failed billing deliveries.
    pub billing_retry: RetryPolicy,
    /// The funding providers riders top up through (none by default).
    pub funding: FundingConfig,
    /// A second listen address serving only `GET /metrics`, without the
    /// admin token, for a Prometheus in the same private network (bind it
    /// to a private or loopback address). `None`: `/metrics` is served
    /// only on the main listener, behind the admin token.
    pub metrics_listen: Option<SocketAddr>,
    /// How often the ledger folds pending entries (merchants' credits, the
    /// loyalty account's points) into their accounts (see
    /// `ledger::pending`). `None` runs no settler: entries stay pending
    /// until a refund folds them (tests that look at pending entries).
    pub settle_interval: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            gateway: Arc::new(LogGateway),
            push: PushGateways::default(),
            retry: RetryPolicy::default(),
            invitation_limits: AttemptLimits::default(),
            billing: None,
            billing_retry: RetryPolicy::default(),
            funding: FundingConfig::default(),
            metrics_listen: None,
            settle_interval: Some(ledger::pending::SETTLE_INTERVAL),
        }
    }
}

/// How often expired request nonces are deleted.
const NONCE_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A server started by [`start`]. Call [`RunningServer::shutdown`] to stop
/// it cleanly; dropping it also asks it to stop, without waiting.
pub struct RunningServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    tls: bool,
    admin_token: String,
    operator_key: PublicKey,
    receipt_key: PublicKey,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    db: db::Db,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the separate metrics listener
    /// ([`ServerOptions::metrics_listen`]), when one was asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// `http://127.0.0.1:PORT`, or `https://...` when serving TLS (the
    /// listen address as a URL).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Whether the listener speaks HTTPS ([`ServerConfig::tls`]).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The operator's bearer token.
    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    /// The key that signs terminal certificates.
    pub fn operator_key(&self) -> PublicKey {
        self.operator_key
    }

    /// The key that signs receipts.
    pub fn receipt_key(&self) -> PublicKey {
        self.receipt_key
    }

    /// Stops accepting connections, ends event streams, waits for requests
    /// in flight and closes the database. Afterwards the same data directory
    /// (and port) can be used by a new [`start`].
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "server task ended abnormally");
            }
        }
        self.db.close().await;
        tracing::info!("server stopped");
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Starts a server: checks the TLS certificate and key when configured,
/// creates or loads the keys and admin token in the data directory, opens
/// and migrates the database, binds the listen address and serves (HTTPS
/// with [`ServerConfig::tls`], else plain HTTP) in the background.
/// Outbound alerts go to the log; see [`start_with`] for a webhook.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    start_with(config, ServerOptions::default()).await
}

/// [`start`] with options (the outbound gateway).
pub async fn start_with(
    config: ServerConfig,
    options: ServerOptions,
) -> Result<RunningServer, ServerError> {
    let tls_config = match &config.tls {
        Some(tls) => Some(tls::load(tls).await?),
        None => None,
    };
    let providers = options.funding.resolve()?;
    let keys = keys::ServerKeys::load_or_create(&config.data_dir).await?;
    let admin_token = keys.admin_token.clone();
    let operator_key = keys.operator.public_key();
    let receipt_key = keys.receipt.public_key();
    let db = db::Db::connect(&config.effective_database_url()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let state = state::AppState::new(
        db.clone(),
        keys,
        shutdown_rx.clone(),
        options.invitation_limits,
    );
    // One make-service for every connection: `axum::serve` given a bare
    // `Router` rebuilds its route table per connection (`with_state(())`
    // on a clone), ~37 KiB that an open event stream then holds for its
    // whole life; `into_make_service` builds it once and hands each
    // connection a reference to it.
    let app = routes::router(state.clone(), providers)
        .layer(axum::middleware::from_fn(request_span::request))
        .into_make_service();
    let (metrics_addr, metrics_server) = match options.metrics_listen {
        Some(listen) => {
            let (addr, task) = serve_metrics(listen, state.clone(), shutdown_rx.clone()).await?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };

    let mut tasks = Vec::new();
    let mut stop = shutdown_rx.clone();
    let graceful = async move {
        let _ = stop.wait_for(|v| *v).await;
    };
    let is_tls = tls_config.is_some();
    let server = match tls_config {
        Some(tls_config) => {
            let (listener, acceptor) = tls::spawn(listener, addr, tls_config, shutdown_rx.clone());
            tasks.push(acceptor);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .await
                {
                    tracing::error!(error = %e, "HTTPS server failed");
                }
            })
        }
        None => {
            if !config.listen.ip().is_loopback() {
                tracing::warn!(
                    listen = %config.listen,
                    "serving plain HTTP on a non-loopback address: phones and terminals \
                     accept only https:// there; give --tls-cert and --tls-key"
                );
            }
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .await
                {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            })
        }
    };
    let outbound = tokio::spawn(metrics::scope(
        state.metrics().clone(),
        outbox::run(
            state.clone(),
            options.gateway.clone(),
            options.push.clone(),
            options.retry,
        ),
    ));
    if let Some(endpoint) = options.billing.clone() {
        state.set_billing_configured();
        tasks.push(tokio::spawn(metrics::scope(
            state.metrics().clone(),
            billing::run(state.clone(), endpoint, options.billing_retry),
        )));
    }
    tasks.push(spawn_metrics_upkeep(&state, shutdown_rx.clone()));
    if let Some(interval) = options.settle_interval {
        // Folds merchants' and the loyalty account's pending entries.
        tasks.push(tokio::spawn(metrics::scope(
            state.metrics().clone(),
            ledger::pending::run(state.clone(), interval, shutdown_rx.clone()),
        )));
    }
    if let Some(url) = state.db().postgres_url() {
        // Other nodes on this database wake this node's event streams.
        tasks.push(tokio::spawn(streams::listen::listen(
            url.to_string(),
            state.clone(),
            shutdown_rx.clone(),
        )));
    }
    tasks.extend(metrics_server);
    let mut stop = shutdown_rx;
    let scope = state.metrics().clone();
    let pruner = tokio::spawn(metrics::scope(scope, async move {
        loop {
            if let Err(e) = auth::prune_nonces(&state).await {
                tracing::warn!(error = %e, "pruning request nonces failed");
            }
            if let Err(e) = invitations::prune(&state).await {
                tracing::warn!(error = %e, "pruning invitation attempts failed");
            }
            if let Err(e) = journeys::sweep(&state, journeys::SWEEP_GRACE_MS).await {
                tracing::warn!(error = %e, "charging incomplete journeys failed");
            }
            tokio::select! {
                _ = stop.wait_for(|v| *v) => break,
                _ = tokio::time::sleep(NONCE_PRUNE_INTERVAL) => {}
            }
        }
    }));
    tracing::info!(%addr, tls = is_tls, "wayfare control center listening");
    tasks.extend([server, pruner, outbound]);
    Ok(RunningServer {
        addr,
        metrics_addr,
        tls: is_tls,
        admin_token,
        operator_key,
        receipt_key,
        shutdown,
        tasks,
        db,
    })
}

/// Binds the separate metrics listener and serves `/metrics` on it (plain
/// HTTP, no auth) until shutdown.
async fn serve_metrics(
    listen: SocketAddr,
    state: state::AppState,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ServerError> {
    let bind_error = |source| ServerError::Bind {
        addr: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let app = metrics::scrape::open_router(state).into_make_service();
    let mut stop = shutdown;
    let task = tokio::spawn(async move {
        let graceful = async move {
            let _ = stop.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await
        {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    tracing::info!(%addr, "metrics listening (GET /metrics, no auth)");
    Ok((addr, task))
}

/// Folds histogram samples into buckets every few seconds, so memory stays
/// bounded however rarely Prometheus scrapes.
fn spawn_metrics_upkeep(
    state: &state::AppState,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let metrics = state.metrics().clone();
    let mut stop = shutdown;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => break,
                _ = tokio::time::sleep(METRICS_UPKEEP_INTERVAL) => metrics.run_upkeep(),
            }
        }
    })
}
