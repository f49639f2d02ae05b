//! The state shared by every request handler.

use std::sync::Arc;

use tokio::sync::{broadcast, watch, Notify};

use crate::db::Db;
use crate::invitations::AttemptLimits;
use crate::keys::ServerKeys;
use crate::metrics::Metrics;

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    keys: ServerKeys,
    terminal_events: broadcast::Sender<String>,
    account_events: broadcast::Sender<String>,
    outbound: Notify,
    billing: Notify,
    billing_configured: std::sync::atomic::AtomicBool,
    shutdown: watch::Receiver<bool>,
    invitation_limits: AttemptLimits,
    metrics: Metrics,
}

impl AppState {
    /// Bundles the database, the keys, the shutdown signal and the limits
    /// of invitation attempts.
    pub fn new(
        db: Db,
        keys: ServerKeys,
        shutdown: watch::Receiver<bool>,
        invitation_limits: AttemptLimits,
    ) -> Self {
        let (terminal_events, _) = broadcast::channel(1024);
        let (account_events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                db,
                keys,
                terminal_events,
                account_events,
                outbound: Notify::new(),
                billing: Notify::new(),
                billing_configured: std::sync::atomic::AtomicBool::new(false),
                shutdown,
                invitation_limits,
                metrics: Metrics::new(),
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The server's keys and admin token.
    pub fn keys(&self) -> &ServerKeys {
        &self.inner.keys
    }

    /// Wakes the event streams of `terminal_id` after a commit that added
    /// events for it. Nobody listening is fine: the rows are the outbox.
    /// With several nodes on one PostgreSQL, the other nodes are woken too
    /// ([`crate::cluster`]).
    pub fn notify_terminal(&self, terminal_id: &str) {
        self.wake_terminal_locally(terminal_id);
        if self.inner.db.is_postgres() {
            crate::cluster::publish(
                &self.inner.db.pool,
                crate::cluster::Wake::Terminal(terminal_id.to_string()),
            );
        }
    }

    /// Wakes this node's streams of `terminal_id` only.
    pub(crate) fn wake_terminal_locally(&self, terminal_id: &str) {
        let _ = self.inner.terminal_events.send(terminal_id.to_string());
    }

    /// Subscribes to terminal wake-ups (the payload is a terminal id).
    pub fn subscribe_terminal_events(&self) -> broadcast::Receiver<String> {
        self.inner.terminal_events.subscribe()
    }

    /// Wakes the device event streams of `account_id` after a commit that
    /// added events for it.
    /// With several nodes on one PostgreSQL, the other nodes are woken too.
    pub fn notify_account(&self, account_id: &str) {
        self.wake_account_locally(account_id);
        if self.inner.db.is_postgres() {
            crate::cluster::publish(
                &self.inner.db.pool,
                crate::cluster::Wake::Account(account_id.to_string()),
            );
        }
    }

    /// Wakes every event stream of this node (an empty id is "everyone"):
    /// after wake-ups may have been lost.
    pub(crate) fn wake_all_locally(&self) {
        let _ = self.inner.account_events.send(String::new());
        let _ = self.inner.terminal_events.send(String::new());
    }

    /// Wakes this node's device streams of `account_id` only.
    pub(crate) fn wake_account_locally(&self, account_id: &str) {
        let _ = self.inner.account_events.send(account_id.to_string());
    }

    /// Subscribes to account wake-ups (the payload is an account id).
    pub fn subscribe_account_events(&self) -> broadcast::Receiver<String> {
        self.inner.account_events.subscribe()
    }

    /// Wakes the outbound-gateway worker after a commit that queued messages.
    pub fn notify_outbound(&self) {
        self.inner.outbound.notify_one();
    }

    /// What the outbound-gateway worker waits on.
    pub fn outbound_wake(&self) -> &Notify {
        &self.inner.outbound
    }

    /// Wakes the billing sender after a day was closed into an export.
    pub fn notify_billing(&self) {
        self.inner.billing.notify_one();
    }

    /// Records that a billing endpoint is configured (the sender runs).
    pub fn set_billing_configured(&self) {
        self.inner
            .billing_configured
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a billing endpoint is configured.
    pub fn billing_configured(&self) -> bool {
        self.inner
            .billing_configured
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the billing sender waits on.
    pub fn billing_wake(&self) -> &Notify {
        &self.inner.billing
    }

    /// How many failed invitation accept attempts are allowed.
    pub fn invitation_limits(&self) -> AttemptLimits {
        self.inner.invitation_limits
    }

    /// This server's metrics recorder (one per server, never the
    /// process-wide one: see [`crate::metrics`]).
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A receiver that flips to `true` when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.clone()
    }
}
