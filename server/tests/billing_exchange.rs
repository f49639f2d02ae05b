//! Billing out (issue 12.4): a closed day delivered to a loopback billing
//! system until it acknowledges, signed, deduped by delivery id, and after
//! a restart; the previous day closing by itself. Reconciliation back is
//! in `billing_reconciliations.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use common::days::{civil, today, unused_past_day};
use common::{database_urls, now_ms, shop, TestServer};
use reqwest::{Method, StatusCode};
use ring::hmac;
use serde_json::{json, Value};
use sqlx::AnyPool;
use tempfile::TempDir;
use wayfare_server::{
    start_with, BillingEndpoint, RetryPolicy, RunningServer, ServerConfig, ServerOptions,
};

const SECRET: &[u8] = b"billing-shared-secret-0123456789";

/// What the loopback billing system answers to each delivery, in order;
/// after the script it accepts.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// 503 without looking at the delivery.
    Refuse,
    /// Books the delivery, then answers 503 (the acknowledgement is lost).
    BookAndLoseAck,
}

#[derive(Clone, Default)]
struct BillingSystem {
    script: Arc<Mutex<Vec<Answer>>>,
    /// Every delivery seen: (delivery id, signature valid).
    seen: Arc<Mutex<Vec<(String, bool)>>>,
    /// Deliveries booked, once per delivery id.
    booked: Arc<Mutex<Vec<(String, Value)>>>,
    booked_ids: Arc<Mutex<HashSet<String>>>,
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn billing_hook(
    State(b): State<BillingSystem>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let delivery = header(&headers, "wayfare-delivery-id");
    let timestamp = header(&headers, "wayfare-timestamp");
    let signature = header(&headers, "wayfare-signature");
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let mut signed = timestamp.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    let given = signature
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_default();
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - now_ms() as i64 / 1000).abs() < 300);
    let valid = fresh
        && hmac::verify(&key, &signed, &given).is_ok()
        && header(&headers, "idempotency-key") == delivery;
    b.seen.lock().unwrap().push((delivery.clone(), valid));
    if !valid {
        return AxumStatus::UNAUTHORIZED;
    }
    let answer = {
        let mut script = b.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    if let Some(Answer::Refuse) = answer {
        return AxumStatus::SERVICE_UNAVAILABLE;
    }
    // Dedupe on the delivery id, as a billing system must.
    if b.booked_ids.lock().unwrap().insert(delivery.clone()) {
        let value: Value = serde_json::from_slice(&body).unwrap();
        b.booked.lock().unwrap().push((delivery, value));
    }
    match answer {
        Some(Answer::BookAndLoseAck) => AxumStatus::SERVICE_UNAVAILABLE,
        _ => AxumStatus::OK,
    }
}

async fn billing_system(script: Vec<Answer>) -> (BillingSystem, String) {
    let b = BillingSystem {
        script: Arc::new(Mutex::new(script)),
        ..BillingSystem::default()
    };
    let app = Router::new()
        .route("/billing", post(billing_hook))
        .with_state(b.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/billing", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (b, url)
}

fn options(url: &str) -> ServerOptions {
    ServerOptions {
        billing: Some(BillingEndpoint::new(url, SECRET, Duration::from_secs(5)).unwrap()),
        billing_retry: RetryPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..ServerOptions::default()
    }
}

async fn start(
    dir: &TempDir,
    database_url: Option<String>,
    options: ServerOptions,
) -> RunningServer {
    start_with(
        ServerConfig {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url,
            tls: None,
        },
        options,
    )
    .await
    .unwrap()
}

async fn admin(
    server: &RunningServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = common::client()
        .request(method, format!("{}{path}", server.base_url()))
        .bearer_auth(server.admin_token());
    if let Some(body) = body {
        req = req.json(&body);
    }
    common::read(req.send().await.unwrap()).await
}

/// Polls the export of `date` until `done` holds (at most 20 s).
async fn wait_export(server: &RunningServer, date: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = admin(
            server,
            Method::GET,
            &format!("/v1/billing/exports?date={date}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if let Some(e) = body["exports"]
            .as_array()
            .and_then(|a| a.iter().find(|e| done(e)))
        {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "export of {date} never reached the state: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The database the server uses, to move a payment into a past day.
async fn pool(dir: &TempDir, database_url: &Option<String>) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("wayfare.db").display()
        )
    });
    AnyPool::connect(&url).await.unwrap()
}

async fn billing_export_retried_signed_and_deduped(database_url: Option<String>) {
    // Refused twice, then booked with the acknowledgement lost, then accepted.
    let (billing, url) =
        billing_system(vec![Answer::Refuse, Answer::Refuse, Answer::BookAndLoseAck]).await;
    let s = TestServer::start_with_options(database_url.clone(), options(&url)).await;
    let (merchant, terminal, phone) = shop(&s, 10_000).await;
    let (instruction, idem) = phone.instruction(&terminal, "bx-1", 1_250);
    let (status, paid) = s.pay(&phone, &instruction, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let payment_id = paid["payment_id"].as_str().unwrap().to_string();
    // The payment belongs to a closed past day.
    let (date, day_start) = unused_past_day();
    let db = pool(&s.dir, &database_url).await;
    sqlx::query("UPDATE payments SET completed_at_ms = $1 WHERE id = $2")
        .bind(day_start + 3_600_000)
        .bind(payment_id.clone())
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    // A day that has not ended cannot be closed.
    let (status, body) = s
        .admin(
            Method::POST,
            "/v1/billing/exports",
            Some(json!({"date": today()})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "day_not_ended");

    let (status, created) = s
        .admin(
            Method::POST,
            "/v1/billing/exports",
            Some(json!({"date": date})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let delivery_id = created["delivery_id"].as_str().unwrap().to_string();
    assert_eq!(created["payment_count"], 1);
    // Closing the day again answers the same export.
    let (status, again) = s
        .admin(
            Method::POST,
            "/v1/billing/exports",
            Some(json!({"date": date, "utc_offset_minutes": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["export_id"], created["export_id"]);

    let delivered = wait_export(&s.server, &date, |e| e["state"] == "delivered").await;
    assert_eq!(delivered["attempts"], 4, "{delivered}");
    assert!(delivered["last_error"].is_null());

    let seen: Vec<_> = billing
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| *id == delivery_id)
        .cloned()
        .collect();
    assert_eq!(
        seen.len(),
        4,
        "two refusals, a lost ack, an accepted redelivery"
    );
    assert!(
        seen.iter().all(|(_, valid)| *valid),
        "every delivery is signed"
    );
    let booked: Vec<_> = billing
        .booked
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| *id == delivery_id)
        .cloned()
        .collect();
    assert_eq!(booked.len(), 1, "booked once despite the redelivery");
    let body = &booked[0].1;
    assert_eq!(body["date"], date.as_str());
    assert_eq!(body["utc_offset"], "+00:00");
    assert_eq!(body["delivery_id"], delivery_id.as_str());
    assert_eq!(body["payments"][0]["payment_id"], payment_id.as_str());
    assert_eq!(body["payments"][0]["amount_minor"], 1_250);
    let line = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["merchant_id"] == merchant.merchant_id.as_str())
        .expect("the merchant's settlement record");
    assert_eq!(line["gross_minor"], 1_250);

    // The export as the operator sees it carries the exact body.
    let export_id = created["export_id"].as_str().unwrap();
    let (status, shown) = s
        .admin(
            Method::GET,
            &format!("/v1/billing/exports/{export_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(&shown["body"], body);
    s.server.shutdown().await;
}

async fn pending_export_survives_a_restart(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    // A billing system that is down for the whole first run.
    let (_down, down_url) = billing_system(vec![Answer::Refuse; 10_000]).await;
    let first = start(&dir, database_url.clone(), options(&down_url)).await;
    let (date, _) = unused_past_day();
    let (status, created) = admin(
        &first,
        Method::POST,
        "/v1/billing/exports",
        Some(json!({"date": date, "utc_offset_minutes": 480})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let pending = wait_export(&first, &date, |e| e["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["last_error"], "answered HTTP 503");
    let (_, status_view) = admin(&first, Method::GET, "/v1/billing/exports", None).await;
    assert_eq!(status_view["endpoint_configured"], true);
    first.shutdown().await;

    let (billing, url) = billing_system(Vec::new()).await;
    let second = start(&dir, database_url, options(&url)).await;
    let delivered = wait_export(&second, &date, |e| e["state"] == "delivered").await;
    assert_eq!(delivered["export_id"], created["export_id"]);
    let booked = billing.booked.lock().unwrap().clone();
    let ours: Vec<_> = booked
        .iter()
        .filter(|(id, _)| *id == created["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].1["utc_offset"], "+08:00");
    second.shutdown().await;
}

async fn the_previous_day_closes_by_itself(database_url: Option<String>) {
    const OFFSET: i64 = -300;
    let fresh = database_url.is_none();
    let (billing, url) = billing_system(Vec::new()).await;
    let mut opts = options(&url);
    opts.billing = opts.billing.map(|b| b.with_daily_close(OFFSET).unwrap());
    let s = TestServer::start_with_options(database_url, opts).await;
    let local_days = (now_ms() as i64 + OFFSET * 60_000).div_euclid(86_400_000);
    let (y, m, d) = civil(local_days - 1);
    let yesterday = format!("{y:04}-{m:02}-{d:02}");
    let export = wait_export(&s.server, &yesterday, |e| {
        e["utc_offset_minutes"] == OFFSET && e["state"] == "delivered"
    })
    .await;
    assert_eq!(export["utc_offset"], "-05:00");
    // Days that ended while no server ran are caught up (a week back).
    let (y, m, d) = civil(local_days - 7);
    wait_export(&s.server, &format!("{y:04}-{m:02}-{d:02}"), |e| {
        e["utc_offset_minutes"] == OFFSET
    })
    .await;
    // Today has not ended there: not closed.
    let (y, m, d) = civil(local_days);
    let (_, today) = s
        .admin(
            Method::GET,
            &format!("/v1/billing/exports?date={y:04}-{m:02}-{d:02}"),
            None,
        )
        .await;
    assert!(
        !today["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["utc_offset_minutes"] == OFFSET),
        "{today}"
    );
    // On a fresh database this server delivered it (on a shared one an
    // earlier run may have).
    if fresh {
        let booked = billing.booked.lock().unwrap().clone();
        assert!(
            booked
                .iter()
                .any(|(id, body)| *id == export["delivery_id"].as_str().unwrap()
                    && body["date"] == yesterday.as_str()),
            "{booked:?}"
        );
    }
    s.server.shutdown().await;
}

/// One test per database, the scenarios in turn: every server started here
/// delivers every pending export of its database, so on a shared
/// PostgreSQL database they must not overlap.
#[tokio::test]
async fn billing_exports_are_delivered_until_acknowledged_and_after_a_restart() {
    for url in database_urls() {
        billing_export_retried_signed_and_deduped(url.clone()).await;
        pending_export_survives_a_restart(url.clone()).await;
        the_previous_day_closes_by_itself(url).await;
    }
}
