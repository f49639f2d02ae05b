//! The core's own mDNS/DNS-SD browser (mdns-sd) for `_wayfare._tcp`. Serves
//! the desktop CLI, the demo and the tests; on phones the app may feed
//! terminals found by NsdManager / NWBrowser instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent};
use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::Beacon;
use wayfare_protocol::MDNS_SERVICE_TYPE;

use super::{DiscoveredTerminal, DiscoveryError, DiscoverySource};
use crate::config::MdnsScope;
use crate::listener::DiscoveryListener;

/// Starts an mDNS daemon restricted to `scope`.
fn daemon(scope: MdnsScope) -> Result<ServiceDaemon, DiscoveryError> {
    let daemon = ServiceDaemon::new()?;
    if scope == MdnsScope::Loopback {
        daemon.disable_interface(IfKind::All)?;
        daemon.enable_interface(IfKind::LoopbackV4)?;
    }
    Ok(daemon)
}

/// Turns a resolved service into a terminal; `None` when its TXT record is
/// not a valid beacon or it has no address.
pub(crate) fn to_terminal(service: &ResolvedService) -> Option<DiscoveredTerminal> {
    let beacon = match Beacon::from_txt_properties(|k| {
        service.get_property_val_str(k).map(str::to_string)
    }) {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(target: "wayfare_core::discovery", error = %e, "ignoring a service with an invalid beacon");
            return None;
        }
    };
    // Prefer IPv4 (the first resolve may carry only an IPv6 link-local
    // address, which needs a scope id to connect).
    let mut addresses: Vec<_> = service
        .get_addresses()
        .iter()
        .map(|a| a.to_ip_addr())
        .collect();
    addresses.sort_by_key(|a| (!a.is_ipv4(), a.is_loopback(), *a));
    let host = addresses.first()?.to_string();
    Some(DiscoveredTerminal {
        terminal_id: beacon.terminal_id,
        merchant_name: beacon.merchant_name,
        kind: beacon.kind.into(),
        host,
        port: service.get_port(),
        source: DiscoverySource::Lan,
        rssi: None,
        ble_id: None,
    })
}

fn shutdown(daemon: &ServiceDaemon) {
    let _ = daemon.stop_browse(MDNS_SERVICE_TYPE);
    let _ = daemon.shutdown();
}

/// Browses for `timeout` and returns the terminals still advertised at the
/// end, sorted by merchant name then id.
pub(crate) async fn discover(
    scope: MdnsScope,
    timeout: Duration,
) -> Result<Vec<DiscoveredTerminal>, DiscoveryError> {
    let daemon = daemon(scope)?;
    let events = match daemon.browse(MDNS_SERVICE_TYPE) {
        Ok(events) => events,
        Err(e) => {
            shutdown(&daemon);
            return Err(e.into());
        }
    };
    let mut by_name: HashMap<String, DiscoveredTerminal> = HashMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv_async()).await {
            Err(_) => break,
            Ok(Err(_)) => break,
            Ok(Ok(ServiceEvent::ServiceResolved(service))) => {
                if let Some(t) = to_terminal(&service) {
                    by_name.insert(service.get_fullname().to_string(), t);
                }
            }
            Ok(Ok(ServiceEvent::ServiceRemoved(_, fullname))) => {
                by_name.remove(&fullname);
            }
            Ok(Ok(_)) => {}
        }
    }
    shutdown(&daemon);
    let mut unique: BTreeMap<(String, String), DiscoveredTerminal> = BTreeMap::new();
    for t in by_name.into_values() {
        unique.insert((t.merchant_name.clone(), t.terminal_id.clone()), t);
    }
    Ok(unique.into_values().collect())
}

/// A running discovery. Cancel it with `cancel()`; dropping it cancels too.
#[derive(uniffi::Object)]
pub struct DiscoveryHandle {
    daemon: Mutex<Option<ServiceDaemon>>,
    cancelled: Arc<AtomicBool>,
    error: Option<String>,
}

impl std::fmt::Debug for DiscoveryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryHandle")
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .finish()
    }
}

#[uniffi::export]
impl DiscoveryHandle {
    /// Stops the discovery. A listener call already in progress on the
    /// discovery thread may still finish. Idempotent.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let daemon = self.daemon.lock().ok().and_then(|mut d| d.take());
        if let Some(daemon) = daemon {
            shutdown(&daemon);
        }
    }

    /// Whether the discovery is still running.
    pub fn is_active(&self) -> bool {
        !self.cancelled.load(Ordering::SeqCst) && self.error.is_none()
    }

    /// Why the discovery could not start, if it could not.
    pub fn error(&self) -> Option<String> {
        self.error.clone()
    }
}

impl Drop for DiscoveryHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Starts a browse whose events go to `listener` from a dedicated thread
/// (no async runtime needed, so it works from any caller).
pub(crate) fn start(scope: MdnsScope, listener: Arc<dyn DiscoveryListener>) -> DiscoveryHandle {
    let cancelled = Arc::new(AtomicBool::new(false));
    let started = daemon(scope).and_then(|d| match d.browse(MDNS_SERVICE_TYPE) {
        Ok(events) => Ok((d, events)),
        Err(e) => {
            shutdown(&d);
            Err(e.into())
        }
    });
    let (daemon, events) = match started {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(target: "wayfare_core::discovery", error = %e, "discovery could not start");
            return DiscoveryHandle {
                daemon: Mutex::new(None),
                cancelled,
                error: Some(e.to_string()),
            };
        }
    };
    let flag = cancelled.clone();
    let spawned = std::thread::Builder::new()
        .name("wayfare-discovery".into())
        .spawn(move || {
            let mut names: HashMap<String, String> = HashMap::new();
            // Ends when the daemon shuts down (channel closed).
            while let Ok(event) = events.recv() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let result = match event {
                    ServiceEvent::ServiceResolved(service) => match to_terminal(&service) {
                        Some(t) => {
                            tracing::debug!(target: "wayfare_core::discovery", terminal = %redact(&t.terminal_id), "terminal found");
                            names.insert(service.get_fullname().to_string(), t.terminal_id.clone());
                            listener.on_terminal_found(t)
                        }
                        None => Ok(()),
                    },
                    ServiceEvent::ServiceRemoved(_, fullname) => match names.remove(&fullname) {
                        Some(id) => listener.on_terminal_lost(id),
                        None => Ok(()),
                    },
                    ServiceEvent::SearchStopped(_) => break,
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    tracing::warn!(target: "wayfare_core::discovery", error = %e, "discovery listener failed");
                }
            }
        });
    if let Err(e) = spawned {
        shutdown(&daemon);
        return DiscoveryHandle {
            daemon: Mutex::new(None),
            cancelled,
            error: Some(format!("cannot start the discovery thread: {e}")),
        };
    }
    DiscoveryHandle {
        daemon: Mutex::new(Some(daemon)),
        cancelled,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use mdns_sd::ServiceInfo;
    use wayfare_protocol::ids::new_id;
    use wayfare_protocol::messages::TerminalKind as WireKind;

    use crate::listener::ListenerError;
    use crate::TerminalKind;

    enum Seen {
        Found(DiscoveredTerminal),
        Lost(String),
    }

    struct Forward(std::sync::mpsc::Sender<Seen>);

    impl DiscoveryListener for Forward {
        fn on_terminal_found(&self, terminal: DiscoveredTerminal) -> Result<(), ListenerError> {
            let _ = self.0.send(Seen::Found(terminal));
            Ok(())
        }
        fn on_terminal_lost(&self, terminal_id: String) -> Result<(), ListenerError> {
            let _ = self.0.send(Seen::Lost(terminal_id));
            Ok(())
        }
    }

    /// Waits (bounded) for the event about `terminal_id`; other terminals
    /// advertised by concurrent tests are skipped.
    fn next_about(rx: &std::sync::mpsc::Receiver<Seen>, terminal_id: &str) -> Seen {
        loop {
            let seen = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("no mDNS event within 20 s");
            let id = match &seen {
                Seen::Found(t) => t.terminal_id.clone(),
                Seen::Lost(id) => id.clone(),
            };
            if id == terminal_id {
                return seen;
            }
        }
    }

    #[test]
    fn loopback_discovery_reports_found_and_lost_terminals() {
        let terminal_id = new_id("term").unwrap();
        let beacon = Beacon {
            version: 1,
            terminal_id: terminal_id.clone(),
            merchant_name: "Tram T1".into(),
            kind: WireKind::Tram,
        };
        let publisher = daemon(MdnsScope::Loopback).unwrap();
        let props: HashMap<String, String> = beacon.to_txt_properties().into_iter().collect();
        let service = ServiceInfo::new(
            MDNS_SERVICE_TYPE,
            &terminal_id,
            &format!("{terminal_id}.local."),
            "127.0.0.1",
            40_123,
            props,
        )
        .unwrap();
        let fullname = service.get_fullname().to_string();
        publisher.register(service).unwrap();

        let (tx, rx) = std::sync::mpsc::channel();
        let handle = start(MdnsScope::Loopback, Arc::new(Forward(tx)));
        assert!(handle.is_active(), "{:?}", handle.error());
        match next_about(&rx, &terminal_id) {
            Seen::Found(t) => {
                assert_eq!(t.merchant_name, "Tram T1");
                assert_eq!(t.kind, TerminalKind::Tram);
                assert_eq!(t.host, "127.0.0.1");
                assert_eq!(t.port, 40_123);
                assert_eq!(t.source, DiscoverySource::Lan);
            }
            Seen::Lost(_) => panic!("lost before found"),
        }
        let _ = publisher
            .unregister(&fullname)
            .unwrap()
            .recv_timeout(Duration::from_secs(5));
        assert!(matches!(next_about(&rx, &terminal_id), Seen::Lost(_)));
        handle.cancel();
        assert!(!handle.is_active());
        shutdown(&publisher);
    }
}
