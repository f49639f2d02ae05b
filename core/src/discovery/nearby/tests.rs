//! The watch around the pure merge: its thread (changes told, bursts
//! coalesced, expiry without new input, unavailable sources said once),
//! the NFC hub, the platform sink and the whole `watch_nearby` with a real
//! NFC tap driven through the card handler.

use std::sync::{Condvar, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wayfare_protocol::apdu::{CommandApdu, ReaderLink};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{Beacon, TerminalKind as WireKind};

use super::feeds::NearbyHub;
use super::*;
use crate::discovery::TerminalKind;
use crate::error::WalletError;
use crate::listener::ListenerError;
use crate::nfc::{NfcCard, NfcListener};
use crate::session::types::TerminalInfo;
use crate::session::TerminalSession;
use crate::testing::{dead_url, spawn_terminal, wallet, Keys, TERMINAL_ID};

const WAIT: Duration = Duration::from_secs(10);

/// Records what the watch tells, and lets a test wait for a list.
#[derive(Default)]
struct Recorder {
    lists: Mutex<Vec<Vec<NearbyTerminal>>>,
    unavailable: Mutex<Vec<(NearbySource, String)>>,
    changed: Condvar,
}

impl NearbyListener for Recorder {
    fn on_nearby_changed(&self, terminals: Vec<NearbyTerminal>) -> Result<(), ListenerError> {
        self.lists.lock().unwrap().push(terminals);
        self.changed.notify_all();
        Ok(())
    }
    fn on_source_unavailable(
        &self,
        source: NearbySource,
        reason: String,
    ) -> Result<(), ListenerError> {
        self.unavailable.lock().unwrap().push((source, reason));
        self.changed.notify_all();
        Ok(())
    }
}

impl Recorder {
    /// Waits (bounded) until the latest list satisfies `ok`, and returns it.
    fn wait_for(&self, ok: impl Fn(&[NearbyTerminal]) -> bool) -> Vec<NearbyTerminal> {
        let deadline = Instant::now() + WAIT;
        let mut lists = self.lists.lock().unwrap();
        loop {
            if let Some(latest) = lists.last().filter(|l| ok(l)) {
                return latest.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no such list; the last: {:?}",
                lists.last()
            );
            lists = self.changed.wait_timeout(lists, left).unwrap().0;
        }
    }

    fn ids(list: &[NearbyTerminal]) -> Vec<&str> {
        list.iter().map(|t| t.terminal_id.as_str()).collect()
    }
}

fn ble(id: &str, rssi: i16) -> DiscoveredTerminal {
    DiscoveredTerminal {
        terminal_id: id.into(),
        merchant_name: format!("Merchant {id}"),
        kind: TerminalKind::Gate,
        host: String::new(),
        port: 0,
        source: crate::DiscoverySource::Ble,
        rssi: Some(rssi),
        ble_id: Some(format!("{id}-peripheral")),
    }
}

fn seen(terminal: &DiscoveredTerminal) -> Input {
    Input::Seen(ble_sighting(terminal).unwrap(), Stamp::now())
}

/// Runs the watch thread alone on a channel.
fn watch_thread(rules: Rules) -> (Sender<Input>, Arc<Recorder>, std::thread::JoinHandle<()>) {
    let (tx, rx) = channel();
    let recorder = Arc::new(Recorder::default());
    let listener = recorder.clone();
    let thread = std::thread::spawn(move || run(rx, listener, rules));
    (tx, recorder, thread)
}

#[test]
fn the_watch_tells_changes_and_each_unavailable_source_once() {
    let (tx, recorder, thread) = watch_thread(Rules::default());
    tx.send(seen(&ble("far", -80))).unwrap();
    recorder.wait_for(|l| Recorder::ids(l) == ["far"]);
    for _ in 0..3 {
        tx.send(Input::Unavailable(NearbySource::Ble, "no adapter".into()))
            .unwrap();
    }
    tx.send(seen(&ble("near", -40))).unwrap();
    recorder.wait_for(|l| Recorder::ids(l) == ["near", "far"]);
    assert_eq!(
        *recorder.unavailable.lock().unwrap(),
        [(NearbySource::Ble, "no adapter".to_string())]
    );
    tx.send(Input::Stop).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_burst_of_readings_is_told_in_a_few_lists() {
    let (tx, recorder, thread) = watch_thread(Rules::default());
    for i in 0..200 {
        tx.send(seen(&ble("busy", -60 - (i % 7)))).unwrap();
    }
    tx.send(seen(&ble("last", -30))).unwrap();
    recorder.wait_for(|l| l.len() == 2);
    // The first sighting wakes the thread; the rest come together after
    // MIN_GAP.
    assert!(recorder.lists.lock().unwrap().len() <= 3);
    drop(tx);
    thread.join().unwrap();
}

#[test]
fn a_stale_sighting_expires_without_new_input() {
    let rules = Rules {
        ble_stale: Duration::from_millis(300),
        ..Rules::default()
    };
    let (tx, recorder, thread) = watch_thread(rules);
    tx.send(seen(&ble("passing", -70))).unwrap();
    recorder.wait_for(|l| l.len() == 1);
    let told = recorder.lists.lock().unwrap().len();
    recorder.wait_for(|l| l.is_empty());
    assert_eq!(recorder.lists.lock().unwrap().len(), told + 1);
    drop(tx);
    thread.join().unwrap();
}

fn info(id: &str, name: &str) -> TerminalInfo {
    TerminalInfo {
        terminal_id: id.into(),
        merchant_id: "mer_x".into(),
        merchant_name: name.into(),
        kind: TerminalKind::Tram,
        certificate_valid_until_ms: 0,
        key_id: "k".into(),
    }
}

#[test]
fn taps_reach_running_watches_and_ones_started_soon_after() {
    let hub = NearbyHub::default();
    let (tx, recorder, thread) = watch_thread(Rules::default());
    hub.subscribe(tx.clone());
    tx.send(seen(&ble("loud", -30))).unwrap();
    recorder.wait_for(|l| l.len() == 1);
    hub.tapped(&info("tram", "Tram 4"));
    let list = recorder.wait_for(|l| l.len() == 2);
    assert_eq!(Recorder::ids(&list), ["tram", "loud"]);
    assert_eq!(list[0].sources, [NearbySource::Nfc]);
    assert_eq!(list[0].merchant_name, "Tram 4");

    let (later, recorder2, thread2) = watch_thread(Rules::default());
    hub.subscribe(later.clone());
    recorder2.wait_for(|l| Recorder::ids(l) == ["tram"]);

    for (tx, thread) in [(tx, thread), (later, thread2)] {
        tx.send(Input::Stop).unwrap();
        thread.join().unwrap();
    }
    // Ended watches are dropped from the hub at the next tap.
    hub.tapped(&info("tram", "Tram 4"));
    assert!(hub.watches.lock().unwrap().is_empty());
}

/// The app's browser: remembers the sink, counts starts and stops.
#[derive(Default)]
struct FakePlatform {
    sink: Mutex<Option<Arc<PlatformDiscoverySink>>>,
    stops: Mutex<u32>,
    refuse: bool,
}

impl PlatformDiscovery for FakePlatform {
    fn start(&self, sink: Arc<PlatformDiscoverySink>) -> Result<(), ListenerError> {
        if self.refuse {
            return Err(ListenerError::Failed {
                reason: "local network access denied".into(),
            });
        }
        *self.sink.lock().unwrap() = Some(sink);
        Ok(())
    }
    fn stop(&self) -> Result<(), ListenerError> {
        *self.stops.lock().unwrap() += 1;
        Ok(())
    }
}

impl FakePlatform {
    fn sink(&self) -> Arc<PlatformDiscoverySink> {
        self.sink.lock().unwrap().clone().expect("started")
    }
}

fn service(name: &str, id: &str, merchant: &str) -> PlatformService {
    let beacon = Beacon {
        version: 1,
        terminal_id: id.into(),
        merchant_name: merchant.into(),
        kind: WireKind::Pos,
    };
    PlatformService {
        name: name.into(),
        host: "192.168.1.20".into(),
        port: 7000,
        txt: beacon.to_txt_properties().into_iter().collect(),
    }
}

const OFF: NearbyOptions = NearbyOptions {
    mdns: false,
    bluetooth: false,
};

#[tokio::test]
async fn the_platform_browser_feeds_the_list_and_stops_with_the_watch() {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let recorder = Arc::new(Recorder::default());
    let platform = Arc::new(FakePlatform::default());
    let handle = w
        .terminals()
        .watch_nearby(recorder.clone(), Some(platform.clone()), OFF);
    assert!(handle.is_active(), "{:?}", handle.error());
    let sink = platform.sink();

    sink.service_found(service("Bakery._wayfare._tcp", "t_bakery", "Bakery"))
        .unwrap();
    let list = recorder.wait_for(|l| l.len() == 1);
    let bakery = &list[0];
    assert_eq!(bakery.sources, [NearbySource::Platform]);
    assert_eq!(bakery.kind, TerminalKind::Pos);
    let connect = bakery.connect.clone().unwrap();
    assert_eq!(
        (connect.host.as_str(), connect.port),
        ("192.168.1.20", 7000)
    );

    // Not a beacon, or not resolved: refused, nothing listed.
    let mut junk = service("Junk", "t_junk", "Junk");
    junk.txt.clear();
    assert!(matches!(
        sink.service_found(junk),
        Err(WalletError::InvalidInput { .. })
    ));
    let mut unresolved = service("Unresolved", "t_unresolved", "Unresolved");
    unresolved.port = 0;
    assert!(sink.service_found(unresolved).is_err());

    sink.unavailable("NSD failed".into());
    sink.unavailable("NSD failed again".into());
    handle.report_ble(&ble("t_bakery", -50));
    let list = recorder.wait_for(|l| l.first().is_some_and(|t| t.rssi.is_some()));
    assert_eq!(list.len(), 1, "one entry for both sources");
    assert_eq!(list[0].sources, [NearbySource::Ble, NearbySource::Platform]);
    assert_eq!(
        *recorder.unavailable.lock().unwrap(),
        [(NearbySource::Platform, "NSD failed".to_string())]
    );

    sink.service_lost("Bakery._wayfare._tcp".into());
    let list = recorder.wait_for(|l| l.first().is_some_and(|t| t.host.is_none()));
    assert_eq!(list[0].sources, [NearbySource::Ble]);
    assert_eq!(
        list[0].connect.as_ref().map(|c| c.source),
        Some(crate::DiscoverySource::Ble)
    );

    handle.cancel();
    handle.cancel();
    assert_eq!(*platform.stops.lock().unwrap(), 1);
    assert!(!handle.is_active());
}

#[tokio::test]
async fn a_platform_browser_that_cannot_start_is_reported_and_not_stopped() {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let recorder = Arc::new(Recorder::default());
    let platform = Arc::new(FakePlatform {
        refuse: true,
        ..FakePlatform::default()
    });
    let handle = w
        .terminals()
        .watch_nearby(recorder.clone(), Some(platform.clone()), OFF);
    handle.report_ble(&ble("t1", -60));
    recorder.wait_for(|l| l.len() == 1);
    let unavailable = recorder.unavailable.lock().unwrap().clone();
    assert_eq!(unavailable.len(), 1);
    assert_eq!(unavailable[0].0, NearbySource::Platform);
    assert!(unavailable[0].1.contains("local network access denied"));
    drop(handle);
    assert_eq!(*platform.stops.lock().unwrap(), 0);
}

#[derive(Default)]
struct Sessions(Mutex<Vec<Arc<TerminalSession>>>);

impl NfcListener for Sessions {
    fn on_session(&self, session: Arc<TerminalSession>) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push(session);
        Ok(())
    }
    fn on_tap_failed(&self, _reason: String) -> Result<(), ListenerError> {
        Ok(())
    }
}

/// Plays the reader: selects Wayfare, then carries bytes between the
/// terminal's socket and the card until a session is verified.
async fn tap(card: &NfcCard, sessions: &Sessions, mut tcp: TcpStream) {
    let select = CommandApdu::select_wayfare().encode().unwrap();
    card.process_apdu(select).await;
    let mut buf = vec![0u8; 8192];
    for _ in 0..50 {
        if !sessions.0.lock().unwrap().is_empty() {
            return;
        }
        let piece = match tokio::time::timeout(Duration::from_millis(30), tcp.read(&mut buf)).await
        {
            Ok(Ok(n)) if n > 0 => buf[..n].to_vec(),
            Ok(_) => return,
            Err(_) => Vec::new(),
        };
        let mut answer = Vec::new();
        for command in ReaderLink::exchange_commands(&piece).unwrap() {
            let mut response = card.process_apdu(command).await;
            while let Some(left) = ReaderLink::gather(&mut answer, &response).unwrap() {
                response = card.process_apdu(ReaderLink::get_response(left)).await;
            }
        }
        if !answer.is_empty() {
            tcp.write_all(&answer).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_nfc_tap_goes_first() {
    let keys = Keys::new();
    let cert = keys.certificate(&keys.operator, TERMINAL_ID);
    let terminal_key = SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let (port, _terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        t.recv().await
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let recorder = Arc::new(Recorder::default());
    let handle = w.terminals().watch_nearby(recorder.clone(), None, OFF);
    handle.report_ble(&ble("t_loud", -35));
    recorder.wait_for(|l| l.len() == 1);

    let sessions = Arc::new(Sessions::default());
    let card = w.terminals().nfc_card(sessions.clone());
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tap(&card, &sessions, tcp).await;
    assert_eq!(sessions.0.lock().unwrap().len(), 1, "a verified tap");

    let list = recorder.wait_for(|l| l.len() == 2);
    assert_eq!(Recorder::ids(&list), [TERMINAL_ID, "t_loud"]);
    assert_eq!(list[0].sources, [NearbySource::Nfc]);
    assert!(list[0].tapped_at_ms.is_some());
    assert_eq!(list[0].connect, None, "known from the tap alone");
    handle.cancel();
}
