//! NFC end to end through the real PC/SC stack (P5: the phone is the
//! card): a terminal's reader loop talks to a private `pcscd` whose
//! `vsmartcard-vpcd` reader has the wallet's card handler (`NfcCard`, what
//! the Android app's `HostApduService` calls) in its field. A POS payment
//! and a tap in / tap out at two gates run over APDUs exactly as over TCP.

use std::sync::Arc;
use std::time::Duration;

use wayfare_cli::local::{LocalSystem, TerminalOptions};
use wayfare_core::{TapOutcome, TerminalSession};
use wayfare_e2e::nfc::{virtual_reader, PhoneOnReader, SessionInbox};
use wayfare_e2e::{metro_gates, pay_exit_fare, pay_sale, payments_in_history, shop};
use wayfare_terminal::nfc::NfcConfig;

fn on_reader(name: &str) -> TerminalOptions {
    TerminalOptions {
        nfc: Some(NfcConfig {
            reader: Some(name.to_string()),
        }),
        ..TerminalOptions::default()
    }
}

async fn next_session(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Result<Arc<TerminalSession>, String>>,
) -> Arc<TerminalSession> {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a session within 20 s of the tap")
        .expect("listener alive")
        .expect("a verified session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pos_payment_runs_over_nfc_through_pcscd() {
    let reader = virtual_reader();
    let _turn = reader.take().await;
    let (name, port) = reader.slots[0].clone();
    let shop = shop(on_reader(&name), 5_000).await;
    let order = shop.pos.new_sale(1_250, "Flat white").await.unwrap();

    let (inbox, mut sessions) = SessionInbox::new();
    let card = shop.rider.wallet.terminals().nfc_card(inbox);
    let phone = PhoneOnReader::place(port, card).await;
    let session = next_session(&mut sessions).await;
    assert_eq!(session.terminal().terminal_id, shop.pos.terminal_id());
    pay_sale(&session, &shop.pos, &order, 1_250, 5_000).await;
    phone.remove().await;
    assert_eq!(payments_in_history(&shop.rider).await, 1);
    assert_eq!(shop.system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_taps_in_and_out_over_nfc_at_two_gates() {
    let reader = virtual_reader();
    let _turn = reader.take().await;
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let (entry_reader, entry_port) = reader.slots[0].clone();
    let (exit_reader, exit_port) = reader.slots[1].clone();
    let (_entry, _exit) =
        metro_gates(&system, on_reader(&entry_reader), on_reader(&exit_reader)).await;
    let rider = system.rider("Mei", None).await.unwrap();
    system.fund(&rider, 2_000).await.unwrap();
    let (inbox, mut sessions) = SessionInbox::new();
    let card = rider.wallet.terminals().nfc_card(inbox);

    let phone = PhoneOnReader::place(entry_port, card.clone()).await;
    let session = next_session(&mut sessions).await;
    match session.tap().await.unwrap() {
        TapOutcome::Entered { station, .. } => assert_eq!(station, "Harbour"),
        other => panic!("expected an entry, got {other:?}"),
    }
    phone.remove().await;
    drop(session);

    let phone = PhoneOnReader::place(exit_port, card).await;
    let session = next_session(&mut sessions).await;
    let (request, paid) = pay_exit_fare(&session, "Harbour").await;
    assert_eq!(
        paid.balance_after_minor,
        2_000 - request.amount_minor as i64
    );
    phone.remove().await;
    assert_eq!(payments_in_history(&rider).await, 1);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
}
