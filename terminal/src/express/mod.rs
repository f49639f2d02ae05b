//! The express tap at the gate (issue 9.2, DESIGN's tap budget): in two
//! NFC round trips (`SELECT`, whose answer carries the phone's allowance,
//! then `EXPRESS` with the fare and a challenge, answered with the signed
//! tap) the gate decides offline ([`verify`]), opens, and queues the tap;
//! the control center charges it later ([`queue`]), exactly once. The deny
//! list the gate needs is synced in the background ([`deny_list`]). Flat
//! fares only (tram mode, at a tram reader or a gate): tap-in/tap-out
//! prices the trip at the exit from the entry the phone carries, so those
//! gates run the full session.

pub(crate) mod deny_list;
pub(crate) mod gate;
pub(crate) mod queue;
pub(crate) mod types;
pub mod verify;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use crate::config::express::ExpressConfig;
use crate::config::ModeConfig;
use crate::error::Result;
use crate::reports::ReportQueue;

/// The express state in `GET /status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExpressStatus {
    /// Express taps are offered (enabled and a flat-fare mode).
    pub offered: bool,
    /// The deny list's version (0: never synced).
    pub deny_list_version: u64,
    /// When the server issued the gate's deny list (Unix ms; 0: never).
    pub deny_list_issued_at_ms: u64,
    /// Express taps accepted since start.
    pub accepted: u64,
    /// Express taps waiting for upload.
    pub queued: u64,
    /// Why the last express tap was refused, if one was.
    pub last_refusal: Option<String>,
}

/// The gate's express state: deny list, counters seen, the upload queue.
pub(crate) struct Express {
    pub(crate) config: ExpressConfig,
    /// Whether this terminal's mode can take express taps.
    offered: bool,
    pub(crate) deny: Arc<deny_list::DenyBook>,
    pub(crate) queue: Arc<queue::ExpressQueue>,
    accepted: AtomicU64,
    last_refusal: Mutex<Option<String>>,
}

impl Express {
    /// Opens the express trees of the terminal's store.
    pub(crate) fn open(
        config: ExpressConfig,
        mode: &ModeConfig,
        store: &ReportQueue,
        server_key: &wayfare_protocol::keys::PublicKey,
    ) -> Result<Self> {
        let offered = config.enabled && matches!(mode, ModeConfig::Tram(_));
        Ok(Self {
            offered,
            deny: Arc::new(deny_list::DenyBook::open(
                store.tree("express_deny_list")?,
                *server_key,
            )?),
            queue: Arc::new(queue::ExpressQueue::open(
                store.db(),
                store.tree("express_taps")?,
                store.tree("express_seen")?,
            )),
            config,
            accepted: AtomicU64::new(0),
            last_refusal: Mutex::new(None),
        })
    }

    /// Whether express taps are offered at all.
    pub(crate) fn offered(&self) -> bool {
        self.offered
    }

    fn note_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }

    fn note_refusal(&self, why: &verify::Refusal) {
        *self.last_refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
    }

    /// For `GET /status`.
    pub(crate) fn status(&self) -> ExpressStatus {
        let deny = self.deny.snapshot();
        ExpressStatus {
            offered: self.offered,
            deny_list_version: deny.version,
            deny_list_issued_at_ms: deny.issued_at_ms,
            accepted: self.accepted.load(Ordering::SeqCst),
            queued: self.queue.len() as u64,
            last_refusal: self
                .last_refusal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}
