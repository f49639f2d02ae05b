//! Loyalty points spent at a POS terminal end to end (P5): the operator
//! sets the café's points rate, the rider's core reads it, shows the split
//! and confirms with points; the terminal accepts the receipt, which
//! carries the split, and the wallet's history shows it; the owner's
//! refund gives the rider back both the money and the points.

use wayfare_cli::local::TerminalOptions;
use wayfare_cli::merchant_cmd::attach_owner;
use wayfare_core::{max_points_for, points_split, DoneKind, HistoryKind, WalletError};
use wayfare_e2e::{ring_up, shop, Shop};
use wayfare_protocol::receipt::Receipt;
use wayfare_terminal::SaleState;

#[tokio::test]
async fn a_rider_pays_at_a_pos_partly_with_points_and_gets_the_split_receipt() {
    let Shop {
        system,
        cafe,
        pos,
        rider,
    } = shop(TerminalOptions::default(), 100_000).await;
    // 500 points earned by a plain payment of 500.00.
    let (session, _) = ring_up(&rider, &pos, 50_000, "Catering").await;
    session.confirm().await.unwrap();
    let before = rider.wallet.account().balance().await.unwrap();
    assert_eq!((before.balance_minor, before.points), (50_000, 500));

    // The café does not take points yet.
    let payments = rider.wallet.payments();
    let rate = payments
        .points_rate(cafe.merchant_id.clone())
        .await
        .unwrap();
    assert!(!rate.accepts_points);
    system
        .admin()
        .set_points_rate(&cafe.merchant_id, 2, Some(5_000))
        .await
        .unwrap();
    let rate = payments
        .points_rate(cafe.merchant_id.clone())
        .await
        .unwrap();
    assert_eq!(
        (
            rate.accepts_points,
            rate.minor_per_point,
            rate.max_share_bps
        ),
        (true, 2, 5_000)
    );

    // 10.00 at the POS: the app shows the split, the rider confirms with
    // 200 points (4.00) and pays 6.00.
    let (session, request) = ring_up(&rider, &pos, 1_000, "Lunch").await;
    assert_eq!(
        max_points_for(&rate, request.amount_minor, before.points),
        250
    );
    let split = points_split(&rate, request.amount_minor, 200).unwrap();
    assert_eq!((split.points_value_minor, split.money_minor), (400, 600));
    let outcome = session.confirm_with_points(200).await.unwrap();
    assert_eq!(outcome.terminal_done.unwrap().outcome, DoneKind::Accepted);
    assert_eq!(
        (
            outcome.amount_minor,
            outcome.balance_after_minor,
            outcome.receipt.points_spent,
            outcome.receipt.points_value_minor
        ),
        (1_000, 49_400, 200, 400)
    );
    let body = Receipt::from_base64(&outcome.receipt.receipt_base64)
        .unwrap()
        .verify(&system.server().unwrap().receipt_key())
        .unwrap();
    assert_eq!(
        (
            body.amount_minor,
            body.points_spent,
            body.points_value_minor
        ),
        (1_000, 200, 400)
    );
    let sale = pos.sale_outcome(&request.order_id).await.unwrap();
    assert_eq!(sale.state, SaleState::Accepted);

    // The café got the full 10.00; the rider 6.00 less and 200 - 6 points.
    assert_eq!(system.balance_of(&cafe.account_id).await, 51_000);
    let after = rider.wallet.account().balance().await.unwrap();
    assert_eq!((after.balance_minor, after.points), (49_400, 306));
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    let history = rider.wallet.account().history(1).await.unwrap();
    assert_eq!(
        (
            history[0].kind,
            history[0].amount_minor,
            history[0].points_spent,
            history[0].points_value_minor
        ),
        (HistoryKind::Payment, -600, 200, 400)
    );
    let stored = payments.receipts(1).unwrap();
    assert_eq!(
        (stored[0].points_spent, stored[0].points_value_minor),
        (200, 400)
    );

    // More points than the cap allows: refused, nothing charged.
    let (session, _) = ring_up(&rider, &pos, 1_000, "Dessert").await;
    match session.confirm_with_points(251).await {
        Err(WalletError::Server { code, .. }) => assert_eq!(code, "invalid_field"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let unchanged = rider.wallet.account().balance().await.unwrap();
    assert_eq!((unchanged.balance_minor, unchanged.points), (49_400, 306));

    // The café's owner refunds the lunch from the owner's phone: the rider
    // gets the 6.00 and the 200 points back, the earned 6 points go, the
    // café gives back the full 10.00 (4.00 of it to the loyalty account).
    let owner = system.rider("Owner", None).await.unwrap();
    attach_owner(
        system.base_url(),
        &system.admin_token(),
        &cafe.merchant_id,
        &owner.account_id(),
        "en",
    )
    .await
    .unwrap();
    let refund = owner
        .wallet
        .merchant()
        .refund(
            cafe.merchant_id.clone(),
            outcome.payment_id.clone(),
            None,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!((refund.amount_minor, refund.remaining_minor), (1_000, 0));
    let refunded = rider.wallet.account().balance().await.unwrap();
    assert_eq!((refunded.balance_minor, refunded.points), (50_000, 500));
    assert_eq!(system.balance_of(&cafe.account_id).await, 50_000);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    pos.shutdown().await;
}
