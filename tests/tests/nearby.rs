//! One discovery stream (issue 9.4): real terminals advertising over mDNS
//! on loopback, the app's platform browser (a Rust implementation of the
//! foreign trait, reporting what NSD / NWBrowser would) and injected BLE
//! sightings (no adapter here) merge into one list, one entry per
//! terminal, nearest first; the nearest entry's `connect` pays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use wayfare_cli::local::{LocalSystem, TerminalOptions, TramSetup};
use wayfare_core::{
    DiscoveredTerminal, DiscoverySource, ListenerError, NearbyListener, NearbyOptions,
    NearbySource, NearbyTerminal, PlatformDiscovery, PlatformDiscoverySink, PlatformService,
};
use wayfare_terminal::RunningTerminal;

enum Told {
    List(Vec<NearbyTerminal>),
    Unavailable(NearbySource, String),
}

/// Forwards what the watch tells to the test.
struct Forward(UnboundedSender<Told>);

impl NearbyListener for Forward {
    fn on_nearby_changed(&self, terminals: Vec<NearbyTerminal>) -> Result<(), ListenerError> {
        let _ = self.0.send(Told::List(terminals));
        Ok(())
    }
    fn on_source_unavailable(
        &self,
        source: NearbySource,
        reason: String,
    ) -> Result<(), ListenerError> {
        let _ = self.0.send(Told::Unavailable(source, reason));
        Ok(())
    }
}

/// The app's platform browser, reduced to what NSD or NWBrowser hand over.
#[derive(Default)]
struct Platform {
    sink: Mutex<Option<Arc<PlatformDiscoverySink>>>,
    stopped: Mutex<bool>,
}

impl PlatformDiscovery for Platform {
    fn start(&self, sink: Arc<PlatformDiscoverySink>) -> Result<(), ListenerError> {
        *self.sink.lock().unwrap() = Some(sink);
        Ok(())
    }
    fn stop(&self) -> Result<(), ListenerError> {
        *self.stopped.lock().unwrap() = true;
        Ok(())
    }
}

impl Platform {
    fn sink(&self) -> Arc<PlatformDiscoverySink> {
        self.sink.lock().unwrap().clone().expect("started")
    }

    /// Reports `terminal` as a resolved `_wayfare._tcp` service.
    fn found(&self, terminal: &RunningTerminal) {
        let addr = terminal.phone_addr();
        let txt: HashMap<String, String> =
            terminal.beacon().to_txt_properties().into_iter().collect();
        self.sink()
            .service_found(PlatformService {
                name: service_name(terminal),
                host: addr.ip().to_string(),
                port: addr.port(),
                txt,
            })
            .unwrap();
    }
}

fn service_name(terminal: &RunningTerminal) -> String {
    format!("{}._wayfare._tcp.local.", terminal.terminal_id())
}

/// What a BLE scan would report for `terminal` at `rssi` dBm.
fn ble(terminal: &RunningTerminal, rssi: i16) -> DiscoveredTerminal {
    let beacon = terminal.beacon();
    DiscoveredTerminal {
        terminal_id: beacon.terminal_id.clone(),
        merchant_name: beacon.merchant_name.clone(),
        kind: beacon.kind.into(),
        host: String::new(),
        port: 0,
        source: DiscoverySource::Ble,
        rssi: Some(rssi),
        ble_id: Some(format!("ble-{}", beacon.terminal_id)),
    }
}

/// Waits (bounded) for a list whose entries for `ours` (other tests'
/// terminals may be advertised on loopback too) satisfy `ok`; returns
/// those entries in order. Counts source-unavailable reports meanwhile.
async fn wait_for(
    rx: &mut UnboundedReceiver<Told>,
    ours: &[&str],
    unavailable: &mut Vec<(NearbySource, String)>,
    ok: impl Fn(&[NearbyTerminal]) -> bool,
) -> Vec<NearbyTerminal> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Told::List(list))) => {
                last = list
                    .into_iter()
                    .filter(|t| ours.contains(&t.terminal_id.as_str()))
                    .collect::<Vec<_>>();
                if ok(&last) {
                    return last;
                }
            }
            Ok(Some(Told::Unavailable(source, reason))) => unavailable.push((source, reason)),
            Ok(None) | Err(_) => panic!("no such list; the last: {last:#?}"),
        }
    }
}

fn ids(list: &[NearbyTerminal]) -> Vec<&str> {
    list.iter().map(|t| t.terminal_id.as_str()).collect()
}

fn entry<'a>(list: &'a [NearbyTerminal], terminal: &RunningTerminal) -> &'a NearbyTerminal {
    list.iter()
        .find(|t| t.terminal_id == terminal.terminal_id())
        .expect("listed")
}

#[tokio::test]
async fn every_source_merges_into_one_list_nearest_first() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let advertised = || TerminalOptions {
        advertise: true,
        ..TerminalOptions::default()
    };
    // The café is on the LAN (mDNS and the platform browser), the tram on
    // the LAN and Bluetooth, the kiosk only through the platform browser
    // and Bluetooth.
    let cafe_merchant = system.merchant("Corner Café", "CNY").await.unwrap();
    let cafe = system
        .pos_terminal(&cafe_merchant, "CNY", advertised())
        .await
        .unwrap();
    let operator = system.merchant("City Tram", "CNY").await.unwrap();
    let tram = system
        .tram_terminal(&operator, "CNY", &TramSetup::default(), advertised())
        .await
        .unwrap();
    let kiosk_merchant = system.merchant("Book Kiosk", "CNY").await.unwrap();
    let kiosk = system
        .pos_terminal(&kiosk_merchant, "CNY", TerminalOptions::default())
        .await
        .unwrap();
    let rider = system.rider("Lin", None).await.unwrap();
    system.fund(&rider, 1_000).await.unwrap();
    let ours_owned =
        [cafe.terminal_id(), tram.terminal_id(), kiosk.terminal_id()].map(str::to_string);
    let ours = ours_owned.each_ref().map(String::as_str);

    let (tx, mut rx) = unbounded_channel();
    let platform = Arc::new(Platform::default());
    // Bluetooth on: without an adapter the scan reports itself unavailable
    // and the other sources go on.
    let handle = rider.wallet.terminals().watch_nearby(
        Arc::new(Forward(tx)),
        Some(platform.clone()),
        NearbyOptions {
            mdns: true,
            bluetooth: true,
        },
    );
    assert!(handle.is_active(), "{:?}", handle.error());
    platform.found(&cafe);
    platform.found(&kiosk);
    let mut unavailable = Vec::new();
    // The LAN first (mDNS takes a moment), so that the BLE sightings below
    // are fresh when the order is checked.
    let list = wait_for(&mut rx, &ours, &mut unavailable, |l| {
        l.len() == 3
            && l.iter()
                .find(|t| t.terminal_id == ours[0])
                .is_some_and(|c| c.sources.len() == 2)
            && l.iter()
                .find(|t| t.terminal_id == ours[1])
                .is_some_and(|t| t.sources == [NearbySource::Mdns])
    })
    .await;
    // Without Bluetooth readings: by merchant name.
    assert_eq!(
        ids(&list),
        [kiosk.terminal_id(), tram.terminal_id(), cafe.terminal_id()]
    );

    handle.report_ble(&ble(&kiosk, -75));
    handle.report_ble(&ble(&tram, -50));
    let list = wait_for(&mut rx, &ours, &mut unavailable, |l| {
        l.iter().filter(|t| t.rssi.is_some()).count() == 2
    })
    .await;
    // One entry per terminal: the strongest signal first, then the
    // weaker, then the one only on the LAN.
    assert_eq!(
        ids(&list),
        [tram.terminal_id(), kiosk.terminal_id(), cafe.terminal_id()]
    );
    assert_eq!(
        entry(&list, &tram).sources,
        [NearbySource::Ble, NearbySource::Mdns]
    );
    assert_eq!(
        entry(&list, &kiosk).sources,
        [NearbySource::Ble, NearbySource::Platform]
    );
    assert_eq!(
        entry(&list, &cafe).sources,
        [NearbySource::Mdns, NearbySource::Platform]
    );
    assert_eq!(entry(&list, &cafe).merchant_name, "Corner Café");
    assert_eq!(entry(&list, &tram).rssi, Some(-50));

    // The kiosk comes nearer than the tram: the order follows (smoothed,
    // so it takes a few readings).
    for _ in 0..6 {
        handle.report_ble(&ble(&kiosk, -40));
    }
    let list = wait_for(&mut rx, &ours, &mut unavailable, |l| {
        l.first().map(|t| t.terminal_id.as_str()) == Some(ours[2])
    })
    .await;
    assert_eq!(
        ids(&list),
        [kiosk.terminal_id(), tram.terminal_id(), cafe.terminal_id()]
    );

    // The platform browser loses the café: only its part goes.
    platform.sink().service_lost(service_name(&cafe));
    let list = wait_for(&mut rx, &ours, &mut unavailable, |l| {
        l.iter()
            .find(|t| t.terminal_id == ours[0])
            .is_some_and(|c| c.sources == [NearbySource::Mdns])
    })
    .await;
    assert_eq!(list.len(), 3);

    // The tram's entry connects over the LAN (both known) and pays.
    let connect = entry(&list, &tram).connect.clone().expect("connectable");
    assert_eq!(connect.source, DiscoverySource::Lan);
    assert!(connect.host.starts_with("127."), "{}", connect.host);
    let session = rider.wallet.terminals().connect(connect).await.unwrap();
    session.next_payment_request().await.unwrap();
    let outcome = session.confirm().await.unwrap();
    assert_eq!(outcome.balance_after_minor, 800);

    // The café stops advertising (mDNS goodbye): gone from the list.
    let cafe_id = cafe.terminal_id().to_string();
    cafe.shutdown().await;
    let list = wait_for(&mut rx, &ours, &mut unavailable, |l| {
        l.iter().all(|t| t.terminal_id != cafe_id)
    })
    .await;
    assert_eq!(list.len(), 2);

    // Bluetooth, when unavailable, was said once and nothing else failed.
    assert!(
        unavailable.iter().all(|(s, _)| *s == NearbySource::Ble) && unavailable.len() <= 1,
        "{unavailable:?}"
    );
    handle.cancel();
    assert!(*platform.stopped.lock().unwrap());
    assert!(!handle.is_active());
    tram.shutdown().await;
    kiosk.shutdown().await;
}
