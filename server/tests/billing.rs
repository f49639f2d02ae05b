//! The outbound gateway (webhook with retries), settlements and
//! reconciliation against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::{Json, Router};
use common::days::utc_date;
use common::guardians::flat_fare;
use common::{database_urls, now_ms, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_server::{RetryPolicy, ServerOptions, WebhookGateway};

#[derive(Clone, Default)]
struct Receiver {
    failures_left: Arc<Mutex<u32>>,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn hook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> AxumStatus {
    {
        let mut left = r.failures_left.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return AxumStatus::SERVICE_UNAVAILABLE;
        }
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    r.received.lock().unwrap().push((key, body));
    AxumStatus::OK
}

async fn receiver(failures: u32) -> (Receiver, String) {
    let r = Receiver {
        failures_left: Arc::new(Mutex::new(failures)),
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

#[tokio::test]
async fn the_webhook_gateway_retries_until_the_alert_is_delivered() {
    let (r, url) = receiver(2).await;
    let options = ServerOptions {
        gateway: Arc::new(WebhookGateway::new(&url, Duration::from_secs(5)).unwrap()),
        retry: RetryPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..ServerOptions::default()
    };
    let s = TestServer::start_with_options(None, options).await;
    let rider = s.phone_numbered("CNY", "+8613800131234").await;
    let guardian = s.phone_numbered("CNY", "+8613911112222").await;
    s.top_up(&rider.account_id, 1_000, "CNY").await;
    s.bind(&rider, &guardian, "transit_only").await;
    let tram_co = s.merchant("CNY").await;
    let tram = s.tram_terminal(&tram_co, "Central", 480).await;
    let (status, _) = s
        .pay_fare(&rider, &tram, "f-1", 200, Some(flat_fare("Central", 4)))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Poll the outbox until the worker got through the two failures.
    let deadline = now_ms() + 20_000;
    loop {
        let (_, st) = s.admin(Method::GET, "/v1/outbound/status", None).await;
        if st["delivered"] == 1 {
            assert_eq!(st["pending"], 0);
            assert_eq!(st["attempts"], 3);
            break;
        }
        assert!(now_ms() < deadline, "not delivered: {st}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = r.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (key, msg) = &received[0];
    assert_eq!(msg["message_id"], key.as_str());
    assert_eq!(msg["kind"], "guardian.alert");
    assert_eq!(msg["to_phone_number"], "+8613911112222");
    assert_eq!(msg["to_handle"], guardian.handle.as_str());
    assert!(msg["text_en"]
        .as_str()
        .unwrap()
        .starts_with("The phone ending 1234 paid ¥2.00"));
    assert!(msg["text_zh"]
        .as_str()
        .unwrap()
        .starts_with("尾号1234的手机"));
    assert_eq!(msg["data"]["transit"]["station"], "Central");
}

#[tokio::test]
async fn settlements_export_and_reconciliation_find_injected_faults() {
    for url in database_urls() {
        // On the shared PostgreSQL database other tests pay at the same
        // time, so the day's record count can grow between two calls.
        let own_database = url.is_none();
        let s = TestServer::start_with(url).await;
        let (status, tram_co) = s
            .admin(
                Method::POST,
                "/v1/merchants",
                Some(json!({"name": "City Tram", "currency": "CNY", "operator": "Metro Co", "fee_bps": 150})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{tram_co}");
        let tram_co = common::Merchant {
            merchant_id: tram_co["merchant_id"].as_str().unwrap().into(),
            account_id: tram_co["account_id"].as_str().unwrap().into(),
        };
        let tram = s.tram_terminal(&tram_co, "Central", 0).await;
        let operator = format!("Cafés {}", now_ms());
        let (status, cafe) = s
            .admin(
                Method::POST,
                "/v1/merchants",
                Some(json!({"name": "Corner Café", "currency": "CNY", "operator": operator})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{cafe}");
        let cafe = common::Merchant {
            merchant_id: cafe["merchant_id"].as_str().unwrap().into(),
            account_id: cafe["account_id"].as_str().unwrap().into(),
        };
        let till = s.terminal(&cafe).await;
        let rider = s.phone("CNY").await;
        s.top_up(&rider.account_id, 100_000, "CNY").await;
        let mut ids = Vec::new();
        let mut first_at = None;
        for (i, amount) in [200u64, 300, 400].iter().enumerate() {
            let (status, p) = s
                .pay_fare(
                    &rider,
                    &tram,
                    &format!("t-{i}"),
                    *amount,
                    Some(flat_fare("Central", 4)),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
            first_at.get_or_insert(p["completed_at_ms"].as_u64().unwrap());
            ids.push((p["payment_id"].as_str().unwrap().to_string(), *amount));
        }
        let (status, p) = s.pay_fare(&rider, &till, "c-1", 1_250, None).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push((p["payment_id"].as_str().unwrap().to_string(), 1_250));

        let date = utc_date(first_at.unwrap());
        let (status, day) = s
            .admin(Method::GET, &format!("/v1/settlements?date={date}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{day}");
        let records = day["records"].as_array().unwrap();
        let tram_line = records
            .iter()
            .find(|r| r["level"] == "merchant" && r["merchant_id"] == tram_co.merchant_id.as_str())
            .unwrap();
        assert_eq!(tram_line["payment_count"], 3);
        assert_eq!(tram_line["total_minor"], 900);
        assert_eq!(tram_line["fee_minor"], 14); // 1.5 % of 900 = 13.5, rounded half up
        assert_eq!(tram_line["net_minor"], 886);
        let metro = records
            .iter()
            .find(|r| r["level"] == "operator" && r["operator"] == "Metro Co")
            .unwrap();
        assert!(metro["total_minor"].as_i64().unwrap() >= 900);
        let default_op = records
            .iter()
            .find(|r| r["level"] == "operator" && r["operator"] == operator.as_str())
            .unwrap();
        assert_eq!(
            (
                default_op["payment_count"].clone(),
                default_op["fee_minor"].clone()
            ),
            (json!(1), json!(0))
        );

        // CSV export of the same day.
        let resp = s
            .http
            .get(s.url(&format!("/v1/settlements?date={date}&format=csv")))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = resp.text().await.unwrap();
        assert!(csv.starts_with("date,level,operator,merchant_id"));
        assert!(csv.contains(&format!(
            "{date},merchant,Metro Co,{},City Tram,CNY,3,900,0,0,900,14,886",
            tram_co.merchant_id
        )));
        if own_database {
            assert_eq!(csv.lines().count(), 1 + records.len());
        }

        // The tram operator's external statement: one payment missing, one
        // with another amount, one the ledger never saw.
        let mut entries: Vec<Value> = ids[..3]
            .iter()
            .map(
                |(id, amount)| json!({"payment_id": id, "amount_minor": amount, "currency": "CNY"}),
            )
            .collect();
        let missing = entries.remove(1);
        entries[1]["amount_minor"] = json!(401);
        entries.push(json!({"payment_id": "pay_unknown", "amount_minor": 5, "currency": "CNY"}));
        let (status, rec) = s
            .admin(
                Method::POST,
                "/v1/settlements/reconciliations",
                Some(json!({"date": date, "merchant_id": tram_co.merchant_id, "entries": entries})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{rec}");
        assert_eq!(rec["balanced"], false);
        assert_eq!(rec["matched"], 1);
        assert_eq!(rec["missing"].as_array().unwrap().len(), 1);
        assert_eq!(rec["missing"][0]["payment_id"], missing["payment_id"]);
        assert_eq!(rec["mismatched"].as_array().unwrap().len(), 1);
        assert_eq!(rec["mismatched"][0]["reason"], "amount");
        assert_eq!(rec["mismatched"][0]["payment_id"], ids[2].0.as_str());
        assert_eq!(rec["mismatched"][0]["ledger"]["amount_minor"], 400);
        assert_eq!(rec["unknown"][0]["payment_id"], "pay_unknown");

        // A clean statement balances.
        let clean: Vec<Value> = ids[..3]
            .iter()
            .map(
                |(id, amount)| json!({"payment_id": id, "amount_minor": amount, "currency": "CNY"}),
            )
            .collect();
        let (_, rec) = s
            .admin(
                Method::POST,
                "/v1/settlements/reconciliations",
                Some(json!({"date": date, "merchant_id": tram_co.merchant_id, "entries": clean})),
            )
            .await;
        assert_eq!(rec["balanced"], true, "{rec}");

        // Bad input is a clear 4xx, never a 500.
        for path in [
            "/v1/settlements?date=2026-02-30",
            "/v1/settlements?date=today",
            "/v1/settlements?date=2026-01-01&format=xml",
            "/v1/settlements?date=2026-01-01&utc_offset_minutes=9999",
            "/v1/settlements",
        ] {
            let (status, body) = s.admin(Method::GET, path, None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        }
        let (status, _) = s
            .http
            .get(s.url(&format!("/v1/settlements?date={date}")))
            .send()
            .await
            .map(|r| (r.status(), ()))
            .unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// The local date of `at_ms` at `offset` minutes, and an offset that puts
/// `at_ms` near local noon (so a test cannot straddle midnight).
fn noon_offset(at_ms: u64) -> i64 {
    let utc_minutes = ((at_ms / 60_000) % 1_440) as i64;
    720 - utc_minutes
}

/// Issue 8: a day settles net of its refunds, and the fee is taken on the
/// net. Before, settlements summed the payments gross of refunds (and took
/// the fee on the gross).
#[tokio::test]
async fn settlements_are_net_of_refunds_with_the_fee_on_the_net() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let operator = format!("Net Co {}", now_ms());
        let (status, shop) = s
            .admin(
                Method::POST,
                "/v1/merchants",
                Some(json!({"name": "Kiosk", "currency": "CNY", "operator": operator, "fee_bps": 250})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{shop}");
        let merchant = common::Merchant {
            merchant_id: shop["merchant_id"].as_str().unwrap().into(),
            account_id: shop["account_id"].as_str().unwrap().into(),
        };
        let till = s.terminal(&merchant).await;
        let owner = s.phone("CNY").await;
        let (status, body) = s
            .admin(
                Method::POST,
                &format!("/v1/merchants/{}/owner", merchant.merchant_id),
                Some(json!({"account_id": owner.account_id})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rider = s.phone("CNY").await;
        s.top_up(&rider.account_id, 10_000, "CNY").await;
        let (status, first) = s.pay_fare(&rider, &till, "n-1", 1_000, None).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, second) = s.pay_fare(&rider, &till, "n-2", 600, None).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        let (status, refund) = s
            .device(
                &owner,
                Method::POST,
                &format!("/v1/merchants/{}/refunds", merchant.merchant_id),
                Some(json!({"refund_id": "r-1", "payment_id": first["payment_id"], "amount_minor": 400})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{refund}");

        let at = first["completed_at_ms"].as_u64().unwrap();
        let offset = noon_offset(at);
        let local = |ms: u64| utc_date((ms as i64 + offset * 60_000) as u64);
        let date = local(at);
        assert_eq!(local(refund["created_at_ms"].as_u64().unwrap()), date);
        let (status, day) = s
            .admin(
                Method::GET,
                &format!("/v1/settlements?date={date}&utc_offset_minutes={offset}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{day}");
        let records = day["records"].as_array().unwrap();
        let line = records
            .iter()
            .find(|r| r["level"] == "merchant" && r["merchant_id"] == merchant.merchant_id.as_str())
            .unwrap();
        assert_eq!(line["payment_count"], 2, "{line}");
        assert_eq!(line["gross_minor"], 1_600, "{line}");
        assert_eq!(line["refund_count"], 1, "{line}");
        assert_eq!(line["refund_minor"], 400, "{line}");
        assert_eq!(line["total_minor"], 1_200, "{line}");
        assert_eq!(line["fee_minor"], 30, "{line}"); // 2.5 % of the net 1 200
        assert_eq!(line["net_minor"], 1_170, "{line}");
        let op = records
            .iter()
            .find(|r| r["level"] == "operator" && r["operator"] == operator.as_str())
            .unwrap();
        assert_eq!(
            (
                &op["total_minor"],
                &op["refund_minor"],
                &op["fee_minor"],
                &op["net_minor"]
            ),
            (&json!(1_200), &json!(400), &json!(30), &json!(1_170)),
            "{op}"
        );
        // The payout is what the merchant account actually kept.
        assert_eq!(s.balance(&merchant.account_id).await, 1_200);

        let resp = s
            .http
            .get(s.url(&format!(
                "/v1/settlements?date={date}&utc_offset_minutes={offset}&format=csv"
            )))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap();
        let csv = resp.text().await.unwrap();
        assert!(csv.starts_with(
            "date,level,operator,merchant_id,merchant_name,currency,payment_count,gross_minor,\
             refund_count,refund_minor,total_minor,fee_minor,net_minor\r\n"
        ));
        assert!(
            csv.contains(&format!(
                "{date},merchant,{operator},{},Kiosk,CNY,2,1600,1,400,1200,30,1170",
                merchant.merchant_id
            )),
            "{csv}"
        );
        s.server.shutdown().await;
    }
}
