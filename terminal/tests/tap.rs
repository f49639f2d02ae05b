//! Tap-in/tap-out against a real terminal over TCP, with a stub control
//! center that confirms payments.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use wayfare_protocol::fare::FareMode;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{DoneOutcome, SessionMessage, TerminalKind};
use wayfare_protocol::tap_in::TapInToken;
use wayfare_terminal::config::TapRole;

/// Connects, presents `token` (or stays silent when `silent`), and returns
/// the first message the terminal sends back.
async fn tap(
    addr: std::net::SocketAddr,
    f: &Fixture,
    token: Option<TapInToken>,
    silent: bool,
) -> (RawPhone, SessionMessage) {
    let mut phone = f.phone(addr).await;
    if !silent {
        phone.send(&SessionMessage::TapIn { token }).await;
    }
    let first = phone.recv().await.expect("terminal closed");
    (phone, first)
}

/// The phone's device-signed acknowledgement of an entry (any device key:
/// the gate checks what the consent names, the control center the key).
async fn acknowledge(phone: &mut RawPhone, f: &Fixture, token: &TapInToken) {
    let (body, _) = token
        .verify_authentic(&f.operator.public_key(), now_ms())
        .unwrap();
    let consent = wayfare_protocol::entry_consent::EntryConsent::sign(
        &SigningKey::generate().unwrap(),
        &wayfare_protocol::entry_consent::EntryConsentBody {
            version: 1,
            token_id: body.token_id.clone(),
            terminal_id: body.terminal_id.clone(),
            account_id: "acc_test".into(),
            device_id: "dev_test".into(),
            maximum_fare_minor: 500,
            currency: "CNY".into(),
            expires_at_ms: body.expires_at_ms,
            signed_at_ms: now_ms(),
        },
    )
    .unwrap();
    phone.send(&SessionMessage::TapInAccepted { consent }).await;
}

async fn pay(
    phone: &mut RawPhone,
    f: &Fixture,
    request: &wayfare_protocol::messages::PaymentRequest,
) {
    let receipt = f.receipt_for(request, &f.receipt_key);
    phone.send(&SessionMessage::Receipt { receipt }).await;
    match phone.recv().await {
        Some(SessionMessage::Done(done)) => {
            assert_eq!(done.outcome, DoneOutcome::Accepted, "{}", done.message)
        }
        other => panic!("expected Done, got {other:?}"),
    }
}

#[tokio::test]
async fn entry_exit_reuse_and_forgery_at_a_two_way_gate() {
    let f = Fixture::new(TerminalKind::Gate).await;
    let stub = f.stub().await;
    let t = wayfare_terminal::start(f.tap_config(&stub.url, TapRole::Both, "Central", 4))
        .await
        .unwrap();

    // Entry: no token, so a token is issued and nothing is charged.
    let (mut phone, first) = tap(t.phone_addr(), &f, None, false).await;
    let token = match first {
        SessionMessage::TapInIssued { token, .. } => {
            acknowledge(&mut phone, &f, &token).await;
            token
        }
        other => panic!("expected TapInIssued, got {other:?}"),
    };
    let (body, _) = token.verify(&f.operator.public_key(), now_ms()).unwrap();
    assert_eq!(
        (
            body.line.as_str(),
            body.station.as_str(),
            body.station_index
        ),
        ("T1", "Central", 4)
    );
    assert_eq!(body.terminal_id, TERMINAL_ID);
    match phone.recv().await {
        Some(SessionMessage::Done(d)) => {
            assert_eq!(d.outcome, DoneOutcome::Accepted);
            assert!(
                d.message.contains("Tap-in recorded at Central"),
                "{}",
                d.message
            );
        }
        other => panic!("expected Done, got {other:?}"),
    }
    phone.expect_closed().await;
    eventually("the tap-in report", || {
        stub.reports().iter().any(|r| r["kind"] == "tap_in")
    })
    .await;
    let report = stub
        .reports()
        .into_iter()
        .find(|r| r["kind"] == "tap_in")
        .unwrap();
    assert_eq!(report["order_id"], body.token_id.as_str());
    assert!(report.get("amount_minor").is_none());
    assert_eq!(report["fare"]["mode"], "tap_in");
    assert_eq!(report["fare"]["entry"]["token_id"], body.token_id.as_str());

    // Exit with the token: priced from the table (0 stations: 200).
    eventually("terminal free", || !t.status().busy).await;
    let (mut phone, first) = tap(t.phone_addr(), &f, Some(token.clone()), false).await;
    let request = match first {
        SessionMessage::PaymentRequest(r) => r,
        other => panic!("expected a PaymentRequest, got {other:?}"),
    };
    assert_eq!(request.amount_minor, 200);
    let fare = request.fare.clone().unwrap();
    assert_eq!(fare.mode, FareMode::TapOut);
    let entry = fare.entry.unwrap();
    assert_eq!(
        (entry.station.as_str(), entry.token_id.as_str()),
        ("Central", body.token_id.as_str())
    );
    pay(&mut phone, &f, &request).await;
    phone.expect_closed().await;

    // The same token again: the maximum fare, with the reason.
    eventually("terminal free", || !t.status().busy).await;
    let (mut phone, first) = tap(t.phone_addr(), &f, Some(token.clone()), false).await;
    let request = match first {
        SessionMessage::PaymentRequest(r) => r,
        other => panic!("expected a PaymentRequest, got {other:?}"),
    };
    assert_eq!(request.amount_minor, 500);
    assert_eq!(request.fare.as_ref().unwrap().mode, FareMode::MaximumFare);
    assert!(
        request.description.contains("already used"),
        "{}",
        request.description
    );
    phone
        .send(&SessionMessage::Decline {
            reason: "no".into(),
        })
        .await;
    drop(phone);

    // A token signed by a key the operator never certified: maximum fare.
    eventually("terminal free", || !t.status().busy).await;
    let thief = SigningKey::generate().unwrap();
    let mut forged_body = body.clone();
    forged_body.token_id = "tap_forged".into();
    let forged = TapInToken::issue(&thief, &forged_body).unwrap();
    let (phone, first) = tap(t.phone_addr(), &f, Some(forged), false).await;
    match first {
        SessionMessage::PaymentRequest(r) => {
            assert_eq!(r.amount_minor, 500);
            assert!(r.description.contains("not genuine"), "{}", r.description);
        }
        other => panic!("expected a PaymentRequest, got {other:?}"),
    }
    drop(phone);

    // A phone that says nothing about tokens is entering.
    eventually("terminal free", || !t.status().busy).await;
    let (phone, first) = tap(t.phone_addr(), &f, None, true).await;
    assert!(matches!(first, SessionMessage::TapInIssued { .. }));
    drop(phone);
    t.shutdown().await;
}

#[tokio::test]
async fn an_exit_gate_charges_the_maximum_without_a_token_and_survives_restart() {
    let f = Fixture::new(TerminalKind::Gate).await;
    let stub = f.stub().await;
    let t = wayfare_terminal::start(f.tap_config(&stub.url, TapRole::Exit, "Harbour", 2))
        .await
        .unwrap();
    let (phone, first) = tap(t.phone_addr(), &f, None, false).await;
    match first {
        SessionMessage::PaymentRequest(r) => {
            assert_eq!(r.amount_minor, 500);
            assert_eq!(r.fare.unwrap().mode, FareMode::MaximumFare);
            assert!(r.description.contains("no tap-in token"));
        }
        other => panic!("expected a PaymentRequest, got {other:?}"),
    }
    drop(phone);
    t.shutdown().await;

    // An entry terminal of the same operator issues a token; the exit
    // terminal remembers it once paid, across a restart.
    let e = wayfare_terminal::start(f.tap_config(&stub.url, TapRole::Entry, "Airport", 1))
        .await
        .unwrap();
    let (phone, first) = tap(e.phone_addr(), &f, None, false).await;
    let SessionMessage::TapInIssued { token, .. } = first else {
        panic!("expected a token")
    };
    let mut phone = phone;
    acknowledge(&mut phone, &f, &token).await;
    assert!(matches!(phone.recv().await, Some(SessionMessage::Done(_))));
    drop(phone);
    e.shutdown().await;
    let t = wayfare_terminal::start(f.tap_config(&stub.url, TapRole::Exit, "Harbour", 2))
        .await
        .unwrap();
    let (mut phone, first) = tap(t.phone_addr(), &f, Some(token.clone()), false).await;
    let SessionMessage::PaymentRequest(request) = first else {
        panic!("expected a request")
    };
    assert_eq!(
        request.amount_minor, 200,
        "one station (the stub confirms 200)"
    );
    assert_eq!(request.fare.as_ref().unwrap().mode, FareMode::TapOut);
    pay(&mut phone, &f, &request).await;
    drop(phone);
    t.shutdown().await;
    let t = wayfare_terminal::start(f.tap_config(&stub.url, TapRole::Exit, "Harbour", 2))
        .await
        .unwrap();
    let (phone, first) = tap(t.phone_addr(), &f, Some(token), false).await;
    let SessionMessage::PaymentRequest(request) = first else {
        panic!("expected a request")
    };
    assert!(request.description.contains("already used"));
    drop(phone);
    t.shutdown().await;
}
