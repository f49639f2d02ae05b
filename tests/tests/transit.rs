//! Tap-in/tap-out end to end (P3.6): a real wallet taps in and out across
//! gates and pays the fare table's price for each station pair, its guardian
//! hears where the ride began and ended; a hand-made phone shows that a
//! missing or forged token costs the maximum fare and a used token buys
//! nothing twice, at the same gate or another one.

use std::time::Duration;

use serde_json::Value;
use wayfare_cli::local::{LocalSystem, TerminalOptions};
use wayfare_cli::local_transit::GateSetup;
use wayfare_core::TapOutcome;
use wayfare_e2e::tap;
use wayfare_protocol::ids::payment_idempotency_key;
use wayfare_protocol::instruction::InstructionBody;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{DoneOutcome, PaymentRequest, SessionMessage};
use wayfare_protocol::receipt::Receipt;
use wayfare_protocol::tap_in::TapInToken;
use wayfare_terminal::config::TapRole;
use wayfare_terminal::RunningTerminal;
use wayfare_testkit::raw_phone::RawPhone;
use wayfare_testkit::signed::SignedDevice;
use wayfare_testkit::{eventually, now_ms};

const CNY: &str = "CNY";

#[tokio::test]
async fn trips_between_gates_are_priced_by_the_fare_table_and_alerted_with_both_ends() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let operator = system.merchant("City Metro", CNY).await.unwrap();
    let mut gates = Vec::new();
    for (station, index) in [
        ("Harbour", 0),
        ("Museum", 1),
        ("Central", 4),
        ("Park", 10),
        ("University", 20),
    ] {
        let gate = system
            .tap_gate(
                &operator,
                CNY,
                &GateSetup::new(TapRole::Both, station, index),
                TerminalOptions::default(),
            )
            .await
            .unwrap();
        gates.push(gate);
    }
    let (rider, guardian) = wayfare_e2e::guarded_rider(&system).await;

    // (entry gate, exit gate, fare, entry station)
    let trips = [
        (0, 1, 200, "Harbour"), // 1 station
        (1, 2, 300, "Museum"),  // 3 stations
        (2, 3, 400, "Central"), // 6 stations
        (0, 4, 500, "Harbour"), // 20 stations: beyond the table, the maximum
    ];
    let mut spent = 0;
    for (entry, exit, fare, entry_station) in trips {
        let (outcome, _) = tap(&rider, &gates[entry]).await;
        match outcome {
            TapOutcome::Entered { station, line, .. } => {
                assert_eq!((station.as_str(), line.as_str()), (entry_station, "T1"))
            }
            other => panic!("expected an entry, got {other:?}"),
        }
        let (outcome, session) = tap(&rider, &gates[exit]).await;
        let TapOutcome::PaymentRequested { request } = outcome else {
            panic!("expected a fare at the exit, got {outcome:?}");
        };
        assert_eq!(request.amount_minor, fare, "{entry_station} → exit {exit}");
        let f = request.fare.clone().unwrap();
        assert_eq!(f.mode, "tap_out");
        assert_eq!(f.entry_station.as_deref(), Some(entry_station));
        let paid = session.confirm().await.unwrap();
        spent += fare as i64;
        assert_eq!(paid.balance_after_minor, 10_000 - spent);

        let alerts = guardian.wallet.guardians().sync_alerts().await.unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.payment_id, paid.payment_id);
        let t = a.transit.clone().unwrap();
        assert_eq!(t.mode, "tap_out");
        assert_eq!(t.entry_station.as_deref(), Some(entry_station));
        assert_eq!(t.station, request.fare.unwrap().station);
        assert!(
            a.text_en
                .contains(&format!("boarding at {entry_station} at"))
                && a.text_en.contains(&format!("leaving at {}.", t.station)),
            "{}",
            a.text_en
        );
        assert!(
            a.text_zh.contains(&format!("在{entry_station}上车")),
            "{}",
            a.text_zh
        );
    }
    assert_eq!(rider.balance().await.unwrap(), 10_000 - spent);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);

    // The entries were reported to the control center (no money moved).
    let reports = system
        .admin()
        .terminal_reports(&gates[0].beacon().terminal_id)
        .await
        .unwrap();
    assert!(reports.iter().any(|r| r["kind"] == "tap_in"));

    // With no token held, a gate that also exits treats the phone as entering.
    let (outcome, _) = tap(&rider, &gates[3]).await;
    assert!(matches!(outcome, TapOutcome::Entered { .. }));
}

/// A device registered by hand (the test kit's), paying like the core does.
struct RawPayer(SignedDevice);

impl RawPayer {
    async fn register(system: &LocalSystem) -> Self {
        let device = SignedDevice::register(system.base_url(), "Raw").await;
        system
            .admin()
            .sandbox_top_up(&device.account_id, 10_000, CNY)
            .await
            .unwrap();
        Self(device)
    }

    /// Pays a request at the server; the receipt on success, the error otherwise.
    async fn pay(&self, r: &PaymentRequest) -> Result<Receipt, Value> {
        let d = &self.0;
        let body = InstructionBody {
            version: 1,
            account_id: d.account_id.clone(),
            device_id: d.device_id.clone(),
            idempotency_key: payment_idempotency_key(&d.account_id, &r.terminal_id, &r.order_id),
            order_id: r.order_id.clone(),
            merchant_id: r.merchant_id.clone(),
            terminal_id: r.terminal_id.clone(),
            amount_minor: r.amount_minor,
            currency: r.currency.clone(),
            description: r.description.clone(),
            fare: r.fare.clone(),
            expires_at_ms: r.expires_at_ms,
            signed_at_ms: now_ms(),
            points_spent: 0,
        };
        let (status, answer) = d.pay(&body).await;
        if status == 201 {
            Ok(Receipt::from_base64(answer["receipt"].as_str().unwrap()).unwrap())
        } else {
            Err(answer)
        }
    }
}

async fn present(
    gate: &RunningTerminal,
    operator: &wayfare_protocol::keys::PublicKey,
    token: Option<TapInToken>,
) -> (RawPhone, SessionMessage) {
    let mut phone = RawPhone::handshake(gate.phone_addr(), operator, None).await;
    phone.send(&SessionMessage::TapIn { token }).await;
    let first = phone.recv().await.expect("the gate answers the tap");
    (phone, first)
}

async fn gate(
    system: &LocalSystem,
    metro: &wayfare_cli::admin::Merchant,
    role: TapRole,
    station: &str,
    index: u32,
) -> RunningTerminal {
    system
        .tap_gate(
            metro,
            CNY,
            &GateSetup::new(role, station, index),
            TerminalOptions::default(),
        )
        .await
        .unwrap()
}

/// Declines, hangs up and waits until the gate serves the next phone.
async fn leave(mut phone: RawPhone, gate: &RunningTerminal) {
    phone
        .try_send(&SessionMessage::Decline {
            reason: "test".into(),
        })
        .await;
    drop(phone);
    eventually("the gate serves the next phone", || !gate.status().busy).await;
}

fn request_of(message: SessionMessage) -> PaymentRequest {
    match message {
        SessionMessage::PaymentRequest(r) => r,
        other => panic!("expected a payment request, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_forged_and_reused_tokens_never_ride_free() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let operator_key = system.server().unwrap().operator_key();
    let metro = system.merchant("City Metro", CNY).await.unwrap();
    let entry = gate(&system, &metro, TapRole::Entry, "Harbour", 0).await;
    let exit_a = gate(&system, &metro, TapRole::Exit, "Central", 3).await;
    let exit_b = gate(&system, &metro, TapRole::Exit, "Central east", 3).await;

    // A genuine token from the entry gate.
    let (mut phone, first) = present(&entry, &operator_key, None).await;
    let SessionMessage::TapInIssued {
        token,
        maximum_fare_minor,
        currency,
    } = first
    else {
        panic!("expected a token, got {first:?}");
    };
    // The gate opens once the entry is acknowledged (a device-signed
    // consent; this hand-made phone's key is unknown to the control
    // center, which then records no entry for any account).
    let (issued, _) = token.verify(&operator_key, now_ms()).unwrap();
    let consent = wayfare_protocol::entry_consent::EntryConsent::sign(
        &SigningKey::generate().unwrap(),
        &wayfare_protocol::entry_consent::EntryConsentBody {
            version: 1,
            token_id: issued.token_id.clone(),
            terminal_id: issued.terminal_id.clone(),
            account_id: "acc_raw".into(),
            device_id: "dev_raw".into(),
            maximum_fare_minor,
            currency: currency.code().to_string(),
            expires_at_ms: issued.expires_at_ms,
            signed_at_ms: now_ms(),
        },
    )
    .unwrap();
    phone.send(&SessionMessage::TapInAccepted { consent }).await;
    assert!(
        matches!(phone.recv().await.unwrap(), SessionMessage::Done(d) if d.outcome == DoneOutcome::Accepted)
    );
    let (body, _) = token.verify(&operator_key, now_ms()).unwrap();

    // No token at an exit: the maximum fare, with the reason.
    let (p, first) = present(&exit_a, &operator_key, None).await;
    let r = request_of(first);
    assert_eq!(r.amount_minor, 500);
    assert!(
        r.description.contains("no tap-in token"),
        "{}",
        r.description
    );
    leave(p, &exit_a).await;

    // A forged token (signed by a key the operator never certified).
    let thief = SigningKey::generate().unwrap();
    let mut forged_body = body.clone();
    forged_body.token_id = "tap_forged0000000000000000".into();
    forged_body.station_index = 2;
    let forged = TapInToken::issue(&thief, &forged_body).unwrap();
    let (p, first) = present(&exit_a, &operator_key, Some(forged)).await;
    let r = request_of(first);
    assert_eq!(r.amount_minor, 500);
    assert_eq!(r.fare.as_ref().unwrap().entry, None);
    assert!(r.description.contains("not genuine"), "{}", r.description);
    leave(p, &exit_a).await;

    // The genuine token: 3 stations, ¥3.00, paid and the gate opens.
    let payer = RawPayer::register(&system).await;
    let (mut phone, first) = present(&exit_a, &operator_key, Some(token.clone())).await;
    let r = request_of(first);
    assert_eq!(r.amount_minor, 300);
    let receipt = payer.pay(&r).await.expect("the first exit pays");
    phone.send(&SessionMessage::Receipt { receipt }).await;
    match phone.recv().await.unwrap() {
        SessionMessage::Done(d) => assert_eq!(d.outcome, DoneOutcome::Accepted),
        other => panic!("expected Done, got {other:?}"),
    }
    assert_eq!(exit_a.status().linkage_activations, 1);
    leave(phone, &exit_a).await;

    // Reused at the same gate: it remembers, so the maximum fare.
    let (p, first) = present(&exit_a, &operator_key, Some(token.clone())).await;
    let r = request_of(first);
    assert_eq!(r.amount_minor, 500);
    assert!(r.description.contains("already used"), "{}", r.description);
    leave(p, &exit_a).await;

    // Reused at another gate (which cannot know): the server refuses to
    // take a second payment for the token, so no receipt and no gate.
    let (mut phone, first) = present(&exit_b, &operator_key, Some(token)).await;
    let r = request_of(first);
    assert_eq!(r.amount_minor, 300);
    let refused = payer
        .pay(&r)
        .await
        .expect_err("a second payment for the token");
    assert_eq!(refused["error"]["code"], "tap_in_token_used");
    phone
        .send(&SessionMessage::Decline {
            reason: "the server refused".into(),
        })
        .await;
    assert_eq!(exit_b.status().linkage_activations, 0);
    assert_eq!(system.balance_of(&payer.0.account_id).await, 10_000 - 300);
}

#[tokio::test]
async fn the_demo_scene_runs() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    wayfare_cli::demo_guardian::demo_guardian_and_tap_ride(&system)
        .await
        .unwrap();
}

/// Issue 8.2: the real wallet acknowledges every entry with a
/// device-signed consent, so the control center knows its open journey; a
/// second entry without a tap-out charges the first the maximum fare,
/// exactly once, with the reason in the rider's history.
#[tokio::test]
async fn a_second_entry_without_a_tap_out_charges_the_first_journey_the_maximum_once() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let metro = system.merchant("City Metro", CNY).await.unwrap();
    let harbour = gate(&system, &metro, TapRole::Entry, "Harbour", 0).await;
    let museum = gate(&system, &metro, TapRole::Entry, "Museum", 1).await;
    let rider = system.rider("Mei", None).await.unwrap();
    system.fund(&rider, 2_000).await.unwrap();

    let (outcome, _) = wayfare_e2e::tap(&rider, &harbour).await;
    assert!(matches!(outcome, TapOutcome::Entered { .. }), "{outcome:?}");
    let (outcome, _) = wayfare_e2e::tap(&rider, &museum).await;
    assert!(matches!(outcome, TapOutcome::Entered { .. }), "{outcome:?}");

    // The gates' reports reach the control center through their queues
    // (with backoff on a slow machine: poll for up to a minute).
    let deadline = now_ms() + 60_000;
    let charged = loop {
        let history = rider.wallet.account().history(50).await.unwrap();
        let charged: Vec<_> = history
            .into_iter()
            .filter(|e| e.description.contains("never tapped out"))
            .collect();
        if !charged.is_empty() || now_ms() > deadline {
            break charged;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert!(
        charged[0].description.contains("entered at Harbour"),
        "{}",
        charged[0].description
    );
    assert_eq!(charged[0].amount_minor, -500);
    assert_eq!(rider.balance().await.unwrap(), 1_500);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
}
