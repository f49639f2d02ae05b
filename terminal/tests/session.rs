//! Phone sessions against a real terminal over TCP.

use crate::common;

use common::*;
use wayfare_protocol::fare::FareMode;
use wayfare_protocol::framing::MAX_FRAME_LEN;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{
    DoneOutcome, ErrorCode, HandshakeMessage, SessionMessage, TerminalKind,
};
use wayfare_terminal::SaleState;

#[tokio::test]
async fn handshake_then_tram_payment_request() {
    let (f, t) = offline_tram().await;
    let mut phone = f.phone(t.phone_addr()).await;
    phone
        .send(&SessionMessage::Identity {
            handle: "rider-7f3a".into(),
        })
        .await;
    let req = phone.expect_request().await;
    assert_eq!(req.terminal_id, TERMINAL_ID);
    assert_eq!(req.merchant_id, MERCHANT_ID);
    assert_eq!(req.merchant_name, "Tram T1");
    assert_eq!(req.amount_minor, 200);
    assert_eq!(req.currency.code(), "CNY");
    assert!(req.order_id.starts_with("ord_"));
    assert!(req.expires_at_ms > req.created_at_ms);
    let fare = req.fare.unwrap();
    assert_eq!(fare.mode, FareMode::Flat);
    assert_eq!(
        (
            fare.line.as_str(),
            fare.station.as_str(),
            fare.station_index
        ),
        ("T1", "Central", 4)
    );
    assert_eq!(fare.direction.from, "Airport");
    assert_eq!(fare.direction.towards, "Harbour");
    assert!(t.status().busy);
    assert_eq!(t.status().sessions_served, 1);
    drop(phone);
    t.shutdown().await;
}

#[tokio::test]
async fn a_second_phone_gets_busy_and_never_queues() {
    let (f, t) = offline_tram().await;
    let mut first = f.phone(t.phone_addr()).await;
    first.expect_request().await;

    let mut second = RawPhone::connect(t.phone_addr()).await;
    second.send_hello().await;
    match second.read_handshake().await {
        Some(HandshakeMessage::Busy { retry_after_ms }) => assert!(retry_after_ms > 0),
        other => panic!("expected Busy, got {other:?}"),
    }
    second.expect_closed().await;

    // The first phone is unaffected; once it is done the terminal is free.
    first
        .send(&SessionMessage::Decline {
            reason: "changed my mind".into(),
        })
        .await;
    assert!(matches!(first.recv().await, Some(SessionMessage::Done(_))));
    first.expect_closed().await;
    serves_the_next_phone(&f, &t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn decline_ends_with_cancelled_and_no_linkage() {
    let (f, t) = offline_tram().await;
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    assert_eq!(
        decline(&mut phone, "too expensive").await.outcome,
        DoneOutcome::Cancelled
    );
    phone.expect_closed().await;
    let outcome = t.sale_outcome(&req.order_id).await.unwrap();
    assert_eq!(outcome.state, SaleState::Declined);
    let status = t.status();
    assert_eq!(status.linkage_activations, 0);
    assert_eq!(status.last_outcome.unwrap().order_id, req.order_id);
    // The control center is down: the report waits in the durable queue.
    assert_eq!(status.queued_reports, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn a_tampered_frame_ends_the_session_and_the_terminal_keeps_serving() {
    let (f, t) = offline_tram().await;
    let mut phone = f.phone(t.phone_addr()).await;
    phone.expect_request().await;
    let mut sealed = phone.seal(&SessionMessage::Decline { reason: "x".into() });
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    phone
        .send_raw(&wayfare_protocol::framing::encode_frame(&sealed).unwrap())
        .await;
    // The terminal says "protocol error" (sealed) and closes; no Done.
    expect_protocol_error_and_close(&mut phone).await;
    assert_eq!(t.status().linkage_activations, 0);
    serves_the_next_phone(&f, &t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_replayed_frame_ends_the_session() {
    let (f, t) = offline_tram().await;
    let mut phone = f.phone(t.phone_addr()).await;
    phone.expect_request().await;
    let frame = wayfare_protocol::framing::encode_frame(&phone.seal(&SessionMessage::Identity {
        handle: "rider-7f3a".into(),
    }))
    .unwrap();
    phone.send_raw(&frame).await;
    phone.send_raw(&frame).await;
    expect_protocol_error_and_close(&mut phone).await;
    t.shutdown().await;
}

#[tokio::test]
async fn an_oversized_frame_header_is_refused() {
    let (f, t) = offline_tram().await;
    let mut phone = RawPhone::connect(t.phone_addr()).await;
    phone
        .send_raw(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes())
        .await;
    match phone.read_handshake().await {
        Some(HandshakeMessage::Error(e)) => assert_eq!(e.code, ErrorCode::Protocol),
        None => {}
        other => panic!("expected an error or a close, got {other:?}"),
    }
    phone.expect_closed().await;
    // Garbage instead of a hello is refused the same way.
    eventually("terminal free", || !t.status().busy).await;
    let mut garbage = RawPhone::connect(t.phone_addr()).await;
    garbage
        .send_raw(&wayfare_protocol::framing::encode_frame(b"\xff\x00not cbor").unwrap())
        .await;
    garbage.expect_closed().await;
    serves_the_next_phone(&f, &t).await;
    assert_eq!(t.status().sessions_served, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn a_forged_receipt_is_refused_and_the_gate_stays_shut() {
    let (f, stub, t) = tram_with_stub().await;
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    let forger = SigningKey::generate().unwrap();
    let receipt = f.receipt_for(&req, &forger);
    assert_eq!(
        present_receipt(&mut phone, receipt).await.outcome,
        DoneOutcome::Refused
    );
    assert_eq!(t.status().linkage_activations, 0);
    assert_eq!(
        t.sale_outcome(&req.order_id).await.unwrap().state,
        SaleState::Refused
    );
    // The platform was never asked: the receipt failed before that.
    assert_eq!(stub.state.lock().unwrap().confirmations, 0);
    eventually("refusal reported", || !stub.reports().is_empty()).await;
    assert_eq!(stub.reports()[0]["kind"], "payment_refused");
    t.shutdown().await;
}

#[tokio::test]
async fn a_receipt_for_another_amount_is_refused() {
    let (f, _stub, t) = tram_with_stub().await;
    let mut phone = f.phone(t.phone_addr()).await;
    let mut req = phone.expect_request().await;
    req.amount_minor = 1;
    let receipt = f.receipt_for(&req, &f.receipt_key);
    assert_eq!(
        present_receipt(&mut phone, receipt).await.outcome,
        DoneOutcome::Refused
    );
    assert_eq!(t.status().linkage_activations, 0);
    t.shutdown().await;
}

#[tokio::test]
async fn a_valid_receipt_confirmed_by_the_platform_opens_the_gate_once() {
    let (f, stub, t) = tram_with_stub().await;
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    let receipt = f.receipt_for(&req, &f.receipt_key);
    let done = present_receipt(&mut phone, receipt).await;
    assert_eq!(
        (done.outcome, done.message.as_str()),
        (DoneOutcome::Accepted, "Gate opened")
    );
    assert_eq!(t.status().linkage_activations, 1);
    let outcome = t.sale_outcome(&req.order_id).await.unwrap();
    assert_eq!(outcome.state, SaleState::Accepted);
    assert_eq!(
        outcome.payment_id.as_deref(),
        Some("pay_00112233445566778899aabb")
    );
    eventually("report uploaded", || !stub.reports().is_empty()).await;
    let report = &stub.reports()[0];
    assert_eq!(report["kind"], "payment_accepted");
    assert_eq!(report["order_id"], req.order_id.as_str());
    assert_eq!(report["amount_minor"], 200);
    assert_eq!(report["fare"]["station"], "Central");
    assert!(report["report_id"].as_str().unwrap().starts_with("rep_"));
    eventually("queue drained", || t.status().queued_reports == 0).await;
    assert_eq!(stub.state.lock().unwrap().bad_signatures, 0);
    t.shutdown().await;
}

#[tokio::test]
async fn a_payment_the_platform_does_not_confirm_keeps_the_gate_shut() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let stub = f.stub().await;
    stub.state.lock().unwrap().confirmed = false;
    let t = wayfare_terminal::start(f.tram_config(&stub.url))
        .await
        .unwrap();
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    assert_eq!(
        pay_with_receipt(&mut phone, &f, &req).await,
        DoneOutcome::Refused
    );
    assert_eq!(t.status().linkage_activations, 0);
    assert_eq!(stub.state.lock().unwrap().confirmations, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn an_unpaid_request_expires() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let mut config = f.tram_config(UNREACHABLE);
    if let wayfare_terminal::config::ModeConfig::Tram(tram) = &mut config.mode {
        tram.request_ttl_ms = 1_000;
    }
    let t = wayfare_terminal::start(config).await.unwrap();
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    match phone.recv().await {
        Some(SessionMessage::Error(e)) => assert_eq!(e.code, ErrorCode::Expired),
        other => panic!("expected an Expired error, got {other:?}"),
    }
    phone.expect_closed().await;
    assert_eq!(
        t.sale_outcome(&req.order_id).await.unwrap().state,
        SaleState::Expired
    );
    t.shutdown().await;
}

#[tokio::test]
async fn a_pushed_payment_confirms_when_the_platform_api_is_down() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let stub = f.stub().await;
    stub.state.lock().unwrap().confirmations_down = true;
    let t = wayfare_terminal::start(f.tram_config(&stub.url))
        .await
        .unwrap();
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    // The server pushes "payment complete" to the terminal too (P2).
    stub.push_payment(payment_completed(
        "pay_00112233445566778899aabb",
        &req.order_id,
    ));
    assert_eq!(
        pay_with_receipt(&mut phone, &f, &req).await,
        DoneOutcome::Accepted
    );
    assert_eq!(t.status().linkage_activations, 1);
    assert_eq!(stub.state.lock().unwrap().bad_signatures, 0);
    t.shutdown().await;
}

/// A genuine receipt the platform cannot confirm (it is down) and a push
/// for another payment: the gate stays shut, but the sale is in doubt, not
/// refused — the phone did pay; the platform settles it later.
#[tokio::test]
async fn a_push_for_another_payment_does_not_confirm() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let stub = f.stub().await;
    stub.state.lock().unwrap().confirmations_down = true;
    let mut config = f.tram_config(&stub.url);
    config.timeouts.confirm_ms = 1_000;
    let t = wayfare_terminal::start(config).await.unwrap();
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    stub.push_payment(payment_completed("pay_other", &req.order_id));
    assert_eq!(
        pay_with_receipt(&mut phone, &f, &req).await,
        DoneOutcome::InDoubt
    );
    assert_eq!(t.status().linkage_activations, 0);
    assert_eq!(t.status().in_doubt.len(), 1);
    assert_eq!(
        t.sale_outcome(&req.order_id).await.unwrap().state,
        SaleState::InDoubt
    );
    t.shutdown().await;
}
