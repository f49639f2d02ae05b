//! Merchants (P4) over HTTP: revocation, refunds and outside notices. Runs
//! on SQLite and, when WAYFARE_TEST_DATABASE_URL is set, on PostgreSQL too.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::merchant_scene;

use common::database_urls;
use merchant_scene::{next_prompt, scene};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn revocation_takes_effect_before_the_next_payment() {
    for url in database_urls() {
        let sc = scene(url).await;
        let (staff, member_id) = sc
            .staff(&["receive_prompts"], &["order_id", "amount"])
            .await;
        let mut reader = sc.s.device_stream(&staff, None).await;
        sc.pay("ord-rev-1", 100).await;
        let (_, data) = next_prompt(&mut reader).await;
        assert_eq!(data["order_id"], "ord-rev-1");

        // Scopes change at once: the next prompt follows them.
        let (status, body) =
            sc.s.device(
                &sc.owner,
                Method::PUT,
                &sc.path(&format!("/staff/{member_id}")),
                Some(json!({"operations": ["receive_prompts"], "content": ["amount"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        sc.pay("ord-rev-2", 200).await;
        let (last_read, data) = next_prompt(&mut reader).await;
        assert_eq!(data["amount_minor"], 200);
        assert!(data.get("order_id").is_none(), "{data}");

        // A prompt written but not read yet is withdrawn by the revocation.
        drop(reader);
        sc.pay("ord-rev-3", 300).await;
        let (status, body) =
            sc.s.device(
                &sc.owner,
                Method::DELETE,
                &sc.path(&format!("/staff/{member_id}")),
                None,
            )
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("revoked"))
        );
        sc.pay("ord-rev-4", 400).await;
        // The owner saw all four.
        let mut owner = sc.s.device_stream(&sc.owner, None).await;
        for order in ["ord-rev-1", "ord-rev-2", "ord-rev-3", "ord-rev-4"] {
            assert_eq!(next_prompt(&mut owner).await.1["order_id"], order);
        }
        // Invited again and resuming after the last prompt it read, the
        // device's next prompt is the next payment's: ord-rev-3 and ord-rev-4
        // never reach it.
        let inv = sc
            .invite(&["receive_prompts"], &["amount"], json!({}))
            .await;
        assert_eq!(
            sc.accept(&staff, inv["code"].as_str().unwrap()).await.0,
            StatusCode::CREATED
        );
        sc.pay("ord-rev-5", 500).await;
        let mut reader = sc.s.device_stream(&staff, Some(last_read)).await;
        assert_eq!(next_prompt(&mut reader).await.1["amount_minor"], 500);
        sc.s.server.shutdown().await;
    }
}

#[tokio::test]
async fn refunds_keep_the_ledger_balanced_and_never_exceed_the_payment() {
    for url in database_urls() {
        let sc = scene(url).await;
        let (clerk, _) = sc.staff(&["refund"], &[]).await;
        let payment = sc.pay("ord-ref-1", 1_000).await;
        let payer_before = sc.s.balance(&sc.payer.account_id).await;

        let (status, body) = sc
            .refund(&clerk, json!({"refund_id": "r-1", "payment_id": payment, "amount_minor": 300, "reason": "cold"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            (
                body["amount_minor"].as_i64(),
                body["remaining_minor"].as_i64()
            ),
            (Some(300), Some(700))
        );
        // A retry of the same refund is answered, not repeated.
        let (status, again) = sc
            .refund(
                &clerk,
                json!({"refund_id": "r-1", "payment_id": payment, "amount_minor": 300}),
            )
            .await;
        assert_eq!(
            (status, &again["refund_id"]),
            (StatusCode::OK, &body["refund_id"])
        );
        let (status, body) = sc
            .refund(
                &clerk,
                json!({"refund_id": "r-1", "payment_id": payment, "amount_minor": 5}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("idempotency_conflict"))
        );
        // Over-refund refused; nothing moves.
        let (status, body) = sc
            .refund(
                &clerk,
                json!({"refund_id": "r-2", "payment_id": payment, "amount_minor": 701}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("refund_exceeds_payment"))
        );
        // Full refund of the rest.
        let (status, body) = sc
            .refund(&clerk, json!({"refund_id": "r-3", "payment_id": payment}))
            .await;
        assert_eq!(
            (status, body["amount_minor"].as_i64()),
            (StatusCode::CREATED, Some(700))
        );
        let (status, body) = sc
            .refund(&clerk, json!({"refund_id": "r-4", "payment_id": payment}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("refund_exceeds_payment"))
        );
        assert_eq!(
            sc.s.balance(&sc.payer.account_id).await,
            payer_before + 1_000
        );
        assert_eq!(sc.s.balance(&sc.merchant.account_id).await, 0);
        let check = sc.s.ledger_check().await;
        assert_eq!(
            (
                check["sum_minor"].as_i64(),
                check["balance_mismatches"].as_i64()
            ),
            (Some(0), Some(0))
        );

        // The 10 points the payment earned went back with the money.
        let points = |body: Value| body["points"].as_i64().unwrap();
        let (_, payer) =
            sc.s.admin(
                Method::GET,
                &format!("/v1/accounts/{}", sc.payer.account_id),
                None,
            )
            .await;
        assert_eq!(points(payer), 0);

        // The rider's history shows both refunds, linked to the shop.
        let (status, hist) =
            sc.s.device(&sc.payer, Method::GET, "/v1/wallet/history", None)
                .await;
        assert_eq!(status, StatusCode::OK);
        let refunds: Vec<&Value> = hist["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "refund")
            .collect();
        assert_eq!(refunds.len(), 2, "{hist}");
        assert!(refunds.iter().all(|e| e["merchant_name"] == "Corner Café"));

        // Concurrent refunds of one payment: never more than was paid.
        let payment = sc.pay("ord-ref-2", 1_000).await;
        let attempts = (0..8).map(|i| {
            sc.refund(
                &sc.owner,
                json!({"refund_id": format!("c-{i}"), "payment_id": payment, "amount_minor": 300}),
            )
        });
        let results = futures::future::join_all(attempts).await;
        let ok = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count();
        let refused = results
            .iter()
            .filter(|(s, b)| {
                *s == StatusCode::CONFLICT && b["error"]["code"] == "refund_exceeds_payment"
            })
            .count();
        assert_eq!((ok, refused), (3, 5), "{results:?}");
        assert_eq!(sc.s.balance(&sc.merchant.account_id).await, 100);
        let check = sc.s.ledger_check().await;
        assert_eq!(
            (
                check["sum_minor"].as_i64(),
                check["balance_mismatches"].as_i64()
            ),
            (Some(0), Some(0))
        );

        // Refund prompts reached the owner, with the refunded amount.
        let mut owner = sc.s.device_stream(&sc.owner, None).await;
        let mut refund_amounts = Vec::new();
        for _ in 0..7 {
            let (_, data) = next_prompt(&mut owner).await;
            if data["event"] == "refund" {
                refund_amounts.push(data["amount_minor"].as_i64().unwrap());
            }
        }
        assert_eq!(refund_amounts, vec![300, 700, 300, 300, 300]);
        sc.s.server.shutdown().await;
    }
}

#[tokio::test]
async fn outside_notices_fan_out_with_the_order_key_and_once_per_notice() {
    for url in database_urls() {
        let sc = scene(url).await;
        let (staff, _) = sc
            .staff(&["receive_prompts"], &["amount", "payment_platform"])
            .await;
        sc.pay("ord-ext-1", 650).await;
        let notice = json!({"notice_id": "n-1", "platform": "Alipay", "order_id": "ord-ext-1",
            "amount_minor": 650, "currency": "CNY", "paid_at_ms": 1_700_000_000_000_i64});
        let (status, body) =
            sc.s.device(
                &sc.owner,
                Method::POST,
                &sc.path("/external-notices"),
                Some(notice.clone()),
            )
            .await;
        assert_eq!(
            (status, body["prompts"].as_i64()),
            (StatusCode::CREATED, Some(2)),
            "{body}"
        );
        let (status, body) =
            sc.s.device(
                &sc.owner,
                Method::POST,
                &sc.path("/external-notices"),
                Some(notice),
            )
            .await;
        assert_eq!(
            (status, body["duplicate"].as_bool()),
            (StatusCode::OK, Some(true))
        );
        let mut reader = sc.s.device_stream(&staff, None).await;
        let (_, native) = next_prompt(&mut reader).await;
        let (_, forwarded) = next_prompt(&mut reader).await;
        assert_eq!(native["payment_platform"], "Wayfare");
        assert_eq!(forwarded["payment_platform"], "Alipay");
        assert_eq!(native["dedupe_key"], forwarded["dedupe_key"]);
        // Staff cannot forward.
        let (status, _) = sc
            .s
            .device(&staff, Method::POST, &sc.path("/external-notices"),
                Some(json!({"notice_id": "n-2", "platform": "X", "order_id": "o", "amount_minor": 1, "currency": "CNY"})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Bad input is a 4xx, never a 500.
        for bad in [
            json!({"notice_id": "n-3", "platform": "X", "order_id": "o", "amount_minor": -1, "currency": "CNY"}),
            json!({"notice_id": "n-3", "platform": "X", "order_id": "o", "amount_minor": 1, "currency": "???"}),
            json!({"notice_id": "n 3", "platform": "X", "order_id": "o", "amount_minor": 1, "currency": "CNY"}),
            json!({"platform": "X"}),
        ] {
            let (status, body) =
                sc.s.device(
                    &sc.owner,
                    Method::POST,
                    &sc.path("/external-notices"),
                    Some(bad),
                )
                .await;
            assert!(status.is_client_error(), "{status}: {body}");
        }
        sc.s.server.shutdown().await;
    }
}
