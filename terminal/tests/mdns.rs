//! mDNS advertisement on loopback only.

use crate::common;

use std::time::Duration;

use common::*;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use wayfare_protocol::messages::{Beacon, TerminalKind};
use wayfare_protocol::MDNS_SERVICE_TYPE;

#[tokio::test]
async fn the_beacon_is_found_by_a_browser_on_loopback() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let mut config = f.tram_config(UNREACHABLE);
    config.mdns.enabled = true; // interfaces default to loopback only
    let t = wayfare_terminal::start(config).await.unwrap();
    let fullname = t.mdns_fullname().unwrap().to_string();

    let browser = ServiceDaemon::new().unwrap();
    browser.disable_interface(IfKind::All).unwrap();
    browser.enable_interface(IfKind::LoopbackV4).unwrap();
    let events = browser.browse(MDNS_SERVICE_TYPE).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv_async().await.unwrap() {
                ServiceEvent::ServiceResolved(info) if info.get_fullname() == fullname => {
                    return info
                }
                _ => {}
            }
        }
    })
    .await
    .expect("beacon not found on loopback within 30 s");
    assert_eq!(found.get_port(), t.phone_addr().port());
    let beacon =
        Beacon::from_txt_properties(|k| found.get_property_val_str(k).map(str::to_string)).unwrap();
    assert_eq!(&beacon, t.beacon());
    assert_eq!(beacon.terminal_id, TERMINAL_ID);
    assert_eq!(beacon.kind, TerminalKind::Tram);
    assert!(found
        .get_addresses_v4()
        .contains(&std::net::Ipv4Addr::LOCALHOST));
    let _ = browser.shutdown();
    t.shutdown().await;
}
