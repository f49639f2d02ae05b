//! Pending entries (decision 0020): a payment's credit to the merchant and
//! the loyalty account's side of the points it earns are appended as
//! pending entries, not written to those accounts' rows; the settler folds
//! them in later, in posting order. Until then they count in the balance
//! the API shows and in the ledger check; a refund folds them first, so it
//! can spend credits not yet folded; two nodes folding at once fold each
//! entry once.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::AnyPool;
use wayfare_server::ServerOptions;

use crate::common::{database_urls, postgres_only, shop, TestServer};
use crate::merchant_scene::scene_on;

/// Pending entries of `account_id` in `ledger` (`money` or `points`).
async fn pending(pool: &AnyPool, account_id: &str, ledger: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM pending_entries WHERE account_id = $1 AND ledger = $2",
    )
    .bind(account_id.to_string())
    .bind(ledger.to_string())
    .fetch_one(pool)
    .await
    .unwrap();
    n
}

/// The folded entries of an account: (sequence, amount, balance after).
async fn entries(pool: &AnyPool, account_id: &str) -> Vec<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT account_seq, amount_minor, balance_after_minor FROM ledger_entries \
         WHERE account_id = $1 ORDER BY account_seq",
    )
    .bind(account_id.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Waits (polling) until the ledger check shows no pending entry.
async fn until_folded(s: &TestServer) -> Value {
    for _ in 0..1_000 {
        let check = s.ledger_check().await;
        if check["pending_entries"] == 0 {
            return check;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "pending entries were never folded: {}",
        s.ledger_check().await
    );
}

/// Entries numbered 1..=n without a gap, each balance the running sum.
fn assert_numbered_and_running(rows: &[(i64, i64, i64)]) {
    let mut balance = 0;
    for (i, (seq, amount, after)) in rows.iter().enumerate() {
        balance += amount;
        assert_eq!(*seq, i as i64 + 1, "sequence gap in {rows:?}");
        assert_eq!(*after, balance, "running balance broken in {rows:?}");
    }
}

#[tokio::test]
async fn a_refund_spends_credits_not_yet_folded() {
    for url in database_urls() {
        let options = ServerOptions {
            settle_interval: None,
            ..ServerOptions::default()
        };
        let sc = scene_on(TestServer::start_with_options(url, options).await).await;
        let (clerk, _) = sc.staff(&["refund"], &[]).await;
        let first = sc.pay("ord-pend-1", 1_000).await;
        sc.pay("ord-pend-2", 1_000).await;
        sc.pay("ord-pend-3", 1_000).await;
        let pool = sc.s.database().await;
        let merchant = &sc.merchant.account_id;

        // Nothing is on the merchant's row yet, yet the API counts it all.
        assert_eq!(pending(&pool, merchant, "money").await, 3);
        assert!(entries(&pool, merchant).await.is_empty());
        assert_eq!(sc.s.balance(merchant).await, 3_000);
        let check = sc.s.ledger_check().await;
        assert_eq!(
            (
                &check["sum_minor"],
                &check["balance_mismatches"],
                &check["points_sum"]
            ),
            (&json!(0), &json!(0), &json!(0)),
            "{check}"
        );
        assert!(check["pending_entries"].as_i64().unwrap() >= 3, "{check}");

        // The refund folds the merchant's credits before its covered debit.
        let (status, body) = sc
            .refund(&clerk, json!({"refund_id": "r-pend", "payment_id": first}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(pending(&pool, merchant, "money").await, 0);
        let rows = entries(&pool, merchant).await;
        assert_eq!(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            [1_000, 1_000, 1_000, -1_000]
        );
        assert_numbered_and_running(&rows);
        assert_eq!(sc.s.balance(merchant).await, 2_000);
        let check = sc.s.ledger_check().await;
        assert_eq!(
            (&check["sum_minor"], &check["balance_mismatches"]),
            (&json!(0), &json!(0)),
            "{check}"
        );
        pool.close().await;
    }
}

#[tokio::test]
async fn the_settler_folds_concurrent_payments_in_posting_order() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (merchant, terminal, phone) = shop(&s, 100_000).await;
        let paid = join_all((0..20).map(|i| {
            let (ins, idem) = phone.instruction(&terminal, &format!("ord-fold-{i}"), 500);
            let (s, phone) = (&s, &phone);
            async move { s.pay(phone, &ins, &idem).await.0 }
        }))
        .await;
        assert!(paid.iter().all(|s| *s == StatusCode::CREATED), "{paid:?}");

        let check = until_folded(&s).await;
        assert_eq!(
            (
                &check["sum_minor"],
                &check["balance_mismatches"],
                &check["points_sum"],
                &check["points_mismatches"]
            ),
            (&json!(0), &json!(0), &json!(0), &json!(0)),
            "{check}"
        );
        let pool = s.database().await;
        let rows = entries(&pool, &merchant.account_id).await;
        assert_eq!(rows.len(), 20);
        assert_numbered_and_running(&rows);
        assert_eq!(s.balance(&merchant.account_id).await, 10_000);
        // Each payment earned 5 points, folded on the loyalty account.
        let (loyalty,): (i64,) =
            sqlx::query_as("SELECT points FROM accounts WHERE id = 'acc_loyalty_cny'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(loyalty, -100);
        pool.close().await;
    }
}

/// Two nodes on one PostgreSQL database each run a settler: every entry is
/// folded exactly once, numbered without gaps.
#[tokio::test]
async fn two_settlers_fold_each_entry_once() {
    let Some(url) = postgres_only() else {
        return;
    };
    let eager = || ServerOptions {
        settle_interval: Some(Duration::from_millis(1)),
        ..ServerOptions::default()
    };
    let a = TestServer::start_with_options(Some(url.clone()), eager()).await;
    let b = TestServer::start_with_options(Some(url), eager()).await;
    let (merchant, terminal, phone) = shop(&a, 1_000_000).await;
    for round in 0..4 {
        join_all((0..25).map(|i| {
            let node = if i % 2 == 0 { &a } else { &b };
            let (ins, idem) = phone.instruction(&terminal, &format!("ord-2s-{round}-{i}"), 100);
            let phone = &phone;
            async move {
                let (status, body) = node.pay(phone, &ins, &idem).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        }))
        .await;
    }
    until_folded(&a).await;
    let pool = a.database().await;
    let rows = entries(&pool, &merchant.account_id).await;
    assert_eq!(rows.len(), 100);
    assert_numbered_and_running(&rows);
    let check = b.ledger_check().await;
    assert_eq!(
        (&check["sum_minor"], &check["balance_mismatches"]),
        (&json!(0), &json!(0)),
        "{check}"
    );
    pool.close().await;
}
