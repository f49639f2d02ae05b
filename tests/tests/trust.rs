//! Trust boundaries: a terminal the operator did not certify is refused
//! before any payment; a forged, tampered or replayed receipt keeps the
//! gate shut.

use wayfare_cli::local::{manual_terminal, LocalSystem, TerminalOptions};
use wayfare_core::WalletError;
use wayfare_e2e::connect;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{DoneOutcome, SessionMessage};
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_terminal::SaleState;
use wayfare_testkit::raw_phone::RawPhone;

const CNY: &str = "CNY";

#[tokio::test]
async fn a_rogue_terminal_is_refused_before_any_payment() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    // A second control center with its own operator key plays the rogue
    // operator: its terminal is perfectly formed but not certified by ours.
    let rogue_system = LocalSystem::start().await.unwrap();
    let rogue_merchant = rogue_system
        .merchant("Totally Legit Café", CNY)
        .await
        .unwrap();
    let rogue = rogue_system
        .pos_terminal(&rogue_merchant, CNY, TerminalOptions::default())
        .await
        .unwrap();
    rogue.new_sale(9_999, "Nothing").await.unwrap();

    let rider = system.rider("Mei", None).await.unwrap();
    system.fund(&rider, 5_000).await.unwrap();
    let err = rider
        .wallet
        .terminals()
        .connect(manual_terminal(&rogue))
        .await
        .map(|_| ())
        .expect_err("rogue terminal must be refused");
    assert!(
        matches!(err, WalletError::TerminalUntrusted { .. }),
        "got {err:?}"
    );
    assert_eq!(rider.balance().await.unwrap(), 5_000);
    assert_eq!(rider.wallet.payments().pending_count().unwrap(), 0);
    assert_eq!(rogue.status().linkage_activations, 0);
}

fn forged_body(request: &wayfare_protocol::messages::PaymentRequest) -> ReceiptBody {
    ReceiptBody {
        version: 1,
        payment_id: "pay_000000000000000000000000".into(),
        order_id: request.order_id.clone(),
        payer: "rider-0000".into(),
        merchant_id: request.merchant_id.clone(),
        terminal_id: request.terminal_id.clone(),
        amount_minor: request.amount_minor,
        currency: request.currency.clone(),
        completed_at_ms: request.created_at_ms,
        fare: None,
        points_spent: 0,
        points_value_minor: 0,
    }
}

async fn present(
    system: &LocalSystem,
    pos: &wayfare_terminal::RunningTerminal,
    receipt: impl FnOnce(&wayfare_protocol::messages::PaymentRequest) -> Receipt,
) -> (String, SessionMessage) {
    let order = pos.new_sale(700, "Sandwich").await.unwrap();
    let operator = system.server().unwrap().operator_key();
    let mut phone = RawPhone::handshake(pos.phone_addr(), &operator, None).await;
    let request = phone.payment_request().await;
    phone
        .send(&SessionMessage::Receipt {
            receipt: receipt(&request),
        })
        .await;
    (order, phone.recv().await.unwrap())
}

fn assert_refused(answer: &SessionMessage) {
    match answer {
        SessionMessage::Done(done) => assert_eq!(done.outcome, DoneOutcome::Refused, "{done:?}"),
        other => panic!("expected Done(Refused), got {other:?}"),
    }
}

#[tokio::test]
async fn forged_tampered_and_replayed_receipts_keep_the_gate_shut() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let cafe = system.merchant("Corner Café", CNY).await.unwrap();
    let pos = system
        .pos_terminal(&cafe, CNY, TerminalOptions::default())
        .await
        .unwrap();

    // 1. Signed by a key that is not the payment server's.
    let thief = SigningKey::generate().unwrap();
    let (order, answer) = present(&system, &pos, |r| {
        Receipt::issue(&thief, &forged_body(r)).unwrap()
    })
    .await;
    assert_refused(&answer);
    assert_eq!(
        pos.sale_outcome(&order).await.unwrap().state,
        SaleState::Refused
    );

    // 2. A genuine receipt from an earlier payment, bytes flipped to claim this order.
    let rider = system.rider("Mei", None).await.unwrap();
    system.fund(&rider, 5_000).await.unwrap();
    pos.new_sale(700, "Sandwich").await.unwrap();
    let session = connect(&rider, &pos).await;
    session.next_payment_request().await.unwrap();
    let genuine = session.confirm().await.unwrap().receipt.receipt_base64;
    assert_eq!(pos.status().linkage_activations, 1);

    let (_, answer) = present(&system, &pos, |_| {
        let mut bytes = Receipt::from_base64(&genuine).unwrap().as_bytes().to_vec();
        let n = bytes.len();
        bytes[n - 80] ^= 0x01;
        Receipt::from_bytes(bytes)
    })
    .await;
    assert_refused(&answer);

    // 3. The genuine receipt replayed for a new order of the same amount.
    let (_, answer) = present(&system, &pos, |_| Receipt::from_base64(&genuine).unwrap()).await;
    assert_refused(&answer);

    assert_eq!(
        pos.status().linkage_activations,
        1,
        "only the real payment opened the device"
    );
    assert_eq!(system.balance_of(&cafe.account_id).await, 700);
}
