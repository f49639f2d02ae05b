//! Terminals: certificate, SSE push after a payment (live and replayed with
//! Last-Event-ID), platform confirmation, reports; restart keeps state.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{now_ms, read, shop, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::certificate::TerminalCertificate;

/// Asks the platform API, as `terminal`, to confirm `body`.
async fn confirmation(
    s: &TestServer,
    terminal: &common::Terminal,
    body: &str,
) -> (StatusCode, Value) {
    s.terminal_post(terminal, "/v1/platform/confirmations", body)
        .await
}

/// The confirmation of the 120 CNY payment `paid`.
fn completed(paid: &Value) -> Value {
    json!({"confirmed": true, "status": "completed", "payment_id": paid["payment_id"],
           "amount_minor": 120, "currency": "CNY"})
}

#[tokio::test]
async fn terminal_receives_payment_push_and_can_confirm() {
    for url in common::database_urls() {
        push_and_confirm(TestServer::start_with(url).await).await;
    }
}

async fn push_and_confirm(s: TestServer) {
    let (_m, terminal, phone) = shop(&s, 1_000).await;

    let cert = TerminalCertificate::from_base64(&terminal.certificate).unwrap();
    let body = cert.verify(&s.server.operator_key(), now_ms()).unwrap();
    assert_eq!(body.terminal_id, terminal.terminal_id);
    assert_eq!(body.terminal_key, terminal.key.public_key());

    let mut sse = s.terminal_events(&terminal, None).await;
    let (ins, idem) = phone.instruction(&terminal, "ord-1", 120);
    let (status, paid) = s.pay(&phone, &ins, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let event = sse.next().await;
    assert_eq!(event.event, "payment.completed");
    assert_eq!(event.id, "1");
    assert_eq!(event.data["payment_id"], paid["payment_id"]);
    assert_eq!(event.data["order_id"], "ord-1");
    assert_eq!(event.data["amount_minor"], 120);
    assert_eq!(event.data["currency"], "CNY");

    let (ins, idem) = phone.instruction(&terminal, "ord-2", 80);
    let (status, second) = s.pay(&phone, &ins, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(sse.next().await.data["payment_id"], second["payment_id"]);
    drop(sse);

    // A reconnecting terminal replays what it missed after Last-Event-ID.
    let mut replay = s.terminal_events(&terminal, Some("1")).await;
    let event = replay.next().await;
    assert_eq!(event.id, "2");
    assert_eq!(event.data["payment_id"], second["payment_id"]);

    // Platform confirmation (P3.3).
    let confirm = |payment: &Value, order: &str| {
        json!({"payment_id": payment["payment_id"], "order_id": order}).to_string()
    };
    let (status, answer) = confirmation(&s, &terminal, &confirm(&paid, "ord-1")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, completed(&paid));
    // An in-doubt sale is asked about by its order alone.
    let by_order = |order: &str| json!({"order_id": order}).to_string();
    let (status, answer) = confirmation(&s, &terminal, &by_order("ord-1")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, completed(&paid));
    let (status, answer) = confirmation(&s, &terminal, &by_order("ord-never-paid")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"confirmed": false, "status": "not_paid"}));
    let (status, answer) = confirmation(&s, &terminal, &confirm(&paid, "ord-2")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["confirmed"], false);

    // Another terminal of the same merchant learns nothing about it.
    let other = s
        .terminal(&common::Merchant {
            merchant_id: terminal.merchant_id.clone(),
            account_id: String::new(),
        })
        .await;
    let (status, answer) = confirmation(&s, &other, &confirm(&paid, "ord-1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = confirmation(&s, &other, &by_order("ord-1")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"confirmed": false, "status": "not_paid"}));
    s.server.shutdown().await;
}

#[tokio::test]
async fn reports_are_stored_once_per_report_id() {
    let s = TestServer::start().await;
    let (_m, terminal, _phone) = shop(&s, 0).await;
    let report = |id: &str| {
        json!({"report_id": id, "kind": "gate_opened", "order_id": "ord-1", "payment_id": "pay_x",
            "amount_minor": 200, "currency": "CNY", "at_ms": 1_700_000_000_000_u64, "detail": "ok"})
        .to_string()
    };
    for id in ["r-1", "r-2", "r-1"] {
        let (status, body) = s
            .terminal_post(&terminal, "/v1/terminals/me/reports", &report(id))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": true}));
    }
    let (status, body) = s
        .admin(
            Method::GET,
            &format!("/v1/terminals/{}/reports", terminal.terminal_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reports = body["reports"].as_array().unwrap();
    let ids: Vec<&str> = reports
        .iter()
        .map(|r| r["report_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r-1", "r-2"]);
    assert_eq!(reports[0]["amount_minor"], 200);
    assert!(reports[0]["received_at_ms"].as_u64().unwrap() > 0);
    s.server.shutdown().await;
}

#[tokio::test]
async fn restart_on_the_same_data_dir_and_port_keeps_keys_and_data() {
    let s = TestServer::start().await;
    let (merchant, terminal, phone) = shop(&s, 500).await;
    let (ins, idem) = phone.instruction(&terminal, "ord-1", 200);
    let (status, paid) = s.pay(&phone, &ins, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    // Keep an event stream open: shutdown must still complete.
    let _sse = s.terminal_events(&terminal, None).await;

    let (addr, admin, operator, receipt) = (
        s.server.addr(),
        s.server.admin_token(),
        s.server.operator_key(),
        s.server.receipt_key(),
    );
    let s = s.restart().await;
    assert_eq!(s.server.addr(), addr);
    assert_eq!(s.server.admin_token(), admin);
    assert_eq!(s.server.operator_key(), operator);
    assert_eq!(s.server.receipt_key(), receipt);
    let (status, keys) = read(s.http.get(s.url("/v1/keys")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["receipt_key"], receipt.to_base64());

    assert_eq!(s.balance(&phone.account_id).await, 300);
    assert_eq!(s.balance(&merchant.account_id).await, 200);
    // The replayed instruction still resolves to the same payment.
    let (status, replay) = s.pay(&phone, &ins, &idem).await;
    assert_eq!(status, StatusCode::OK, "{replay}");
    assert_eq!(replay["payment_id"], paid["payment_id"]);
    // The stream resumes with Last-Event-ID after a restart.
    let mut sse = s.terminal_events(&terminal, Some("0")).await;
    assert_eq!(sse.next().await.data["payment_id"], paid["payment_id"]);
    let (status, doc) = s.admin(Method::GET, "/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/payments"]["post"].is_object());
    s.server.shutdown().await;
}
