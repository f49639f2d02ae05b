//! Bluetooth LE end to end (issue 9.3) over an in-memory GATT link, as
//! these machines have no Bluetooth adapter: a real wallet pays a real POS
//! terminal and taps in and out at two real gates at ATT MTU 23, 185 and
//! 512, every session frame cut into fragments by the shared GATT layer
//! both ways. A relay between the two ends checks that no fragment exceeds
//! `MTU - 3` bytes. A truncated or oversized fragment, from the phone or
//! from the terminal, ends that session with an error, and the terminal
//! serves the next phone; a `[ble]` adapter that is not there stops the
//! terminal's start with "Bluetooth unavailable".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wayfare_cli::local::{manual_terminal, LocalSystem, TerminalOptions};
use wayfare_core::{TapOutcome, TerminalSession, WalletError};
use wayfare_e2e::{metro_gates, pay_exit_fare, pay_sale, payments_in_history, shop};
use wayfare_protocol::gatt::link::{
    memory_link, FragmentSink, FragmentSource, MemorySink, MemorySource,
};
use wayfare_protocol::gatt::{ATT_OVERHEAD, FLAG_END, FLAG_START};
use wayfare_terminal::ble::BleConfig;
use wayfare_terminal::{RunningTerminal, TerminalError};

const CNY: &str = "CNY";

/// What crossed the link, one direction.
#[derive(Default)]
struct Traffic {
    fragments: AtomicUsize,
    largest: AtomicUsize,
    frames_in_several: AtomicUsize,
}

/// Forwards fragments one way, checking each against the MTU.
fn relay(mtu: u16, mut from: MemorySource, mut to: MemorySink, traffic: Arc<Traffic>) {
    tokio::spawn(async move {
        while let Some(fragment) = from.recv().await {
            assert!(
                fragment.len() <= usize::from(mtu) - ATT_OVERHEAD,
                "a {}-byte fragment on a link of MTU {mtu}",
                fragment.len()
            );
            traffic.fragments.fetch_add(1, Ordering::Relaxed);
            traffic.largest.fetch_max(fragment.len(), Ordering::Relaxed);
            if fragment[0] & (FLAG_START | FLAG_END) == FLAG_START {
                traffic.frames_in_several.fetch_add(1, Ordering::Relaxed);
            }
            if to.send(fragment).await.is_err() {
                break;
            }
        }
    });
}

/// A phone's session with `terminal` over a fresh in-memory GATT link of
/// `mtu`, through relays; returns the session and the phone→terminal and
/// terminal→phone traffic.
async fn connect_over_ble(
    rider: &wayfare_cli::local::RiderWallet,
    terminal: &RunningTerminal,
    mtu: u16,
) -> (Arc<TerminalSession>, [Arc<Traffic>; 2]) {
    let (phone, phone_relay) = memory_link(8);
    let (terminal_relay, terminal_end) = memory_link(8);
    let up = Arc::new(Traffic::default());
    let down = Arc::new(Traffic::default());
    relay(mtu, phone_relay.source, terminal_relay.sink, up.clone());
    relay(mtu, terminal_relay.source, phone_relay.sink, down.clone());
    terminal
        .serve_gatt_link(mtu, terminal_end.sink, terminal_end.source)
        .expect("terminal takes the link");
    let session = rider
        .wallet
        .terminals()
        .connect_gatt_link(&manual_terminal(terminal), mtu, phone.sink, phone.source)
        .await
        .expect("session over BLE");
    (session, [up, down])
}

fn assert_fragmented(mtu: u16, traffic: &[Arc<Traffic>; 2]) {
    let max = usize::from(mtu) - ATT_OVERHEAD;
    for t in traffic {
        let largest = t.largest.load(Ordering::Relaxed);
        assert!(t.fragments.load(Ordering::Relaxed) > 0);
        assert!(largest <= max, "largest fragment {largest} > {max}");
    }
    // The terminal's certificate alone needs several fragments at small MTUs.
    if mtu < 512 {
        assert!(traffic[1].frames_in_several.load(Ordering::Relaxed) > 0);
        assert_eq!(traffic[1].largest.load(Ordering::Relaxed), max);
    }
}

async fn payment_and_trip_over_ble(mtu: u16) {
    // A POS payment.
    let shop = shop(TerminalOptions::default(), 5_000).await;
    let order = shop.pos.new_sale(1_250, "Flat white").await.unwrap();
    let (session, traffic) = connect_over_ble(&shop.rider, &shop.pos, mtu).await;
    assert_eq!(session.terminal().terminal_id, shop.pos.terminal_id());
    pay_sale(&session, &shop.pos, &order, 1_250, 5_000).await;
    drop(session);
    assert_fragmented(mtu, &traffic);

    // A trip: tap in at one gate, out at another, the fare paid.
    let system = &shop.system;
    let (entry, exit) = metro_gates(
        system,
        TerminalOptions::default(),
        TerminalOptions::default(),
    )
    .await;
    let (session, traffic) = connect_over_ble(&shop.rider, &entry, mtu).await;
    match session.tap().await.unwrap() {
        TapOutcome::Entered { station, .. } => assert_eq!(station, "Harbour"),
        other => panic!("expected an entry, got {other:?}"),
    }
    drop(session);
    assert_fragmented(mtu, &traffic);

    let (session, traffic) = connect_over_ble(&shop.rider, &exit, mtu).await;
    let (request, paid) = pay_exit_fare(&session, "Harbour").await;
    assert_eq!(
        paid.balance_after_minor,
        5_000 - 1_250 - request.amount_minor as i64
    );
    drop(session);
    assert_fragmented(mtu, &traffic);

    assert_eq!(payments_in_history(&shop.rider).await, 2);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_and_a_trip_run_over_ble_at_mtu_23() {
    payment_and_trip_over_ble(23).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_and_a_trip_run_over_ble_at_mtu_185() {
    payment_and_trip_over_ble(185).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_and_a_trip_run_over_ble_at_mtu_512() {
    payment_and_trip_over_ble(512).await;
}

/// Waits for a session task to end.
async fn ends(session: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(10), session)
        .await
        .expect("the terminal ends the session")
        .expect("without panicking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fragments_end_the_session_and_the_next_phone_is_served() {
    let shop = shop(TerminalOptions::default(), 5_000).await;

    // A phone sends an oversized fragment, then a truncated START.
    for bad in [vec![FLAG_START | FLAG_END; 21], vec![FLAG_START, 0]] {
        let (mut phone, terminal_end) = memory_link(8);
        let session = shop
            .pos
            .serve_gatt_link(23, terminal_end.sink, terminal_end.source)
            .unwrap();
        phone.sink.send(bad).await.unwrap();
        ends(session).await;
    }
    // A phone that stops in the middle of a frame.
    let (mut phone, terminal_end) = memory_link(8);
    let session = shop
        .pos
        .serve_gatt_link(23, terminal_end.sink, terminal_end.source)
        .unwrap();
    phone.sink.send(vec![FLAG_START, 0, 200, 1]).await.unwrap();
    drop(phone);
    ends(session).await;

    // A terminal that answers with an oversized fragment: the connect
    // fails with an error, not a panic or a hang.
    let (phone, mut fake_terminal) = memory_link(8);
    let connecting = {
        let rider = shop.rider.wallet.clone();
        let terminal = manual_terminal(&shop.pos);
        tokio::spawn(async move {
            rider
                .terminals()
                .connect_gatt_link(&terminal, 23, phone.sink, phone.source)
                .await
        })
    };
    let hello = fake_terminal
        .source
        .recv()
        .await
        .expect("the phone's hello");
    assert_eq!(hello[0] & FLAG_START, FLAG_START);
    fake_terminal.sink.send(vec![0xC0; 64]).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .expect("the phone gives up")
        .unwrap();
    assert!(
        matches!(
            refused,
            Err(WalletError::TerminalUnreachable { .. }) | Err(WalletError::SessionFailed { .. })
        ),
        "{refused:?}"
    );

    // The terminal serves the next phone.
    let order = shop.pos.new_sale(300, "Cookie").await.unwrap();
    let (session, _) = connect_over_ble(&shop.rider, &shop.pos, 23).await;
    pay_sale(&session, &shop.pos, &order, 300, 5_000).await;
    assert!(shop.pos.status().sessions_served >= 1);
}

#[tokio::test]
async fn a_missing_bluetooth_adapter_stops_the_start_with_a_typed_error() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let cafe = system.merchant("Corner Café", CNY).await.unwrap();
    let options = TerminalOptions {
        ble: Some(BleConfig {
            adapter: "hci-wayfare-absent".into(),
        }),
        ..TerminalOptions::default()
    };
    let started = system.pos_terminal(&cafe, CNY, options).await;
    let err = started.expect_err("no adapter here");
    let typed = err.downcast_ref::<TerminalError>();
    assert!(
        matches!(typed, Some(TerminalError::BluetoothUnavailable(_))),
        "{err:?}"
    );
}
