//! Invitation codes can't be guessed (issue 8): one answer for every wrong
//! code, a limit of failed attempts per account, per device and overall
//! (kept in the database: it holds across restarts and across nodes), and
//! a long secret in the QR payload. Guardian and staff invitations share
//! all of it. Runs on SQLite, and on PostgreSQL too when
//! WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::merchant_scene;

use std::time::Duration;

use common::{database_urls, now_ms, Phone, TestServer};
use merchant_scene::scene;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::request_auth::sign_request;
use wayfare_server::{AttemptLimits, ServerConfig, ServerOptions};

const WINDOW: Duration = Duration::from_secs(600);

fn limits(per_account: u32, global: u32) -> ServerOptions {
    ServerOptions {
        invitation_limits: AttemptLimits {
            per_account,
            per_device: per_account,
            global,
            window: WINDOW,
        },
        ..ServerOptions::default()
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

/// Accepts a guardian invitation; returns status, `retry-after` and body.
async fn accept(s: &TestServer, phone: &Phone, code: &str) -> (StatusCode, Option<u64>, Value) {
    let body = json!({ "code": code }).to_string();
    let path = "/v1/guardians/invitations/accept";
    let sig = sign_request(
        &phone.key,
        &phone.device_id,
        "POST",
        path,
        body.as_bytes(),
        now_ms(),
    )
    .unwrap();
    let mut req = s
        .http
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in sig.headers() {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let (status, body) = common::read(resp).await;
    (status, retry_after, body)
}

async fn invite(s: &TestServer, rider: &Phone) -> Value {
    s.invite(
        rider,
        "transit_only",
        json!({"shown_as": "nickname", "nickname": "Mia"}),
    )
    .await
}

/// Before, an unknown code was 404, an expired one 410, a used one 409
/// and one's own 422, so every guess told the guesser what it hit.
#[tokio::test]
async fn every_wrong_code_gets_one_answer_whatever_the_reason() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let rider = s.phone("CNY").await;
        let guardian = s.phone("CNY").await;
        let late = s.phone("CNY").await;
        let used = invite(&s, &rider).await;
        assert_eq!(
            accept(&s, &guardian, used["code"].as_str().unwrap())
                .await
                .0,
            StatusCode::CREATED
        );
        let own = invite(&s, &rider).await;
        let expired = s.expired_invitation(&rider, "Mia").await;
        let cases = [
            ("unknown", &late, "ZZZZ-ZZZZ".to_string()),
            ("malformed", &late, "x".to_string()),
            ("used", &late, used["code"].as_str().unwrap().to_string()),
            (
                "used (QR)",
                &late,
                used["qr_payload"].as_str().unwrap().to_string(),
            ),
            (
                "expired",
                &late,
                expired["code"].as_str().unwrap().to_string(),
            ),
            ("own", &rider, own["code"].as_str().unwrap().to_string()),
        ];
        let mut answers = Vec::new();
        for (why, phone, text) in &cases {
            let (status, _, body) = accept(&s, phone, text).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{why}: {body}");
            answers.push(body);
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        assert_eq!(code(&answers[0]), "invitation_invalid");

        // Staff invitations answer the same way.
        let sc = scene(None).await;
        let other = sc.s.phone("CNY").await;
        let intended = sc.s.phone("CNY").await;
        let named = sc
            .invite(
                &["receive_prompts"],
                &[],
                json!({"invitee_handle": intended.handle}),
            )
            .await;
        for text in ["ZZZZ-ZZZZ", "x", named["code"].as_str().unwrap()] {
            let (status, body) = sc.accept(&other, text).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{text}: {body}");
            assert_eq!(body["error"], answers[0]["error"], "{text}");
        }
    }
}

/// Before, nothing limited the attempts: a script could try codes until one
/// matched. Now, past the limit, even the right code gets 429 with
/// `retry-after`, and the limit is the caller's: others still get through.
#[tokio::test]
async fn failed_attempts_are_limited_per_account_with_retry_after() {
    for url in database_urls() {
        let s = TestServer::start_with_options(url, limits(3, 1_000)).await;
        let rider = s.phone("CNY").await;
        let guesser = s.phone("CNY").await;
        let honest = s.phone("CNY").await;
        let inv = invite(&s, &rider).await;
        let right = inv["code"].as_str().unwrap();
        for guess in ["ZZZZ-ZZZZ", "ZZZZ-ZZZY", "ZZZZ-ZZZX"] {
            let (status, retry, body) = accept(&s, &guesser, guess).await;
            assert_eq!((status, retry), (StatusCode::NOT_FOUND, None), "{body}");
        }
        let (status, retry, body) = accept(&s, &guesser, right).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(code(&body), "too_many_attempts");
        let retry = retry.expect("retry-after header");
        assert!((1..=WINDOW.as_secs()).contains(&retry), "{retry}");
        // The refused attempt did not consume the invitation.
        let (status, _, body) = accept(&s, &honest, right).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Successful accepts are not failures: an account can join many.
        for _ in 0..4 {
            let inv = invite(&s, &s.phone("CNY").await).await;
            let (status, _, body) = accept(&s, &honest, inv["code"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }
}

/// The global limit bounds guessing spread over many accounts (SQLite
/// only: a shared PostgreSQL database holds other tests' attempts).
#[tokio::test]
async fn the_global_limit_holds_across_accounts() {
    let s = TestServer::start_with_options(None, limits(10, 4)).await;
    let rider = s.phone("CNY").await;
    let inv = invite(&s, &rider).await;
    for _ in 0..4 {
        let guesser = s.phone("CNY").await;
        let (status, _, body) = accept(&s, &guesser, "ZZZZ-ZZZZ").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let fresh = s.phone("CNY").await;
    let (status, retry, body) = accept(&s, &fresh, inv["code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some());
    // Staff invitations share the limiter.
    let (status, body) = s
        .device(
            &fresh,
            Method::POST,
            "/v1/merchants/invitations/accept",
            Some(json!({"code": "ZZZZ-ZZZZ"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

/// The limiter's state is in the database: a restart does not reset it,
/// and another node on the same PostgreSQL sees the same counts.
#[tokio::test]
async fn the_limit_holds_across_restarts_and_nodes() {
    for url in database_urls() {
        let s = TestServer::start_with_options(url.clone(), limits(2, 1_000)).await;
        let guesser = s.phone("CNY").await;
        for _ in 0..2 {
            assert_eq!(
                accept(&s, &guesser, "ZZZZ-ZZZZ").await.0,
                StatusCode::NOT_FOUND
            );
        }
        let s = match url {
            // A second node on the same database.
            Some(url) => TestServer::start_with_options(Some(url), limits(2, 1_000)).await,
            // The same node restarted on the same data directory.
            None => {
                let dir = s.dir;
                s.server.shutdown().await;
                let again = wayfare_server::start_with(
                    ServerConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap()),
                    limits(2, 1_000),
                )
                .await
                .unwrap();
                TestServer {
                    base: again.base_url(),
                    admin: again.admin_token(),
                    server: again,
                    dir,
                    http: common::client(),
                    database_url: None,
                }
            }
        };
        let (status, retry, body) = accept(&s, &guesser, "ZZZZ-ZZZZ").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(retry.is_some());
    }
}

/// Before, the QR payload was the short code with a prefix. Now it carries
/// a 256-bit secret (only its hash is stored); the short code still works
/// when typed, and so does a payload of the older form.
#[tokio::test]
async fn the_qr_payload_carries_a_long_secret() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let rider = s.phone("CNY").await;
        let inv = invite(&s, &rider).await;
        let qr = inv["qr_payload"].as_str().unwrap();
        let secret = qr.strip_prefix("wayfare:guardian-invite:v2:").unwrap();
        assert!(secret.len() * 4 >= 128, "{qr}");
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{qr}");
        // Another secret of the right shape is just a wrong code.
        let forged: String = secret
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        let guardian = s.phone("CNY").await;
        let (status, _, body) = accept(
            &s,
            &guardian,
            &format!("wayfare:guardian-invite:v2:{forged}"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _, body) = accept(&s, &guardian, qr).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        // Typed code and the older payload form.
        let inv = invite(&s, &rider).await;
        let code = inv["code"].as_str().unwrap().replace('-', "");
        let other = s.phone("CNY").await;
        let (status, _, body) =
            accept(&s, &other, &format!("wayfare:guardian-invite:v1:{code}")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        // Staff invitations carry a secret too.
        let sc = scene(None).await;
        let inv = sc.invite(&["receive_prompts"], &[], json!({})).await;
        let qr = inv["qr_payload"].as_str().unwrap();
        assert!(qr.starts_with("wayfare:merchant-invite:v2:"), "{qr}");
        assert!(!qr.contains(&inv["code"].as_str().unwrap().replace('-', "")));
        let staff = sc.s.phone("CNY").await;
        assert_eq!(sc.accept(&staff, qr).await.0, StatusCode::CREATED);
    }
}
