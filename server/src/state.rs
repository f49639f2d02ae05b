//! The state shared by every request handler.

use std::sync::Arc;

use tokio::sync::{watch, Notify};

use crate::db::Db;
use crate::invitations::limits::AttemptLimits;
use crate::keys::ServerKeys;
use crate::metrics::Metrics;
use crate::streams::wakeups::{Subscription, Wakeups};

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    keys: ServerKeys,
    terminal_events: Wakeups,
    account_events: Wakeups,
    outbound: Notify,
    billing: Notify,
    billing_configured: std::sync::atomic::AtomicBool,
    shutdown: watch::Receiver<bool>,
    invitation_limits: AttemptLimits,
    metrics: Metrics,
    /// PostgreSQL: wake-ups for the other nodes.
    publisher: Option<crate::streams::cluster::Publisher>,
    /// Registered devices' keys, so a signed request needs no read.
    device_keys: crate::accounts::device_keys::DeviceKeys,
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
        let metrics = Metrics::new();
        db.observe_writes(Arc::new(metrics.clone()));
        let publisher = db
            .is_postgres()
            .then(|| crate::streams::cluster::Publisher::start(db.pool.clone()));
        Self {
            inner: Arc::new(Inner {
                db,
                keys,
                terminal_events: Wakeups::new(),
                account_events: Wakeups::new(),
                outbound: Notify::new(),
                billing: Notify::new(),
                billing_configured: std::sync::atomic::AtomicBool::new(false),
                shutdown,
                invitation_limits,
                metrics,
                publisher,
                device_keys: crate::accounts::device_keys::DeviceKeys::new(),
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The registered devices' keys remembered by this node.
    pub(crate) fn device_keys(&self) -> &crate::accounts::device_keys::DeviceKeys {
        &self.inner.device_keys
    }

    /// The server's keys and admin token.
    pub fn keys(&self) -> &ServerKeys {
        &self.inner.keys
    }

    /// Wakes the event streams of `terminal_id` after a commit that added
    /// events for it. Nobody listening is fine: the rows are the outbox.
    /// With several nodes on one PostgreSQL, the other nodes are woken too
    /// ([`crate::streams::cluster`]).
    pub fn notify_terminal(&self, terminal_id: &str) {
        self.wake_terminal_locally(terminal_id);
        if let Some(publisher) = &self.inner.publisher {
            publisher.publish(crate::streams::cluster::Wake::Terminal(
                terminal_id.to_string(),
            ));
        }
    }

    /// Wakes this node's streams of `terminal_id` only.
    pub(crate) fn wake_terminal_locally(&self, terminal_id: &str) {
        self.inner.terminal_events.wake(terminal_id);
    }

    /// Subscribes to the wake-ups of `terminal_id`'s event streams.
    pub fn subscribe_terminal_events(&self, terminal_id: &str) -> Subscription {
        self.inner.terminal_events.subscribe(terminal_id)
    }

    /// Wakes the device event streams of `account_id` after a commit that
    /// added events for it.
    /// With several nodes on one PostgreSQL, the other nodes are woken too.
    pub fn notify_account(&self, account_id: &str) {
        self.wake_account_locally(account_id);
        if let Some(publisher) = &self.inner.publisher {
            publisher.publish(crate::streams::cluster::Wake::Account(
                account_id.to_string(),
            ));
        }
    }

    /// Wakes every event stream of this node: after wake-ups may have
    /// been lost.
    pub(crate) fn wake_all_locally(&self) {
        self.inner.account_events.wake_all();
        self.inner.terminal_events.wake_all();
    }

    /// Wakes this node's device streams of `account_id` only.
    pub(crate) fn wake_account_locally(&self, account_id: &str) {
        self.inner.account_events.wake(account_id);
    }

    /// Subscribes to the wake-ups of `account_id`'s device event streams.
    pub fn subscribe_account_events(&self, account_id: &str) -> Subscription {
        self.inner.account_events.subscribe(account_id)
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
