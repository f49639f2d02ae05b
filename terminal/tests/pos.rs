//! POS mode: sales entered through the control interface.

use crate::common;

use common::*;
use wayfare_protocol::messages::{DoneOutcome, SessionMessage, TerminalKind};
use wayfare_terminal::SaleState;

#[tokio::test]
async fn a_phone_waits_for_the_sale_entered_at_the_register() {
    let f = Fixture::new(TerminalKind::Pos).await;
    let t = wayfare_terminal::start(f.pos_config(UNREACHABLE))
        .await
        .unwrap();
    let base = format!("http://{}", t.control_addr());
    let client = control_client(&t);

    // The phone connects first and identifies itself while waiting.
    let mut phone = f.phone(t.phone_addr()).await;
    phone
        .send(&SessionMessage::Identity {
            handle: "shopper-1".into(),
        })
        .await;

    // Bad sales are refused with JSON errors.
    let r = client
        .post(format!("{base}/sales"))
        .json(&serde_json::json!({"amount_minor": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_amount");
    let r = client
        .post(format!("{base}/sales"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = client
        .post(format!("{base}/sales"))
        .json(&serde_json::json!({"amount_minor": 1250, "description": "Flat white"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let order_id = r.json::<serde_json::Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_string();

    let req = phone.expect_request().await;
    assert_eq!(req.order_id, order_id);
    assert_eq!(req.amount_minor, 1250);
    assert_eq!(req.description, "Flat white");
    assert!(req.fare.is_none());

    // One open sale at a time.
    let r = client
        .post(format!("{base}/sales"))
        .json(&serde_json::json!({"amount_minor": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(t.new_sale(100, "tea").await.is_err());

    let sale = get_json(&client, format!("{base}/sales/{order_id}")).await;
    assert_eq!(sale["state"], "in_session");

    assert_eq!(
        decline(&mut phone, "wrong order").await.outcome,
        DoneOutcome::Cancelled
    );
    let sale = get_json(&client, format!("{base}/sales/{order_id}")).await;
    assert_eq!(sale["state"], "declined");
    assert_eq!(
        client
            .get(format!("{base}/sales/ord_nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let status = get_json(&client, format!("{base}/status")).await;
    assert_eq!(status["terminal_id"], TERMINAL_ID);
    assert_eq!(status["kind"], "pos");
    assert_eq!(status["sessions_served"], 1);
    assert_eq!(status["linkage_activations"], 0);
    assert_eq!(status["last_outcome"]["order_id"], order_id.as_str());
    assert!(status["queued_reports"].is_u64());
    assert!(status["busy"].is_boolean());

    // The sale is closed: a new one can be entered.
    t.new_sale(300, "cookie").await.unwrap();
    t.shutdown().await;
}

/// The phone had the request when it vanished, so it may have paid: the
/// sale is in doubt (never declined, not cancellable, no new sale rung up
/// over it), and the next phone gets the very same order.
#[tokio::test]
async fn a_sale_left_by_a_disconnecting_phone_is_in_doubt_and_the_same_order_can_be_paid() {
    let f = Fixture::new(TerminalKind::Pos).await;
    let stub = f.stub().await;
    let t = wayfare_terminal::start(f.pos_config(&stub.url))
        .await
        .unwrap();
    let order_id = t.new_sale(200, "Croissant").await.unwrap();

    let mut first = f.phone(t.phone_addr()).await;
    assert_eq!(first.expect_request().await.order_id, order_id);
    drop(first);
    for _ in 0..1000 {
        if t.sale_outcome(&order_id).await.unwrap().state == SaleState::InDoubt {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        t.sale_outcome(&order_id).await.unwrap().state,
        SaleState::InDoubt
    );
    let status = t.status();
    assert_eq!(status.in_doubt.len(), 1);
    assert_eq!(status.in_doubt[0].order_id, order_id);
    // The cashier cannot cancel it or ring up another sale over it.
    let cancel = control_client(&t)
        .delete(format!("http://{}/sales/{order_id}", t.control_addr()))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 409);
    let body: serde_json::Value = cancel.json().await.unwrap();
    assert_eq!(body["error"]["code"], "sale_in_doubt");
    assert!(t.new_sale(100, "Tea").await.is_err());
    // The resolver asked the platform about the order.
    eventually("the platform was asked", || {
        stub.state.lock().unwrap().order_queries > 0
    })
    .await;

    eventually("terminal free", || !t.status().busy).await;
    let mut second = f.phone(t.phone_addr()).await;
    let req = second.expect_request().await;
    assert_eq!(req.order_id, order_id);
    second
        .send(&SessionMessage::Receipt {
            receipt: f.receipt_for(&req, &f.receipt_key),
        })
        .await;
    match second.recv().await {
        Some(SessionMessage::Done(done)) => {
            assert_eq!(done.outcome, DoneOutcome::Accepted);
            assert_eq!(done.message, "Payment accepted");
        }
        other => panic!("expected Done, got {other:?}"),
    }
    assert_eq!(
        t.sale_outcome(&order_id).await.unwrap().state,
        SaleState::Accepted
    );
    assert_eq!(t.status().linkage_activations, 1);
    assert!(t.status().in_doubt.is_empty());
    // Both sessions were reported: the one left in doubt and the payment.
    eventually("two reports", || stub.reports().len() == 2).await;
    let kinds: Vec<String> = stub
        .reports()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["payment_in_doubt", "payment_accepted"]);
    t.shutdown().await;
}

#[tokio::test]
async fn a_tram_terminal_refuses_sales() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let t = wayfare_terminal::start(f.tram_config(UNREACHABLE))
        .await
        .unwrap();
    assert!(t.new_sale(100, "x").await.is_err());
    let r = control_client(&t)
        .post(format!("http://{}/sales", t.control_addr()))
        .json(&serde_json::json!({"amount_minor": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    t.shutdown().await;
}

#[tokio::test]
async fn a_certificate_for_another_key_or_kind_stops_the_start() {
    let f = Fixture::new(TerminalKind::Tram).await;
    // A POS configuration with a tram certificate.
    let err = wayfare_terminal::start(f.pos_config(UNREACHABLE))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tram"), "{err}");
    // Another operator key pinned.
    let mut config = f.tram_config(UNREACHABLE);
    config.operator_key = wayfare_protocol::keys::SigningKey::generate()
        .unwrap()
        .public_key();
    let err = wayfare_terminal::start(config).await.unwrap_err();
    assert!(err.to_string().contains("operator"), "{err}");
}
