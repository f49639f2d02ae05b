//! Cash top-ups at a counter or kiosk end to end (P1, P5): the cashier
//! enters the cash on the terminal's control interface (real HTTP), the
//! rider's real core claims the terminal-signed offer with the real control
//! center, both sides verify the server-signed receipt, and the money moves
//! from the terminal's cash float to the rider exactly once.

use std::time::Duration;

use serde_json::{json, Value};
use wayfare_cli::local::{LocalSystem, TerminalOptions};
use wayfare_core::{DoneKind, TapOutcome};
use wayfare_e2e::connect;
use wayfare_protocol::top_up::TopUpReceipt;
use wayfare_terminal::{RunningTerminal, SaleState};

/// The cashier's till: the terminal's control interface over HTTP.
async fn cashier(
    kiosk: &RunningTerminal,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("http://{}{path}", kiosk.control_addr());
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(kiosk.control_token());
    // State changes are JSON only (the control interface's CSRF guard).
    request = request.json(&body.unwrap_or(Value::Null));
    let response = request.send().await.expect("control interface");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Enters `amount_minor` of cash; returns the order id.
async fn take_cash(kiosk: &RunningTerminal, amount_minor: u64) -> String {
    let (status, body) = cashier(
        kiosk,
        reqwest::Method::POST,
        "/top-ups",
        Some(json!({ "amount_minor": amount_minor })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["order_id"].as_str().expect("order id").to_string()
}

/// Polls the terminal until the order reaches a final state.
async fn settled(
    kiosk: &RunningTerminal,
    order_id: &str,
    within: Duration,
) -> wayfare_terminal::SaleOutcome {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let outcome = kiosk.sale_outcome(order_id).await.expect("order known");
        if outcome.state.is_final() || tokio::time::Instant::now() > deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Counter {
    system: LocalSystem,
    kiosk: RunningTerminal,
    rider: wayfare_cli::local::RiderWallet,
}

async fn counter(options: TerminalOptions) -> Counter {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let station = system.merchant("Central Station", "CNY").await.unwrap();
    let kiosk = system
        .top_up_terminal(&station, "CNY", options)
        .await
        .unwrap();
    let rider = system.rider("Mei", None).await.unwrap();
    Counter {
        system,
        kiosk,
        rider,
    }
}

#[tokio::test]
async fn cash_at_the_kiosk_becomes_wallet_money_once_with_receipts_both_sides_verify() {
    let Counter {
        system,
        kiosk,
        rider,
    } = counter(TerminalOptions::default()).await;
    assert_eq!(kiosk.beacon().kind.as_str(), "top_up");
    let order = take_cash(&kiosk, 5_000).await;

    let session = connect(&rider, &kiosk).await;
    let TapOutcome::TopUpOffered { offer } = session.tap().await.unwrap() else {
        panic!("a kiosk offers a top-up");
    };
    assert_eq!(
        (offer.amount_minor, offer.currency.as_str()),
        (5_000, "CNY")
    );
    assert_eq!(offer.order_id, order);
    assert_eq!(offer.merchant_name, "Central Station");

    let done = session.accept_top_up().await.unwrap();
    assert_eq!(done.amount_minor, 5_000);
    assert_eq!(done.balance_minor, 5_000);
    assert_eq!(rider.balance().await.unwrap(), 5_000);

    // The receipt verifies with the server's receipt key and names this order.
    let receipt = TopUpReceipt::from_base64(&done.receipt_base64).unwrap();
    let body = receipt
        .verify(&system.server().unwrap().receipt_key())
        .unwrap();
    assert_eq!(
        (body.order_id.as_str(), body.amount_minor),
        (order.as_str(), 5_000)
    );
    assert_eq!(body.top_up_id, done.top_up_id);

    // The terminal verified it too, printed it once and closed the order.
    assert_eq!(
        done.terminal_done.map(|d| d.outcome),
        Some(DoneKind::Accepted)
    );
    let sale = kiosk.sale_outcome(&order).await.unwrap();
    assert_eq!(sale.state, SaleState::Accepted);
    assert_eq!(sale.payment_id.as_deref(), Some(done.top_up_id.as_str()));
    assert_eq!(kiosk.status().linkage_activations, 1);

    // The float paid exactly the amount; the ledger balances.
    let float = format!("acc_float_{}", kiosk.terminal_id());
    assert_eq!(system.balance_of(&float).await, -5_000);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    let history = rider.wallet.account().history(10).await.unwrap();
    assert!(history
        .iter()
        .any(|e| e.kind == wayfare_core::HistoryKind::TopUp && e.amount_minor == 5_000));

    // A second phone connecting now finds no open top-up: nothing to claim.
    let (status, _) = cashier(
        &kiosk,
        reqwest::Method::DELETE,
        &format!("/top-ups/{order}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "a credited top-up is closed");
    kiosk.shutdown().await;
}

#[tokio::test]
async fn a_phone_that_reconnects_gets_the_same_offer_and_is_credited_once() {
    let Counter {
        system,
        kiosk,
        rider,
    } = counter(TerminalOptions::default()).await;
    let order = take_cash(&kiosk, 2_000).await;

    // The first session sees the offer and drops without answering.
    let first = connect(&rider, &kiosk).await;
    let first_offer = first.next_top_up_offer().await.unwrap();
    drop(first);
    // The cashier cannot cancel it now: the phone had the signed offer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = cashier(
            &kiosk,
            reqwest::Method::DELETE,
            &format!("/top-ups/{order}"),
            None,
        )
        .await;
        if status == 409 {
            assert_eq!(body["error"]["code"], "sale_in_doubt", "{body}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cancel answered {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Reconnecting: the same order, the same expiry (the same signed offer).
    let again = connect(&rider, &kiosk).await;
    let offer = again.next_top_up_offer().await.unwrap();
    assert_eq!(offer, first_offer);
    let done = again.accept_top_up().await.unwrap();
    assert_eq!(done.balance_minor, 2_000);

    let sale = settled(&kiosk, &order, Duration::from_secs(30)).await;
    assert_eq!(sale.state, SaleState::Accepted);
    assert_eq!(rider.balance().await.unwrap(), 2_000);
    let float = format!("acc_float_{}", kiosk.terminal_id());
    assert_eq!(system.balance_of(&float).await, -2_000, "one top-up");
    assert_eq!(kiosk.status().linkage_activations, 1, "printed once");
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    kiosk.shutdown().await;
}

#[tokio::test]
async fn a_declined_offer_goes_back_to_the_cashier_only_once_it_expired_uncredited() {
    let Counter {
        system,
        kiosk,
        rider,
    } = counter(TerminalOptions {
        request_ttl_ms: 2_000,
        in_doubt_grace_ms: Some(200),
        ..TerminalOptions::default()
    })
    .await;
    let order = take_cash(&kiosk, 1_000).await;
    let session = connect(&rider, &kiosk).await;
    session.next_top_up_offer().await.unwrap();
    session.decline_top_up("not mine".into()).await.unwrap();

    // Declined, but the phone held a signed offer: in doubt until it expired.
    let sale = settled(&kiosk, &order, Duration::from_secs(30)).await;
    assert_eq!(sale.state, SaleState::Unpaid, "{sale:?}");
    assert!(sale
        .message
        .unwrap_or_default()
        .contains("hand the cash back"));
    assert_eq!(rider.balance().await.unwrap(), 0);
    assert_eq!(kiosk.status().linkage_activations, 0);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);

    // The counter is free again.
    take_cash(&kiosk, 500).await;
    kiosk.shutdown().await;
}

#[tokio::test]
async fn the_cashier_is_told_what_is_wrong() {
    let Counter { kiosk, .. } = counter(TerminalOptions::default()).await;
    for (body, code) in [
        (json!({ "amount_minor": 0 }), "invalid_amount"),
        (json!({ "amount_minor": -5 }), "invalid_amount"),
        (json!({ "amount_minor": 50_001 }), "invalid_amount"),
        (json!({ "amount_minor": "ten" }), "malformed_json"),
        (json!({ "amount_minor": 100, "tip": 1 }), "malformed_json"),
    ] {
        let (status, answer) = cashier(
            &kiosk,
            reqwest::Method::POST,
            "/top-ups",
            Some(body.clone()),
        )
        .await;
        assert!((400..500).contains(&status), "{body} → {status}");
        assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
    }
    let (status, answer) = cashier(
        &kiosk,
        reqwest::Method::POST,
        "/sales",
        Some(json!({ "amount_minor": 100 })),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("top_up_terminal"))
    );
    // One open top-up at a time; a pending one (no phone yet) cancels.
    let order = take_cash(&kiosk, 100).await;
    let (status, answer) = cashier(
        &kiosk,
        reqwest::Method::POST,
        "/top-ups",
        Some(json!({ "amount_minor": 200 })),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("sale_pending"))
    );
    let (status, answer) = cashier(
        &kiosk,
        reqwest::Method::DELETE,
        &format!("/top-ups/{order}"),
        None,
    )
    .await;
    assert_eq!((status, answer["state"].as_str()), (200, Some("cancelled")));
    kiosk.shutdown().await;
}
