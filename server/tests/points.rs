//! Loyalty points spent in payments (P5) over HTTP: the operator's rate,
//! the split between points and money, both ledgers, refunds in parts,
//! refusals and replays. Runs on SQLite and, when
//! WAYFARE_TEST_DATABASE_URL is set, on PostgreSQL too.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::merchant_scene;

use common::{database_urls, TestServer};
use merchant_scene::Scene;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::receipt::Receipt;

/// A merchant scene (owner, payer holding 1000.00) in `currency`: each
/// test has its own currency, because on PostgreSQL the database, and with
/// it the loyalty account of a currency, is shared by tests running at the
/// same time; loyalty balances are compared as changes from the start.
async fn scene_in(url: Option<String>, currency: &str) -> Scene {
    let s = TestServer::start_with(url).await;
    let merchant = s.merchant(currency).await;
    let terminal = s.terminal(&merchant).await;
    let payer = s.phone(currency).await;
    s.top_up(&payer.account_id, 100_000, currency).await;
    let owner = s.phone(currency).await;
    merchant_scene::attach_owner(&s, &merchant, &owner).await;
    Scene {
        s,
        merchant,
        terminal,
        payer,
        owner,
    }
}

/// The loyalty account of `currency` as a change from `start`.
struct Loyalty {
    id: String,
    start: (i64, i64),
}

impl Loyalty {
    async fn new(s: &TestServer, currency: &str) -> Self {
        let id = format!("acc_loyalty_{}", currency.to_ascii_lowercase());
        let start = loyalty_now(s, &id).await;
        Self { id, start }
    }

    /// (money, points) moved since the start.
    async fn delta(&self, s: &TestServer) -> (i64, i64) {
        let now = loyalty_now(s, &self.id).await;
        (now.0 - self.start.0, now.1 - self.start.1)
    }
}

async fn loyalty_now(s: &TestServer, id: &str) -> (i64, i64) {
    let (status, body) = s
        .admin(Method::GET, &format!("/v1/accounts/{id}"), None)
        .await;
    if status == StatusCode::NOT_FOUND {
        return (0, 0);
    }
    (
        body["balance_minor"].as_i64().unwrap(),
        body["points"].as_i64().unwrap(),
    )
}

async fn set_rate(s: &TestServer, merchant_id: &str, body: Value) -> (StatusCode, Value) {
    s.admin(
        Method::PUT,
        &format!("/v1/admin/merchants/{merchant_id}/points-rate"),
        Some(body),
    )
    .await
}

/// (balance_minor, points) of an account.
async fn account(s: &TestServer, account_id: &str) -> (i64, i64) {
    let (status, body) = s
        .admin(Method::GET, &format!("/v1/accounts/{account_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["balance_minor"].as_i64().unwrap(),
        body["points"].as_i64().unwrap(),
    )
}

/// Pays `amount` spending `points`; returns (status, body).
async fn pay_points(sc: &Scene, order: &str, amount: u64, points: u64) -> (StatusCode, Value) {
    let (ins, idem) = sc
        .payer
        .instruction_with_points(&sc.terminal, order, amount, points);
    sc.s.pay(&sc.payer, &ins, &idem).await
}

async fn assert_ledgers_balance(s: &TestServer) {
    let check = s.ledger_check().await;
    assert_eq!(check["sum_minor"], 0, "{check}");
    assert_eq!(check["balance_mismatches"], 0, "{check}");
    assert_eq!(check["points_sum"], 0, "{check}");
    assert_eq!(check["points_mismatches"], 0, "{check}");
    assert!(check["points_entries"].as_i64().unwrap() > 0, "{check}");
}

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn a_payment_split_between_points_and_money_is_refunded_in_two_parts() {
    for url in database_urls() {
        let sc = scene_in(url, "GBP").await;
        let s = &sc.s;
        let loyalty = Loyalty::new(s, "GBP").await;
        let merchant = sc.merchant.merchant_id.clone();
        let payer = sc.payer.account_id.clone();
        let merchant_account = sc.merchant.account_id.clone();

        // The operator sets 2 minor units a point, at most half a payment.
        let (status, rate) = set_rate(
            s,
            &merchant,
            json!({"minor_per_point": 2, "max_share_bps": 5000}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{rate}");
        let (status, seen) = s
            .device(&sc.payer, Method::GET, &sc.path("/points-rate"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert_eq!(
            (
                &seen["accepts_points"],
                &seen["minor_per_point"],
                &seen["max_share_bps"],
                &seen["currency"]
            ),
            (&json!(true), &json!(2), &json!(5000), &json!("GBP"))
        );

        // 600 points earned by a plain payment of 600.00.
        sc.pay("ord-earn", 60_000).await;
        assert_eq!(account(s, &payer).await, (40_000, 600));
        assert_eq!(loyalty.delta(s).await, (0, -600));

        // 10.00 paid with 200 points (4.00) and 6.00 of money.
        let (status, paid) = pay_points(&sc, "ord-split", 1_000, 200).await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");
        assert_eq!(
            (
                &paid["amount_minor"],
                &paid["points_spent"],
                &paid["points_value_minor"],
                &paid["balance_after_minor"]
            ),
            (&json!(1_000), &json!(200), &json!(400), &json!(39_400))
        );
        let (_, keys) = s.admin(Method::GET, "/v1/keys", None).await;
        let receipt_key = PublicKey::from_base64(keys["receipt_key"].as_str().unwrap()).unwrap();
        let receipt = Receipt::from_base64(paid["receipt"].as_str().unwrap())
            .unwrap()
            .verify(&receipt_key)
            .unwrap();
        assert_eq!(
            (
                receipt.amount_minor,
                receipt.points_spent,
                receipt.points_value_minor
            ),
            (1_000, 200, 400)
        );
        // Rider: 6.00 of money, 200 points spent, 6 earned on the money
        // part. Merchant: the full 10.00. Loyalty: pays 4.00, holds the
        // other side of every point outstanding.
        assert_eq!(account(s, &payer).await, (39_400, 406));
        assert_eq!(account(s, &merchant_account).await.0, 61_000);
        assert_eq!(loyalty.delta(s).await, (-400, -406));
        assert_ledgers_balance(s).await;

        // The wallet's history shows the split.
        let (status, history) = s
            .device(&sc.payer, Method::GET, "/v1/wallet/history?limit=1", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let entry = &history["entries"][0];
        assert_eq!(
            (
                &entry["kind"],
                &entry["amount_minor"],
                &entry["points_spent"],
                &entry["points_value_minor"]
            ),
            (&json!("payment"), &json!(-600), &json!(200), &json!(400))
        );

        // Two refunds of 5.00: each returns 100 points and 3.00 of money,
        // its 2.00 of points value goes back to the loyalty account, and 3
        // of the 6 earned points are taken back.
        let (clerk, _) = sc.staff(&["refund"], &[]).await;
        let payment = paid["payment_id"].as_str().unwrap();
        let (status, body) = sc
            .refund(
                &clerk,
                json!({"refund_id": "pr-1", "payment_id": payment, "amount_minor": 500}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(account(s, &payer).await, (39_700, 503));
        assert_eq!(account(s, &merchant_account).await.0, 60_500);
        assert_eq!(loyalty.delta(s).await, (-200, -503));
        assert_ledgers_balance(s).await;
        let (_, history) = s
            .device(&sc.payer, Method::GET, "/v1/wallet/history?limit=1", None)
            .await;
        let entry = &history["entries"][0];
        assert_eq!(
            (
                &entry["kind"],
                &entry["amount_minor"],
                &entry["points_returned"]
            ),
            (&json!("refund"), &json!(300), &json!(100))
        );

        let (status, body) = sc
            .refund(&clerk, json!({"refund_id": "pr-2", "payment_id": payment}))
            .await;
        assert_eq!(
            (status, &body["amount_minor"]),
            (StatusCode::CREATED, &json!(500))
        );
        // All back: as if the split payment never happened.
        assert_eq!(account(s, &payer).await, (40_000, 600));
        assert_eq!(account(s, &merchant_account).await.0, 60_000);
        assert_eq!(loyalty.delta(s).await, (0, -600));
        assert_ledgers_balance(s).await;
        // Nothing more to return.
        let (status, body) = sc
            .refund(
                &clerk,
                json!({"refund_id": "pr-3", "payment_id": payment, "amount_minor": 1}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, Some("refund_exceeds_payment"))
        );
        assert_eq!(account(s, &payer).await, (40_000, 600));
        sc.s.server.shutdown().await;
    }
}

#[tokio::test]
async fn points_all_the_way_and_uneven_refunds_never_return_more_than_spent() {
    for url in database_urls() {
        let sc = scene_in(url, "HKD").await;
        let s = &sc.s;
        let loyalty = Loyalty::new(s, "HKD").await;
        let payer = sc.payer.account_id.clone();
        set_rate(s, &sc.merchant.merchant_id, json!({"minor_per_point": 3})).await;
        sc.pay("ord-earn", 10_000).await; // 100 points
                                          // 2.97 paid entirely with 99 points: no money moves, none earned.
        let (status, paid) = pay_points(&sc, "ord-all", 297, 99).await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");
        assert_eq!(paid["balance_after_minor"], 90_000);
        assert_eq!(account(s, &payer).await, (90_000, 1));
        // Three uneven refunds: 1, 100, then the rest.
        let (clerk, _) = sc.staff(&["refund"], &[]).await;
        let payment = paid["payment_id"].as_str().unwrap();
        for (id, amount) in [("u-1", Some(1)), ("u-2", Some(100)), ("u-3", None)] {
            let mut body = json!({"refund_id": id, "payment_id": payment});
            if let Some(a) = amount {
                body["amount_minor"] = json!(a);
            }
            let (status, body) = sc.refund(&clerk, body).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_ledgers_balance(s).await;
            let (money, points) = account(s, &payer).await;
            assert!(points <= 100 && money <= 90_000, "{money} {points}");
        }
        assert_eq!(account(s, &payer).await, (90_000, 100));
        assert_eq!(loyalty.delta(s).await, (0, -100));
        sc.s.server.shutdown().await;
    }
}

#[tokio::test]
async fn refusals_spend_nothing_and_replays_spend_once() {
    for url in database_urls() {
        let sc = scene_in(url, "CHF").await;
        let s = &sc.s;
        let merchant = sc.merchant.merchant_id.clone();
        let payer = sc.payer.account_id.clone();

        // No rate yet: the merchant takes no points.
        let (status, seen) = s
            .device(&sc.payer, Method::GET, &sc.path("/points-rate"), None)
            .await;
        assert_eq!(
            (status, &seen["accepts_points"]),
            (StatusCode::OK, &json!(false))
        );
        let (status, body) = pay_points(&sc, "ord-none", 1_000, 10).await;
        assert_eq!(
            (status, code(&body)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("points_not_accepted")
            ),
            "{body}"
        );

        // A rate; not enough points.
        let (status, _) = set_rate(
            s,
            &merchant,
            json!({"minor_per_point": 1, "max_share_bps": 5000}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = pay_points(&sc, "ord-poor", 1_000, 10).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::PAYMENT_REQUIRED, Some("insufficient_points")),
            "{body}"
        );
        assert_eq!(account(s, &payer).await, (100_000, 0));

        sc.pay("ord-earn", 60_000).await; // 600 points
                                          // Over the cap of half the amount.
        let (status, body) = pay_points(&sc, "ord-cap", 1_000, 501).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&body), Some("invalid_field"));
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("points_spent"),
            "{body}"
        );
        // Over the amount.
        set_rate(s, &merchant, json!({"minor_per_point": 1})).await;
        let (status, body) = pay_points(&sc, "ord-over", 100, 101).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        assert_eq!(account(s, &payer).await, (40_000, 600));

        // A replay of the same instruction is the same payment, spent once.
        let (ins, idem) = sc
            .payer
            .instruction_with_points(&sc.terminal, "ord-replay", 1_000, 50);
        let (status, first) = s.pay(&sc.payer, &ins, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, again) = s.pay(&sc.payer, &ins, &idem).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(first, again);
        // 600 - 50 spent + 9 earned on the 9.50 of money, once.
        assert_eq!(account(s, &payer).await, (39_050, 559));
        // Other points under the same key: a conflict, nothing spent.
        let (other, _) = sc
            .payer
            .instruction_with_points(&sc.terminal, "ord-replay", 1_000, 60);
        let (status, body) = s.pay(&sc.payer, &other, &idem).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, Some("idempotency_conflict"))
        );
        let (plain, _) = sc.payer.instruction(&sc.terminal, "ord-replay", 1_000);
        let (status, _) = s.pay(&sc.payer, &plain, &idem).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(account(s, &payer).await, (39_050, 559));

        // The operator withdraws the rate.
        let (status, body) = set_rate(s, &merchant, json!({"minor_per_point": 0})).await;
        assert_eq!(
            (status, &body["accepts_points"]),
            (StatusCode::OK, &json!(false))
        );
        let (status, body) = pay_points(&sc, "ord-after", 1_000, 1).await;
        assert_eq!(code(&body), Some("points_not_accepted"), "{status} {body}");

        // Bad rates, unknown merchants, no admin token.
        let (status, body) = set_rate(
            s,
            &merchant,
            json!({"minor_per_point": 1, "max_share_bps": 0}),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        let (status, body) = set_rate(s, &merchant, json!({"minor_per_point": -1})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        let (status, body) = set_rate(s, "mer_nobody", json!({"minor_per_point": 1})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, Some("unknown_merchant"))
        );
        let (status, _) = s
            .device(
                &sc.payer,
                Method::PUT,
                &format!("/v1/admin/merchants/{merchant}/points-rate"),
                Some(json!({"minor_per_point": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_ledgers_balance(s).await;
        sc.s.server.shutdown().await;
    }
}
