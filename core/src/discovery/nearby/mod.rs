//! One discovery stream (`terminals().watch_nearby(...)`): the core's mDNS
//! browser, a continuous BLE scan with signal strength, NFC taps and the
//! app's own platform browser (Android NSD, iOS NWBrowser) merged into one
//! list, one entry per terminal, nearest first.
//!
//! Why one stream: a rider at a row of gates sees the same terminal over
//! the LAN, over Bluetooth and (once tapped) over NFC; the app should show
//! it once, with the nearest on top, and connect over the best transport
//! without knowing which radio found what.
//!
//! How: each source is a thin adapter that turns what it sees into a
//! [`merge::Sighting`] and sends it down one channel to the watch's own
//! thread (the core spawns no tokio task). That thread owns the pure
//! [`merge::Board`] (every rule about duplicates, order and expiry is
//! there), wakes for each sighting or when something expires, and hands the
//! app's [`NearbyListener`] the whole ordered list whenever it changed (at
//! most every [`MIN_GAP`], so a busy BLE scan does not flood the UI).
//!
//! - mDNS: the same browser as `start_discovery`, fed through a
//!   [`DiscoveryListener`] adapter.
//! - BLE (feature `ble`): btleplug's scan on the watch's BLE thread, with
//!   RSSI updates. No adapter, Bluetooth off or no permission is reported
//!   once as `on_source_unavailable(Ble, reason)`; the other sources go on.
//! - NFC: the card handler reports each verified tap to the wallet's
//!   [`NearbyHub`](feeds::NearbyHub), which forwards it to every running
//!   watch (and keeps it for [`merge::Rules::tap_recent`], so a watch
//!   started just after a tap still shows it first).
//! - Platform: the core calls the app's [`PlatformDiscovery::start`] with a
//!   [`PlatformDiscoverySink`]; the app reports resolved services (name,
//!   host, port, TXT) and losses to it from its own callbacks, and stops
//!   browsing on [`PlatformDiscovery::stop`].

pub(crate) mod feeds;
pub(crate) mod merge;
mod types;

pub use feeds::{PlatformDiscovery, PlatformDiscoverySink};
pub use types::{NearbyListener, NearbyOptions, NearbySource, NearbyTerminal, PlatformService};

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::feeds::Input;
use self::merge::{Advert, Board, Lan, Rules, Sighting, Stamp};
use super::{mdns, DiscoveredTerminal, DiscoveryHandle, TerminalsApi};
use crate::listener::{DiscoveryListener, ListenerError};

/// The least time between two lists handed to the listener: BLE readings
/// arrive several times a second per terminal, a UI needs a few per second.
pub(crate) const MIN_GAP: Duration = Duration::from_millis(250);

/// A running watch. Cancel it with `cancel()`; dropping it cancels too.
#[derive(uniffi::Object)]
pub struct NearbyHandle {
    tx: Sender<Input>,
    cancelled: AtomicBool,
    /// Cleared by the watch's thread when it ends.
    running: Arc<AtomicBool>,
    /// Tells the BLE thread to stop scanning.
    ble_stop: Arc<AtomicBool>,
    mdns: Mutex<Option<DiscoveryHandle>>,
    platform: Mutex<Option<Arc<dyn PlatformDiscovery>>>,
    error: Option<String>,
}

impl std::fmt::Debug for NearbyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearbyHandle")
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .finish()
    }
}

#[uniffi::export]
impl NearbyHandle {
    /// Stops every source (the platform browser through its `stop`) and
    /// the watch's thread. A listener call already in progress may still
    /// finish. Idempotent.
    pub fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        self.ble_stop.store(true, Ordering::SeqCst);
        let mdns = self.mdns.lock().ok().and_then(|mut m| m.take());
        if let Some(mdns) = mdns {
            mdns.cancel();
        }
        let platform = self.platform.lock().ok().and_then(|mut p| p.take());
        if let Some(platform) = platform {
            if let Err(e) = platform.stop() {
                tracing::warn!(target: "wayfare_core::discovery", error = %e, "the platform browser failed to stop");
            }
        }
        self.send(Input::Stop);
    }

    /// Whether the watch is still running.
    pub fn is_active(&self) -> bool {
        !self.cancelled.load(Ordering::SeqCst) && self.running.load(Ordering::SeqCst)
    }

    /// Why the watch could not start, if it could not (a source that cannot
    /// run is reported to the listener instead).
    pub fn error(&self) -> Option<String> {
        self.error.clone()
    }
}

impl NearbyHandle {
    fn send(&self, input: Input) {
        let _ = self.tx.send(input);
    }

    /// Feeds a BLE sighting (`source` `Ble`, with `ble_id` and `rssi`) as
    /// if this watch's scan had heard it. Not exported: for Rust callers
    /// with their own Bluetooth stack and for tests (machines without an
    /// adapter); the apps' BLE comes from the core's scan.
    pub fn report_ble(&self, terminal: &DiscoveredTerminal) {
        if let Some(sighting) = ble_sighting(terminal) {
            self.send(Input::Seen(sighting, Stamp::now()));
        }
    }
}

impl Drop for NearbyHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A BLE scan's terminal as a sighting (`None` without a peripheral id).
fn ble_sighting(terminal: &DiscoveredTerminal) -> Option<Sighting> {
    let ble_id = terminal.ble_id.clone().filter(|id| !id.is_empty())?;
    Some(Sighting::Ble {
        advert: Advert {
            terminal_id: terminal.terminal_id.clone(),
            merchant_name: terminal.merchant_name.clone(),
            kind: terminal.kind,
        },
        ble_id,
        rssi: terminal.rssi,
    })
}

/// Feeds the core's mDNS browser into a watch.
struct MdnsFeed(Sender<Input>);

impl DiscoveryListener for MdnsFeed {
    fn on_terminal_found(&self, terminal: DiscoveredTerminal) -> Result<(), ListenerError> {
        // The browser names losses by terminal id, so that is the service key.
        let sighting = Sighting::LanFound {
            via: Lan::Mdns,
            service: terminal.terminal_id.clone(),
            advert: Advert {
                terminal_id: terminal.terminal_id,
                merchant_name: terminal.merchant_name,
                kind: terminal.kind,
            },
            host: terminal.host,
            port: terminal.port,
        };
        let _ = self.0.send(Input::Seen(sighting, Stamp::now()));
        Ok(())
    }

    fn on_terminal_lost(&self, terminal_id: String) -> Result<(), ListenerError> {
        let sighting = Sighting::LanLost {
            via: Lan::Mdns,
            service: terminal_id,
        };
        let _ = self.0.send(Input::Seen(sighting, Stamp::now()));
        Ok(())
    }
}

/// Runs the BLE scan on its own thread with its own single-threaded
/// runtime (btleplug is async; the core spawns no task on the caller's).
#[cfg(feature = "ble")]
fn start_ble(tx: Sender<Input>, stop: Arc<AtomicBool>) {
    let failed = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("wayfare-nearby-ble".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Input::Unavailable(
                        NearbySource::Ble,
                        format!("cannot run the Bluetooth scan: {e}"),
                    ));
                    return;
                }
            };
            let report = |terminal: DiscoveredTerminal| match ble_sighting(&terminal) {
                Some(s) => tx.send(Input::Seen(s, Stamp::now())).is_ok(),
                None => true,
            };
            if let Err(e) = runtime.block_on(super::ble::watch(&stop, report)) {
                tracing::info!(target: "wayfare_core::discovery", error = %e, "Bluetooth scan unavailable");
                let _ = tx.send(Input::Unavailable(NearbySource::Ble, e.to_string()));
            }
        });
    if let Err(e) = spawned {
        let _ = failed.send(Input::Unavailable(
            NearbySource::Ble,
            format!("cannot start the Bluetooth thread: {e}"),
        ));
    }
}

/// Without the `ble` feature there is no scan to run.
#[cfg(not(feature = "ble"))]
fn start_ble(tx: Sender<Input>, _stop: Arc<AtomicBool>) {
    let _ = tx.send(Input::Unavailable(
        NearbySource::Ble,
        "this build of the wallet has no Bluetooth support".into(),
    ));
}

/// The watch's thread: merges inputs until stopped, telling the listener
/// each changed list (never while holding a lock).
fn run(rx: Receiver<Input>, listener: Arc<dyn NearbyListener>, rules: Rules) {
    let mut board = Board::new(rules);
    let mut shown: Vec<NearbyTerminal> = Vec::new();
    let mut last_told: Option<Instant> = None;
    let mut pending = false;
    let mut unavailable: HashSet<NearbySource> = HashSet::new();
    'watch: loop {
        let throttle = pending.then_some(last_told).flatten().map(|t| t + MIN_GAP);
        let wake = [board.next_deadline(), throttle]
            .into_iter()
            .flatten()
            .min();
        let first = match wake {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let mut inputs = match first {
            Ok(input) => vec![input],
            Err(RecvTimeoutError::Timeout) => Vec::new(),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        inputs.extend(rx.try_iter());
        for input in inputs {
            match input {
                Input::Seen(sighting, at) => board.apply(sighting, at),
                Input::Unavailable(source, reason) => {
                    if unavailable.insert(source) {
                        if let Err(e) = listener.on_source_unavailable(source, reason) {
                            tracing::warn!(target: "wayfare_core::discovery", error = %e, "nearby listener failed");
                        }
                    }
                }
                Input::Stop => break 'watch,
            }
        }
        let now = Instant::now();
        board.expire(now);
        let list = board.list(now);
        if list == shown {
            pending = false;
            continue;
        }
        if last_told.is_some_and(|t| now < t + MIN_GAP) {
            pending = true;
            continue;
        }
        tracing::debug!(target: "wayfare_core::discovery", terminals = list.len(), "nearby list changed");
        if let Err(e) = listener.on_nearby_changed(list.clone()) {
            tracing::warn!(target: "wayfare_core::discovery", error = %e, "nearby listener failed");
        }
        shown = list;
        last_told = Some(now);
        pending = false;
    }
}

/// Starts a watch: its thread, then each source.
fn watch(
    terminals: &TerminalsApi,
    listener: Arc<dyn NearbyListener>,
    platform: Option<Arc<dyn PlatformDiscovery>>,
    options: NearbyOptions,
    rules: Rules,
) -> NearbyHandle {
    let inner = terminals.inner();
    let (tx, rx) = channel();
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    let spawned = std::thread::Builder::new()
        .name("wayfare-nearby".into())
        .spawn(move || {
            run(rx, listener, rules);
            flag.store(false, Ordering::SeqCst);
        });
    let mut handle = NearbyHandle {
        tx: tx.clone(),
        cancelled: AtomicBool::new(false),
        running,
        ble_stop: Arc::new(AtomicBool::new(false)),
        mdns: Mutex::new(None),
        platform: Mutex::new(None),
        error: None,
    };
    if let Err(e) = spawned {
        handle.running.store(false, Ordering::SeqCst);
        handle.error = Some(format!("cannot start the discovery thread: {e}"));
        return handle;
    }
    inner.nearby.subscribe(tx.clone());
    if options.mdns {
        let feed = Arc::new(MdnsFeed(tx.clone()));
        let mdns = mdns::start(inner.config.mdns_scope, feed);
        match mdns.error() {
            Some(reason) => {
                let _ = tx.send(Input::Unavailable(NearbySource::Mdns, reason));
            }
            None => {
                if let Ok(mut slot) = handle.mdns.lock() {
                    *slot = Some(mdns);
                }
            }
        }
    }
    if options.bluetooth {
        start_ble(tx.clone(), handle.ble_stop.clone());
    }
    if let Some(platform) = platform {
        let sink = Arc::new(PlatformDiscoverySink { tx: tx.clone() });
        match platform.start(sink) {
            Ok(()) => {
                if let Ok(mut slot) = handle.platform.lock() {
                    *slot = Some(platform);
                }
            }
            Err(e) => {
                let _ = tx.send(Input::Unavailable(NearbySource::Platform, e.to_string()));
            }
        }
    }
    handle
}

#[uniffi::export]
impl TerminalsApi {
    /// Watches for terminals near the phone from every source at once: the
    /// core's mDNS browser and Bluetooth scan (per `options`), NFC taps,
    /// and the app's own `platform` browser when given. `listener` gets the
    /// whole merged list, one entry per terminal, nearest first (a
    /// terminal tapped in the last 30 s, then by Bluetooth signal strength,
    /// then the LAN-only ones by merchant name), from the watch's own
    /// thread, whenever it changes. Connect with an entry's `connect`.
    /// Runs until the returned handle is cancelled or dropped.
    pub fn watch_nearby(
        &self,
        listener: Arc<dyn NearbyListener>,
        platform: Option<Arc<dyn PlatformDiscovery>>,
        options: NearbyOptions,
    ) -> Arc<NearbyHandle> {
        Arc::new(watch(self, listener, platform, options, Rules::default()))
    }
}

#[cfg(test)]
mod tests;
