//! The payment flow end to end: real control center, real access terminals,
//! real wallets, on loopback.

use wayfare_cli::local::{manual_terminal, LocalSystem, TerminalOptions, TramSetup};
use wayfare_core::{DoneKind, WalletError};
use wayfare_e2e::{connect, ring_up, shop, Shop};
use wayfare_protocol::receipt::Receipt;
use wayfare_terminal::SaleState;

#[tokio::test]
async fn pos_happy_path_moves_exactly_the_amount_and_opens_once() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let cafe = system.merchant("Corner Café", "CNY").await.unwrap();
    let pos = system
        .pos_terminal(&cafe, "CNY", TerminalOptions::default())
        .await
        .unwrap();
    let rider = system.rider("Mei", Some("+8613800001234")).await.unwrap();
    system.fund(&rider, 5_000).await.unwrap();

    let (session, request) = ring_up(&rider, &pos, 1_250, "Flat white").await;
    assert_eq!(session.terminal().merchant_name, "Corner Café");
    assert_eq!(request.amount_minor, 1_250);
    let outcome = session.confirm().await.unwrap();

    assert_eq!(
        (outcome.amount_minor, outcome.balance_after_minor),
        (1_250, 3_750)
    );
    assert_eq!(rider.balance().await.unwrap(), 3_750);
    assert_eq!(system.balance_of(&cafe.account_id).await, 1_250);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);

    // The receipt verifies with the server's receipt key and names this order.
    let receipt = Receipt::from_base64(&outcome.receipt.receipt_base64).unwrap();
    let body = receipt
        .verify(&system.server().unwrap().receipt_key())
        .unwrap();
    assert_eq!(
        (body.order_id.as_str(), body.amount_minor),
        (request.order_id.as_str(), 1_250)
    );
    assert!(
        !body.payer.contains("1234"),
        "the receipt must not carry the phone number"
    );

    // The terminal verified, confirmed and switched its linkage device on once.
    assert_eq!(outcome.terminal_done.unwrap().outcome, DoneKind::Accepted);
    assert_eq!(pos.status().linkage_activations, 1);
    let sale = pos.sale_outcome(&request.order_id).await.unwrap();
    assert_eq!(sale.state, SaleState::Accepted);
    pos.shutdown().await;
}

#[tokio::test]
async fn tram_happy_path_carries_the_fare_context() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let operator = system.merchant("City Tram", "CNY").await.unwrap();
    let setup = TramSetup::default();
    let tram = system
        .tram_terminal(&operator, "CNY", &setup, TerminalOptions::default())
        .await
        .unwrap();
    let rider = system.rider("Lin", None).await.unwrap();
    system.fund(&rider, 1_000).await.unwrap();

    let session = connect(&rider, &tram).await;
    let request = session.next_payment_request().await.unwrap();
    assert_eq!(request.amount_minor, setup.fare_minor);
    let fare = request
        .fare
        .clone()
        .expect("a tram request carries its fare context");
    assert_eq!(
        (fare.line.as_str(), fare.station.as_str()),
        ("T1", "Central Square")
    );
    assert_eq!(
        (
            fare.direction_from.as_str(),
            fare.direction_towards.as_str()
        ),
        ("Harbour", "University")
    );
    let outcome = session.confirm().await.unwrap();

    assert_eq!(outcome.balance_after_minor, 800);
    assert_eq!(system.balance_of(&operator.account_id).await, 200);
    assert_eq!(tram.status().linkage_activations, 1);
    let body = Receipt::from_base64(&outcome.receipt.receipt_base64)
        .unwrap()
        .verify(&system.server().unwrap().receipt_key())
        .unwrap();
    assert_eq!(body.fare.unwrap().station, "Central Square");
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test]
async fn a_declined_request_moves_no_money_and_keeps_the_gate_shut() {
    let Shop {
        system,
        cafe,
        pos,
        rider,
    } = shop(TerminalOptions::default(), 5_000).await;
    let (session, request) = ring_up(&rider, &pos, 999, "Cake").await;
    let done = session.decline("changed my mind".into()).await.unwrap();
    assert_eq!(done.outcome, DoneKind::Cancelled);

    assert_eq!(rider.balance().await.unwrap(), 5_000);
    assert_eq!(system.balance_of(&cafe.account_id).await, 0);
    assert_eq!(pos.status().linkage_activations, 0);
    assert_eq!(
        pos.sale_outcome(&request.order_id).await.unwrap().state,
        SaleState::Declined
    );
}

#[tokio::test]
async fn insufficient_funds_is_a_typed_error_and_nothing_moves() {
    let Shop {
        system, pos, rider, ..
    } = shop(TerminalOptions::default(), 100).await;
    let (session, _) = ring_up(&rider, &pos, 1_250, "Lunch").await;
    let err = session.confirm().await.unwrap_err();
    assert!(
        matches!(
            err,
            WalletError::InsufficientFunds {
                balance_minor: Some(100),
                amount_minor: 1_250
            }
        ),
        "got {err:?}"
    );
    assert_eq!(rider.balance().await.unwrap(), 100);
    assert_eq!(
        rider.wallet.payments().pending_count().unwrap(),
        0,
        "a refused payment is not left pending"
    );
    assert_eq!(pos.status().linkage_activations, 0);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test]
async fn an_expired_request_cannot_be_paid() {
    // The shortest time-to-live the terminal accepts.
    let options = TerminalOptions {
        request_ttl_ms: 1_000,
        ..TerminalOptions::default()
    };
    let Shop {
        system: _system,
        pos,
        rider,
        ..
    } = shop(options, 5_000).await;
    let (session, request) = ring_up(&rider, &pos, 500, "Tea").await;
    // The user hesitates past the deadline. This waits for the clock, not
    // for another party, so there is nothing to poll instead.
    let now = wayfare_testkit::now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(
        request.expires_at_ms.saturating_sub(now) + 5,
    ))
    .await;
    let err = session.confirm().await.unwrap_err();
    assert!(matches!(err, WalletError::RequestExpired), "got {err:?}");
    assert_eq!(rider.balance().await.unwrap(), 5_000);
    assert_eq!(pos.status().linkage_activations, 0);
}

#[tokio::test]
async fn a_second_phone_gets_busy_while_the_first_is_served() {
    let Shop {
        system, pos, rider, ..
    } = shop(TerminalOptions::default(), 5_000).await;
    let second = system.rider("Jun", None).await.unwrap();
    let (session, _) = ring_up(&rider, &pos, 300, "Water").await;

    let err = second
        .wallet
        .terminals()
        .connect(manual_terminal(&pos))
        .await
        .map(|_| ())
        .expect_err("second phone must be refused");
    assert!(matches!(err, WalletError::TerminalBusy), "got {err:?}");

    // The first phone is unaffected and completes.
    let outcome = session.confirm().await.unwrap();
    assert_eq!(outcome.balance_after_minor, 4_700);
    assert_eq!(pos.status().linkage_activations, 1);
}
