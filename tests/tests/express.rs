//! The express tap end to end (issue 9.2) through the real PC/SC stack: a
//! flat-fare gate reads the phone's allowance in `SELECT`'s answer, sends
//! its offer, verifies the signed tap offline and opens — with the control
//! center down; the tap settles exactly once (and the guardian hears of
//! it) when the control center is back. A phone whose allowances were
//! revoked (reported lost) is refused at the gate once the gate's deny
//! list has the revocation.

use std::time::Duration;

use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions, TramSetup};
use wayfare_core::{ExpressSettings, GuardianScope, RiderName};
use wayfare_e2e::nfc::{virtual_reader, PhoneOnReader, SessionInbox};
use wayfare_e2e::payments_in_history;
use wayfare_protocol::messages::TerminalKind;
use wayfare_terminal::express::ExpressConfig;
use wayfare_terminal::nfc::NfcConfig;
use wayfare_terminal::RunningTerminal;

const CNY: &str = "CNY";
const FARE: u64 = 300;

/// Polls `what` every 20 ms for up to 60 s.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn gate(system: &LocalSystem, reader: &str) -> RunningTerminal {
    let operator = system.merchant("City Metro", CNY).await.unwrap();
    let setup = TramSetup {
        fare_minor: FARE,
        station: "Harbour".into(),
        ..TramSetup::default()
    };
    let options = TerminalOptions {
        nfc: Some(NfcConfig {
            reader: Some(reader.to_string()),
        }),
        express: ExpressConfig {
            deny_list_sync_ms: 100,
            ..ExpressConfig::default()
        },
        ..TerminalOptions::default()
    };
    system
        .flat_fare_terminal(&operator, TerminalKind::Gate, CNY, &setup, options)
        .await
        .unwrap()
}

async fn express_rider(system: &LocalSystem) -> RiderWallet {
    let rider = system.rider("Mei", Some("+8613800131234")).await.unwrap();
    system.fund(&rider, 2_000).await.unwrap();
    let status = rider
        .wallet
        .express()
        .set_settings(ExpressSettings {
            enabled: true,
            per_tap_max_minor: 500,
            total_max_minor: 1_500,
        })
        .await
        .unwrap();
    assert!(status.ready, "{status:?}");
    rider
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_express_tap_opens_the_gate_offline_and_settles_once_when_the_center_returns() {
    let reader = virtual_reader();
    let _turn = reader.take().await;
    wayfare_e2e::init();
    let mut system = LocalSystem::start().await.unwrap();
    let (name, port) = reader.slots[0].clone();
    let gate = gate(&system, &name).await;
    let rider = express_rider(&system).await;
    let guardian = system.rider("Dad", None).await.unwrap();
    let invitation = rider
        .wallet
        .guardians()
        .create_invitation(GuardianScope::TransitOnly, RiderName::PhoneTail, None)
        .await
        .unwrap();
    guardian
        .wallet
        .guardians()
        .accept_invitation(invitation.code)
        .await
        .unwrap();
    until("the gate's deny list", async || {
        gate.status().express.deny_list_version > 0
            || gate.status().express.deny_list_issued_at_ms > 0
    })
    .await;

    // The control center goes down; the gate still opens for the phone.
    system.stop_server().await;
    let (inbox, mut sessions) = SessionInbox::new();
    let card = rider.wallet.terminals().nfc_card(inbox);
    let phone = PhoneOnReader::place(port, card.clone()).await;
    until("the gate to open", async || {
        gate.status().linkage_activations == 1
    })
    .await;
    phone.remove().await;
    let status = gate.status().express;
    assert_eq!((status.accepted, status.queued), (1, 1), "{status:?}");
    assert!(sessions.try_recv().is_err(), "no full session was needed");
    let pending = rider.wallet.express().status().unwrap().pending_taps;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].amount_minor, pending[0].station.as_str()),
        (FARE, "Harbour")
    );

    // Back online: the queued tap is charged once, the guardian alerted.
    system.restart_server().await.unwrap();
    until("the tap to upload", async || {
        gate.status().express.queued == 0
    })
    .await;
    assert_eq!(rider.balance().await.unwrap(), 2_000 - FARE as i64);
    assert_eq!(payments_in_history(&rider).await, 1);
    let alerts = guardian.wallet.guardians().sync_alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].amount_minor, FARE as i64);
    let account = rider.wallet.express().sync().await.unwrap();
    assert!(account.pending_taps.is_empty(), "{account:?}");
    assert_eq!(account.settled_taps.len(), 1);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_reported_lost_is_refused_at_the_gate() {
    let reader = virtual_reader();
    let _turn = reader.take().await;
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let (name, port) = reader.slots[1].clone();
    let gate = gate(&system, &name).await;
    let rider = express_rider(&system).await;
    until("the gate's deny list", async || {
        gate.status().express.deny_list_issued_at_ms > 0
    })
    .await;
    let version = gate.status().express.deny_list_version;

    let device = rider.wallet.account().info().unwrap().device_id;
    assert_eq!(
        system
            .admin()
            .revoke_express(&device, "lost")
            .await
            .unwrap(),
        1
    );
    until("the revocation to reach the gate", async || {
        gate.status().express.deny_list_version > version
    })
    .await;

    let (inbox, _sessions) = SessionInbox::new();
    let card = rider.wallet.terminals().nfc_card(inbox);
    let phone = PhoneOnReader::place(port, card).await;
    until("the refusal", async || {
        gate.status().express.last_refusal.is_some()
    })
    .await;
    phone.remove().await;
    let status = gate.status();
    assert_eq!(status.linkage_activations, 0, "the gate stayed shut");
    assert_eq!(status.express.accepted, 0);
    assert!(
        status
            .express
            .last_refusal
            .as_deref()
            .unwrap()
            .contains("deny list"),
        "{:?}",
        status.express.last_refusal
    );
    assert_eq!(rider.balance().await.unwrap(), 2_000);
}
