//! The merged list of nearby terminals, without I/O: every source's
//! sightings go in ([`Board::apply`]), time goes by ([`Board::expire`]),
//! and the ordered list comes out ([`Board::list`]). The source adapters
//! and the worker thread in the parent module only feed it, so every rule
//! about duplicates, ordering and expiry is here and unit-tested.
//!
//! # Rules
//! - One entry per terminal id, whatever the sources that see it.
//! - An entry lives while some source holds it: an mDNS or platform
//!   service until that service is lost (per service name, so losing the
//!   platform's copy leaves the core browser's), a BLE sighting for
//!   [`Rules::ble_stale`] after the last advertisement, an NFC tap for
//!   [`Rules::tap_recent`].
//! - Nearest first: terminals tapped within [`Rules::tap_recent`] (latest
//!   tap first), then terminals heard over BLE by smoothed RSSI (strongest
//!   first; those without a reading after), then the rest by merchant name.
//!   Ties go by merchant name, then terminal id, so the order is stable.
//! - Shown name and kind: a tap's (from the verified certificate) over the
//!   core's mDNS over the platform's over BLE's (all only advertised).
//! - Connect over the LAN when an address is known (TCP connects in one
//!   round trip and carries the session without fragmenting), else over
//!   BLE; a terminal known only from a tap has no way to connect.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::types::{NearbySource, NearbyTerminal};
use crate::clock::now_ms;
use crate::discovery::types::{DiscoveredTerminal, DiscoverySource, TerminalKind};

/// When something was seen: a monotonic instant for expiry and the wall
/// clock for the app to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// For expiry (immune to wall-clock changes).
    pub at: Instant,
    /// Unix milliseconds, for display.
    pub wall_ms: u64,
}

impl Stamp {
    /// Now.
    pub(crate) fn now() -> Self {
        Self {
            at: Instant::now(),
            wall_ms: now_ms(),
        }
    }

    /// `by` later (tests step time with it).
    #[cfg(test)]
    pub(crate) fn plus(self, by: Duration) -> Self {
        Self {
            at: self.at + by,
            wall_ms: self.wall_ms + u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// How long things count; tuned in one place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// A tap this recent puts its terminal first (and keeps the entry
    /// alive on its own).
    pub tap_recent: Duration,
    /// A BLE sighting older than this is dropped (terminals advertise
    /// several times a second; scans on phones report in batches).
    pub ble_stale: Duration,
    /// Weight of a new RSSI reading in the moving average (readings jump
    /// by several dB from one advertisement to the next).
    pub rssi_weight: f32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            tap_recent: Duration::from_secs(30),
            ble_stale: Duration::from_secs(10),
            rssi_weight: 0.3,
        }
    }
}

/// What a source says a terminal is (advertised, or verified for a tap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Advert {
    /// Terminal id (the merge key).
    pub terminal_id: String,
    /// Merchant name.
    pub merchant_name: String,
    /// Terminal kind.
    pub kind: TerminalKind,
}

/// Which LAN browser reported a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Lan {
    /// The core's own mDNS browser.
    Mdns,
    /// The app's platform browser (NSD, NWBrowser).
    Platform,
}

impl Lan {
    fn source(self) -> NearbySource {
        match self {
            Lan::Mdns => NearbySource::Mdns,
            Lan::Platform => NearbySource::Platform,
        }
    }
}

/// One report from one source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sighting {
    /// A LAN browser resolved `service` (its DNS-SD instance name).
    LanFound {
        /// Which browser.
        via: Lan,
        /// The service's instance name (what a later loss names).
        service: String,
        /// The beacon in its TXT record.
        advert: Advert,
        /// Address to connect to.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A LAN browser lost `service` (goodbye, TTL, or the platform said so).
    LanLost {
        /// Which browser.
        via: Lan,
        /// The service's instance name.
        service: String,
    },
    /// A BLE advertisement, with its signal strength when known.
    Ble {
        /// The beacon in its service data.
        advert: Advert,
        /// The peripheral, as the platform names it.
        ble_id: String,
        /// dBm.
        rssi: Option<i16>,
    },
    /// A tap whose handshake verified this terminal.
    Tap {
        /// The certificate's identity.
        advert: Advert,
    },
}

#[derive(Debug, Clone)]
struct LanPart {
    advert: Advert,
    host: String,
    port: u16,
    seen: Stamp,
}

#[derive(Debug, Clone)]
struct BlePart {
    advert: Advert,
    ble_id: String,
    rssi: Option<f32>,
    seen: Stamp,
}

#[derive(Debug, Clone)]
struct TapPart {
    advert: Advert,
    at: Stamp,
}

/// Everything known about one terminal.
#[derive(Debug, Clone, Default)]
struct Entry {
    lan: BTreeMap<(Lan, String), LanPart>,
    ble: Option<BlePart>,
    /// The last tap; kept (for its verified name and its time) while the
    /// entry lives, but holds the entry only while recent.
    tap: Option<TapPart>,
}

impl Entry {
    fn tap_recent(&self, now: Instant, rules: &Rules) -> Option<Stamp> {
        self.tap
            .as_ref()
            .map(|t| t.at)
            .filter(|t| now.saturating_duration_since(t.at) < rules.tap_recent)
    }

    fn alive(&self, now: Instant, rules: &Rules) -> bool {
        !self.lan.is_empty() || self.ble.is_some() || self.tap_recent(now, rules).is_some()
    }

    /// The newest LAN address (mDNS and platform usually agree).
    fn lan_address(&self) -> Option<&LanPart> {
        self.lan.values().max_by_key(|p| p.seen.at)
    }

    /// Name and kind by trust: tap, core mDNS, platform, BLE.
    fn advert(&self) -> Option<&Advert> {
        let lan = |via: Lan| {
            self.lan
                .iter()
                .filter(|((v, _), _)| *v == via)
                .max_by_key(|(_, p)| p.seen.at)
                .map(|(_, p)| &p.advert)
        };
        self.tap
            .as_ref()
            .map(|t| &t.advert)
            .or_else(|| lan(Lan::Mdns))
            .or_else(|| lan(Lan::Platform))
            .or_else(|| self.ble.as_ref().map(|b| &b.advert))
    }

    fn last_seen(&self) -> Option<Stamp> {
        self.lan
            .values()
            .map(|p| p.seen)
            .chain(self.ble.as_ref().map(|b| b.seen))
            .chain(self.tap.as_ref().map(|t| t.at))
            .max_by_key(|s| s.at)
    }

    fn rssi(&self) -> Option<i16> {
        let r = self.ble.as_ref()?.rssi?;
        // Clamped to the i16 range first, so the cast cannot wrap.
        #[allow(clippy::cast_possible_truncation)]
        Some(r.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16)
    }
}

/// The merged state of every source.
#[derive(Debug, Clone, Default)]
pub(crate) struct Board {
    rules: Rules,
    entries: BTreeMap<String, Entry>,
}

impl Board {
    /// An empty board with these rules.
    pub(crate) fn new(rules: Rules) -> Self {
        Self {
            rules,
            entries: BTreeMap::new(),
        }
    }

    /// Takes one sighting seen at `at`. Reports without a terminal id are
    /// ignored (nothing to merge them by, nothing to connect to).
    pub(crate) fn apply(&mut self, sighting: Sighting, at: Stamp) {
        match sighting {
            Sighting::LanFound {
                via,
                service,
                advert,
                host,
                port,
            } => {
                // The same service name may now carry another terminal.
                self.drop_service(via, &service);
                if advert.terminal_id.is_empty() {
                    return;
                }
                self.entry(&advert.terminal_id).lan.insert(
                    (via, service),
                    LanPart {
                        advert,
                        host,
                        port,
                        seen: at,
                    },
                );
            }
            Sighting::LanLost { via, service } => self.drop_service(via, &service),
            Sighting::Ble {
                advert,
                ble_id,
                rssi,
            } => {
                if advert.terminal_id.is_empty() {
                    return;
                }
                let weight = self.rules.rssi_weight;
                let entry = self.entry(&advert.terminal_id);
                let previous = entry.ble.as_ref().and_then(|b| b.rssi);
                let rssi = match (previous, rssi.map(f32::from)) {
                    (Some(old), Some(new)) => Some(old + weight * (new - old)),
                    (None, new) => new,
                    // No reading this time: keep the last one.
                    (old, None) => old,
                };
                entry.ble = Some(BlePart {
                    advert,
                    ble_id,
                    rssi,
                    seen: at,
                });
            }
            Sighting::Tap { advert } => {
                if advert.terminal_id.is_empty() {
                    return;
                }
                let entry = self.entry(&advert.terminal_id);
                entry.tap = Some(TapPart { advert, at });
            }
        }
    }

    fn entry(&mut self, terminal_id: &str) -> &mut Entry {
        self.entries.entry(terminal_id.to_string()).or_default()
    }

    fn drop_service(&mut self, via: Lan, service: &str) {
        let key = (via, service.to_string());
        for entry in self.entries.values_mut() {
            entry.lan.remove(&key);
        }
    }

    /// Drops stale BLE sightings and entries no source holds any more.
    pub(crate) fn expire(&mut self, now: Instant) {
        let rules = self.rules;
        for entry in self.entries.values_mut() {
            if entry
                .ble
                .as_ref()
                .is_some_and(|b| now.saturating_duration_since(b.seen.at) >= rules.ble_stale)
            {
                entry.ble = None;
            }
        }
        self.entries.retain(|_, e| e.alive(now, &rules));
    }

    /// When the list next changes by time alone (a BLE sighting goes
    /// stale, a tap stops being recent), if ever.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .flat_map(|e| {
                let ble = e.ble.as_ref().map(|b| b.seen.at + self.rules.ble_stale);
                let tap = e.tap.as_ref().map(|t| t.at.at + self.rules.tap_recent);
                ble.into_iter().chain(tap)
            })
            .min()
    }

    /// The merged list as of `now`, nearest first. Call [`Board::expire`]
    /// with the same `now` first.
    pub(crate) fn list(&self, now: Instant) -> Vec<NearbyTerminal> {
        let mut ranked: Vec<(Rank, NearbyTerminal)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.alive(now, &self.rules))
            .filter_map(|(id, e)| {
                let shown = self.terminal(id, e, now)?;
                Some((Rank::of(e, &shown, now, &self.rules), shown))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0));
        ranked.into_iter().map(|(_, t)| t).collect()
    }

    fn terminal(&self, id: &str, e: &Entry, now: Instant) -> Option<NearbyTerminal> {
        let advert = e.advert()?;
        let last_seen = e.last_seen()?;
        let lan = e.lan_address();
        let ble = e.ble.as_ref();
        let rssi = e.rssi();
        let mut sources = Vec::new();
        if e.tap_recent(now, &self.rules).is_some() {
            sources.push(NearbySource::Nfc);
        }
        if ble.is_some() {
            sources.push(NearbySource::Ble);
        }
        for via in [Lan::Mdns, Lan::Platform] {
            if e.lan.keys().any(|(v, _)| *v == via) {
                sources.push(via.source());
            }
        }
        let connect = match (lan, ble) {
            (Some(l), _) => Some(DiscoveredTerminal {
                terminal_id: id.to_string(),
                merchant_name: advert.merchant_name.clone(),
                kind: advert.kind,
                host: l.host.clone(),
                port: l.port,
                source: DiscoverySource::Lan,
                rssi,
                ble_id: ble.map(|b| b.ble_id.clone()),
            }),
            (None, Some(b)) => Some(DiscoveredTerminal {
                terminal_id: id.to_string(),
                merchant_name: advert.merchant_name.clone(),
                kind: advert.kind,
                host: String::new(),
                port: 0,
                source: DiscoverySource::Ble,
                rssi,
                ble_id: Some(b.ble_id.clone()),
            }),
            (None, None) => None,
        };
        Some(NearbyTerminal {
            terminal_id: id.to_string(),
            merchant_name: advert.merchant_name.clone(),
            kind: advert.kind,
            sources,
            host: lan.map(|l| l.host.clone()),
            port: lan.map(|l| l.port),
            ble_id: ble.map(|b| b.ble_id.clone()),
            rssi,
            tapped_at_ms: e.tap.as_ref().map(|t| t.at.wall_ms),
            last_seen_at_ms: last_seen.wall_ms,
            connect,
        })
    }
}

/// Sort key: group, then within the group, then name and id.
#[derive(Debug, PartialEq, Eq)]
struct Rank {
    group: u8,
    /// Larger is nearer (reversed in `cmp`): the tap's instant, or RSSI.
    nearness: Option<Nearness>,
    name: String,
    id: String,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Nearness {
    Tapped(Instant),
    Rssi(i16),
}

impl Rank {
    fn of(e: &Entry, shown: &NearbyTerminal, now: Instant, rules: &Rules) -> Self {
        let (group, nearness) = if let Some(tap) = e.tap_recent(now, rules) {
            (0, Some(Nearness::Tapped(tap.at)))
        } else if e.ble.is_some() {
            (1, shown.rssi.map(Nearness::Rssi))
        } else {
            (2, None)
        };
        Self {
            group,
            nearness,
            name: shown.merchant_name.to_lowercase(),
            id: shown.terminal_id.clone(),
        }
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.group
            .cmp(&other.group)
            // Some(strong) before Some(weak) before None.
            .then_with(|| other.nearness.cmp(&self.nearness))
            .then_with(|| self.name.cmp(&other.name))
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests;
