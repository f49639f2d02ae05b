//! Discovery (P3.1): the terminal advertises its beacon over mDNS/DNS-SD as
//! `_wayfare._tcp` with the beacon in TXT records.
//!
//! By default only IPv4 loopback carries the advertisement, so tests and the
//! demo never send multicast off the machine.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use wayfare_protocol::messages::Beacon;
use wayfare_protocol::MDNS_SERVICE_TYPE;

use crate::config::{MdnsConfig, MdnsInterfaces};
use crate::error::{Result, TerminalError};

/// A running advertisement; call [`Advertiser::stop`] to withdraw it.
pub struct Advertiser {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advertiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertiser")
            .field("fullname", &self.fullname)
            .finish()
    }
}

fn mdns_err(e: mdns_sd::Error) -> TerminalError {
    TerminalError::Mdns(e.to_string())
}

/// A DNS label made of the terminal id: letters, digits and dashes.
fn host_label(terminal_id: &str) -> String {
    let label: String = terminal_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    if label.is_empty() {
        "wayfare-terminal".into()
    } else {
        label
    }
}

/// Starts advertising `beacon` for phones connecting to `phone_addr`.
/// Returns `None` when mDNS is disabled in the configuration.
pub fn advertise(
    config: &MdnsConfig,
    beacon: &Beacon,
    phone_addr: SocketAddr,
) -> Result<Option<Advertiser>> {
    if !config.enabled {
        return Ok(None);
    }
    let daemon = ServiceDaemon::new().map_err(mdns_err)?;
    let addresses: Vec<IpAddr> = match &config.interfaces {
        MdnsInterfaces::Loopback => {
            daemon.disable_interface(IfKind::All).map_err(mdns_err)?;
            daemon
                .enable_interface(IfKind::LoopbackV4)
                .map_err(mdns_err)?;
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        }
        MdnsInterfaces::All => phone_ip(phone_addr),
        MdnsInterfaces::Named(names) => {
            daemon.disable_interface(IfKind::All).map_err(mdns_err)?;
            for name in names {
                daemon
                    .enable_interface(IfKind::Name(name.clone()))
                    .map_err(mdns_err)?;
            }
            phone_ip(phone_addr)
        }
    };
    let properties: HashMap<String, String> = beacon.to_txt_properties().into_iter().collect();
    let label = host_label(&beacon.terminal_id);
    let info = ServiceInfo::new(
        MDNS_SERVICE_TYPE,
        &beacon.terminal_id,
        &format!("{label}.local."),
        addresses.as_slice(),
        phone_addr.port(),
        properties,
    )
    .map_err(mdns_err)?;
    let info = if addresses.is_empty() {
        info.enable_addr_auto()
    } else {
        info
    };
    let fullname = info.get_fullname().to_string();
    daemon.register(info).map_err(mdns_err)?;
    tracing::info!(service = %fullname, port = phone_addr.port(), interfaces = ?config.interfaces, "advertising over mDNS");
    Ok(Some(Advertiser { daemon, fullname }))
}

/// The address to advertise: the listening address itself, or none (the
/// daemon fills in each interface's address) when listening on all.
fn phone_ip(phone_addr: SocketAddr) -> Vec<IpAddr> {
    if phone_addr.ip().is_unspecified() {
        Vec::new()
    } else {
        vec![phone_addr.ip()]
    }
}

impl Advertiser {
    /// The DNS-SD instance name being advertised.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// Withdraws the advertisement and stops the daemon without waiting
    /// (for `Drop`).
    pub fn stop_now(self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }

    /// Withdraws the advertisement (sending goodbye packets) and stops the
    /// mDNS daemon.
    pub async fn stop(self) {
        match self.daemon.unregister(&self.fullname) {
            Ok(rx) => {
                if tokio::time::timeout(Duration::from_secs(2), rx.recv_async())
                    .await
                    .is_err()
                {
                    tracing::warn!("mDNS unregister did not complete in time");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot unregister the mDNS service"),
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
    }
}
