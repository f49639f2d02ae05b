//! What feeds a running watch from outside its thread, as [`Input`] on
//! the watch's channel: the app's platform browser (through the
//! [`PlatformDiscoverySink`] the core hands its [`PlatformDiscovery`]) and
//! NFC taps (through the wallet's [`NearbyHub`]). They live apart from the
//! watch so that the wallet can hold the hub without importing the watch
//! or the terminals API, which both hold the wallet.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::Beacon;

use super::merge::{Advert, Lan, Rules, Sighting, Stamp};
use super::types::{NearbySource, PlatformService};
use crate::error::WalletError;
use crate::listener::ListenerError;
use crate::session::types::TerminalInfo;

/// What one watch's sources send its thread.
#[derive(Debug)]
pub(crate) enum Input {
    /// A sighting, and when.
    Seen(Sighting, Stamp),
    /// A source cannot run.
    Unavailable(NearbySource, String),
    /// The watch was cancelled.
    Stop,
}

/// Where the app's platform browser reports services for one watch.
#[derive(uniffi::Object)]
pub struct PlatformDiscoverySink {
    /// The watch's channel.
    pub(super) tx: Sender<Input>,
}

impl std::fmt::Debug for PlatformDiscoverySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformDiscoverySink")
    }
}

impl PlatformDiscoverySink {
    fn send(&self, input: Input) {
        // After the watch ends nobody listens; that is fine.
        let _ = self.tx.send(input);
    }
}

#[uniffi::export]
impl PlatformDiscoverySink {
    /// A service was resolved (or its details changed). Fails with
    /// `InvalidInput` when its TXT record is not a Wayfare beacon or it has
    /// no address; nothing is listed then.
    pub fn service_found(&self, service: PlatformService) -> Result<(), WalletError> {
        let beacon = Beacon::from_txt_properties(|k| service.txt.get(k).cloned()).map_err(|e| {
            WalletError::invalid(format!("the TXT record is not a Wayfare beacon: {e}"))
        })?;
        let host = service.host.trim();
        if host.is_empty() || service.port == 0 {
            return Err(WalletError::invalid(
                "the service has no resolved host or port",
            ));
        }
        tracing::debug!(target: "wayfare_core::discovery", terminal = %redact(&beacon.terminal_id), "platform browser found a terminal");
        self.send(Input::Seen(
            Sighting::LanFound {
                via: Lan::Platform,
                service: service.name,
                advert: Advert {
                    terminal_id: beacon.terminal_id,
                    merchant_name: beacon.merchant_name,
                    kind: beacon.kind.into(),
                },
                host: host.to_string(),
                port: service.port,
            },
            Stamp::now(),
        ));
        Ok(())
    }

    /// The service `name` went away (Android `onServiceLost`, iOS a removed
    /// browse result). Only the platform's part of the terminal goes.
    pub fn service_lost(&self, name: String) {
        self.send(Input::Seen(
            Sighting::LanLost {
                via: Lan::Platform,
                service: name,
            },
            Stamp::now(),
        ));
    }

    /// The platform browser cannot run (Android `onStartDiscoveryFailed`,
    /// iOS local network permission denied); the listener hears it once.
    pub fn unavailable(&self, reason: String) {
        self.send(Input::Unavailable(NearbySource::Platform, reason));
    }
}

/// The app's own service browser (Android `NsdManager`, iOS `NWBrowser`),
/// which the core drives: `start` when a watch begins, `stop` when it is
/// cancelled. Found and lost services go to the sink, from any thread.
#[uniffi::export(foreign)]
pub trait PlatformDiscovery: Send + Sync {
    /// Start browsing `_wayfare._tcp` and report to `sink` (keep it until
    /// `stop`). An error is reported as the platform source being
    /// unavailable.
    fn start(&self, sink: Arc<PlatformDiscoverySink>) -> Result<(), ListenerError>;
    /// Stop browsing; the sink ignores later reports.
    fn stop(&self) -> Result<(), ListenerError>;
}

/// The wallet's link from the NFC card handler to the running watches.
#[derive(Default)]
pub(crate) struct NearbyHub {
    /// The running watches, each by its channel (`pub(super)` for the
    /// watch tests).
    pub(super) watches: Mutex<Vec<Sender<Input>>>,
    /// Taps within [`Rules::tap_recent`], for watches that start later.
    taps: Mutex<Vec<(Advert, Stamp)>>,
}

impl std::fmt::Debug for NearbyHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NearbyHub")
    }
}

impl NearbyHub {
    /// A tap verified `terminal`: it goes first in every watch's list.
    /// Never blocks on, or calls, the app.
    pub(crate) fn tapped(&self, terminal: &TerminalInfo) {
        let advert = Advert {
            terminal_id: terminal.terminal_id.clone(),
            merchant_name: terminal.merchant_name.clone(),
            kind: terminal.kind,
        };
        let at = Stamp::now();
        let recent = Rules::default().tap_recent;
        if let Ok(mut taps) = self.taps.lock() {
            taps.retain(|(a, t)| {
                a.terminal_id != advert.terminal_id
                    && at.at.saturating_duration_since(t.at) < recent
            });
            taps.push((advert.clone(), at));
        }
        if let Ok(mut watches) = self.watches.lock() {
            watches.retain(|tx| {
                tx.send(Input::Seen(
                    Sighting::Tap {
                        advert: advert.clone(),
                    },
                    at,
                ))
                .is_ok()
            });
        }
    }

    /// Adds a watch, first sending it the recent taps.
    pub(super) fn subscribe(&self, tx: Sender<Input>) {
        let now = Instant::now();
        let recent = Rules::default().tap_recent;
        if let Ok(taps) = self.taps.lock() {
            for (advert, at) in taps.iter() {
                if now.saturating_duration_since(at.at) < recent {
                    let _ = tx.send(Input::Seen(
                        Sighting::Tap {
                            advert: advert.clone(),
                        },
                        *at,
                    ));
                }
            }
        }
        if let Ok(mut watches) = self.watches.lock() {
            watches.push(tx);
        }
    }
}
