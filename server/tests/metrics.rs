//! `GET /metrics` scraped and parsed as Prometheus text (issue 13.3): the
//! counters, histograms and gauges after payments, refunds and open event
//! streams, the admin token, the separate listener, and two servers in one
//! process keeping their own numbers. Runs on SQLite and, when
//! WAYFARE_TEST_DATABASE_URL is set, on PostgreSQL too.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::merchant_scene;
use crate::metrics_text;

use std::time::Duration;

use common::{database_urls, shop, TestServer};
use metrics_text::Exposition;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wayfare_server::ServerOptions;

const PAYMENTS: &str = "wayfare_payments_total";
const REFUNDS: &str = "wayfare_refunds_total";
const LATENCY: &str = "wayfare_http_request_duration_seconds";
const SUBSCRIBERS: &str = "wayfare_event_stream_subscribers";

async fn start(url: Option<String>) -> TestServer {
    let options = ServerOptions {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerOptions::default()
    };
    TestServer::start_with_options(url, options).await
}

/// Scrapes `url`, checks the content type and parses strictly.
async fn scrape(s: &TestServer, url: &str, token: Option<&str>) -> Exposition {
    let mut req = s.http.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    metrics_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

async fn scrape_admin(s: &TestServer) -> Exposition {
    scrape(s, &s.url("/metrics"), Some(&s.admin)).await
}

/// Waits until the subscribers gauge of `stream` reads `want`.
async fn wait_for_subscribers(s: &TestServer, stream: &str, want: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let got = scrape_admin(s)
            .await
            .value(SUBSCRIBERS, &[("stream", stream)]);
        if got == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stream} subscribers stayed {got:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn metrics_count_payments_refunds_streams_and_backlog() {
    for url in database_urls() {
        let sqlite = url.is_none();
        let s = start(url).await;
        let (merchant, terminal, payer) = shop(&s, 10_000).await;
        let owner = s.phone("CNY").await;
        merchant_scene::attach_owner(&s, &merchant, &owner).await;

        // A payment, its replay, and one refused for want of funds.
        let (ins, idem) = payer.instruction(&terminal, "ord-m-1", 1_000);
        let (status, paid) = s.pay(&payer, &ins, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");
        let (status, _) = s.pay(&payer, &ins, &idem).await;
        assert_eq!(status, StatusCode::OK);
        let (ins, idem) = payer.instruction(&terminal, "ord-m-2", 1_000_000);
        let (status, body) = s.pay(&payer, &ins, &idem).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");

        // A refund, its replay, and one over the payment.
        let refunds = format!("/v1/merchants/{}/refunds", merchant.merchant_id);
        let refund =
            json!({"refund_id": "r-1", "payment_id": paid["payment_id"], "amount_minor": 300});
        let (status, body) = s
            .device(&owner, Method::POST, &refunds, Some(refund.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _) = s.device(&owner, Method::POST, &refunds, Some(refund)).await;
        assert_eq!(status, StatusCode::OK);
        let over =
            json!({"refund_id": "r-2", "payment_id": paid["payment_id"], "amount_minor": 701});
        let (status, _) = s.device(&owner, Method::POST, &refunds, Some(over)).await;
        assert_eq!(status, StatusCode::CONFLICT);

        // A billing export with no billing endpoint stays undelivered.
        let (day, _) = common::days::unused_past_day();
        let (status, body) = s
            .admin(
                Method::POST,
                "/v1/billing/exports",
                Some(json!({"date": day})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        // Two event streams open: the owner's device and the terminal.
        let device = s.device_stream(&owner, None).await;
        let term = s.terminal_events(&terminal, None).await;

        let m = scrape_admin(&s).await;
        assert_eq!(m.types.get(PAYMENTS).map(String::as_str), Some("counter"));
        assert_eq!(m.types.get(LATENCY).map(String::as_str), Some("histogram"));
        assert!(m.help.contains_key(PAYMENTS), "{:?}", m.help);
        for (outcome, n) in [
            ("completed", 1.0),
            ("replayed", 1.0),
            ("insufficient_funds", 1.0),
        ] {
            assert_eq!(
                m.value(PAYMENTS, &[("outcome", outcome)]),
                Some(n),
                "{outcome}"
            );
        }
        assert_eq!(m.all(PAYMENTS).len(), 3);
        for (outcome, n) in [
            ("completed", 1.0),
            ("replayed", 1.0),
            ("refund_exceeds_payment", 1.0),
        ] {
            assert_eq!(
                m.value(REFUNDS, &[("outcome", outcome)]),
                Some(n),
                "{outcome}"
            );
        }
        assert_eq!(m.all(REFUNDS).len(), 3);

        // Latency per route template and status class.
        let count = |route: &str, status: &str| {
            m.value(
                &format!("{LATENCY}_count"),
                &[("method", "POST"), ("route", route), ("status", status)],
            )
        };
        assert_eq!(count("/v1/payments", "2xx"), Some(2.0));
        assert_eq!(count("/v1/payments", "4xx"), Some(1.0));
        assert_eq!(
            count("/v1/merchants/{merchant_id}/refunds", "2xx"),
            Some(2.0)
        );
        assert_eq!(
            count("/v1/merchants/{merchant_id}/refunds", "4xx"),
            Some(1.0)
        );
        let sum = m
            .value(
                &format!("{LATENCY}_sum"),
                &[
                    ("method", "POST"),
                    ("route", "/v1/payments"),
                    ("status", "2xx"),
                ],
            )
            .unwrap();
        assert!(sum > 0.0 && sum < 60.0, "{sum}");
        let inf = m.value(
            &format!("{LATENCY}_bucket"),
            &[
                ("method", "POST"),
                ("route", "/v1/payments"),
                ("status", "2xx"),
                ("le", "+Inf"),
            ],
        );
        assert_eq!(inf, Some(2.0));
        no_ids_in_labels(
            &m,
            &[
                &merchant.merchant_id,
                &terminal.terminal_id,
                &payer.account_id,
                &payer.device_id,
                &owner.account_id,
                &owner.device_id,
            ],
        );

        // Gauges.
        assert_eq!(m.value(SUBSCRIBERS, &[("stream", "device")]), Some(1.0));
        assert_eq!(m.value(SUBSCRIBERS, &[("stream", "terminal")]), Some(1.0));
        assert_eq!(
            m.value("wayfare_outbox_backlog", &[("outbox", "billing")]),
            Some(1.0)
        );
        assert_eq!(
            m.value("wayfare_outbox_backlog", &[("outbox", "gateway")]),
            Some(0.0)
        );
        let age = m
            .value(
                "wayfare_outbox_oldest_age_seconds",
                &[("outbox", "billing")],
            )
            .unwrap();
        assert!((0.0..60.0).contains(&age), "{age}");
        assert_eq!(
            m.value(
                "wayfare_outbox_oldest_age_seconds",
                &[("outbox", "gateway")]
            ),
            Some(0.0)
        );
        assert_eq!(
            m.value("wayfare_terminals_seen", &[("window", "5m")]),
            Some(1.0)
        );
        assert_eq!(m.value("wayfare_metrics_database_up", &[]), Some(1.0));
        assert_eq!(
            m.types
                .get("wayfare_db_transaction_retries_total")
                .map(String::as_str),
            Some("counter")
        );
        assert!(m
            .value("wayfare_db_transaction_retries_total", &[])
            .is_some());

        // SQLite: the one writer's batches, stage by stage. Every write
        // above went through it; each batch is recorded after its callers
        // were answered, so all but the last are in this scrape.
        if sqlite {
            for stage in [
                "wayfare_db_write_queue_seconds",
                "wayfare_db_batch_statements_seconds",
                "wayfare_db_commit_seconds",
                "wayfare_db_write_batch_size",
            ] {
                assert_eq!(
                    m.types.get(stage).map(String::as_str),
                    Some("histogram"),
                    "{stage}"
                );
                let count = m.value(&format!("{stage}_count"), &[]).unwrap_or(0.0);
                assert!(count >= 3.0, "{stage}: {count}");
            }
            // One queue time per transaction. The writer records a batch's
            // queue times, then its size, and background writes (the
            // settler's folds) go on: a scrape may land between the two, so
            // wait for one where they agree.
            wayfare_testkit::poll::wait_until(
                wayfare_testkit::poll::PATIENCE,
                "one queue time per batched transaction",
                || async {
                    let m = scrape_admin(&s).await;
                    let waits = m.value("wayfare_db_write_queue_seconds_count", &[]);
                    let batched = m.value("wayfare_db_write_batch_size_sum", &[]);
                    waits.is_some() && waits == batched
                },
            )
            .await;
        }

        // Streams closed: a payment makes both streams write, the server
        // sees the closed connections and the guards count them down.
        drop(device);
        drop(term);
        let (ins, idem) = payer.instruction(&terminal, "ord-m-3", 100);
        assert_eq!(s.pay(&payer, &ins, &idem).await.0, StatusCode::CREATED);
        wait_for_subscribers(&s, "device", 0.0).await;
        wait_for_subscribers(&s, "terminal", 0.0).await;

        s.server.shutdown().await;
    }
}

/// No label value names an account, device, merchant or terminal.
fn no_ids_in_labels(m: &Exposition, ids: &[&str]) {
    for sample in &m.samples {
        for value in sample.labels.values() {
            for id in ids {
                assert!(!value.contains(id), "{} has an id in {value}", sample.name);
            }
        }
    }
}

#[tokio::test]
async fn metrics_need_the_admin_token_except_on_the_metrics_listener() {
    for url in database_urls() {
        let s = start(url).await;
        let resp = s.http.get(s.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = s
            .http
            .get(s.url("/metrics"))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

        // The separate listener: /metrics without a token, nothing else.
        let addr = s.server.metrics_addr().expect("metrics listener");
        assert_ne!(addr, s.server.addr());
        let m = scrape(&s, &format!("http://{addr}/metrics"), None).await;
        // The refusals above were timed on the main listener.
        assert_eq!(
            m.value(
                &format!("{LATENCY}_count"),
                &[("method", "GET"), ("route", "/metrics"), ("status", "4xx")]
            ),
            Some(2.0)
        );
        let resp = s
            .http
            .get(format!("http://{addr}/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn servers_in_one_process_keep_their_own_metrics() {
    let busy = TestServer::start().await;
    let idle = TestServer::start().await;
    let (_, terminal, payer) = shop(&busy, 1_000).await;
    let (ins, idem) = payer.instruction(&terminal, "ord-own", 100);
    assert_eq!(busy.pay(&payer, &ins, &idem).await.0, StatusCode::CREATED);
    let m = scrape_admin(&busy).await;
    assert_eq!(m.value(PAYMENTS, &[("outcome", "completed")]), Some(1.0));
    let m = scrape_admin(&idle).await;
    assert!(m.all(PAYMENTS).is_empty(), "{:?}", m.all(PAYMENTS));
    // No separate listener unless asked for.
    assert_eq!(idle.server.metrics_addr(), None);
    busy.server.shutdown().await;
    idle.server.shutdown().await;
}
