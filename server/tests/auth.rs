//! Request authentication: signatures, freshness, replay, admin token.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{now_ms, read, shop, TestServer};
use reqwest::{Method, StatusCode};
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::request_auth::{sign_request, RequestSignature};

async fn send(
    s: &TestServer,
    sig: &RequestSignature,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = s.http.get(s.url(path));
    for (name, value) in sig.headers() {
        req = req.header(name, value);
    }
    read(req.send().await.unwrap()).await
}

/// A GET of `path`, signed by `key` as `key_id` at `at_ms`.
fn signed_get(key: &SigningKey, key_id: &str, path: &str, at_ms: u64) -> RequestSignature {
    sign_request(key, key_id, "GET", path, b"", at_ms).unwrap()
}

/// `GET /v1/wallet` with `sig` is refused: 401 with `code`.
async fn assert_refused(s: &TestServer, sig: &RequestSignature, code: &str) {
    let (status, body) = send(s, sig, "/v1/wallet").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], code);
}

#[tokio::test]
async fn replayed_stale_and_wrongly_signed_requests_are_401() {
    let s = TestServer::start().await;
    let (_m, terminal, phone) = shop(&s, 0).await;

    // A fresh request works once; the identical bytes again are a replay.
    let sig = signed_get(&phone.key, &phone.device_id, "/v1/wallet", now_ms());
    let (status, body) = send(&s, &sig, "/v1/wallet").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_refused(&s, &sig, "replayed_request").await;

    // Ten minutes old.
    let sig = signed_get(
        &phone.key,
        &phone.device_id,
        "/v1/wallet",
        now_ms() - 600_000,
    );
    assert_refused(&s, &sig, "stale_request").await;

    // Signed by another key.
    let rogue = SigningKey::generate().unwrap();
    let sig = signed_get(&rogue, &phone.device_id, "/v1/wallet", now_ms());
    assert_refused(&s, &sig, "bad_signature").await;

    // Signed for another path.
    let sig = signed_get(&phone.key, &phone.device_id, "/v1/wallet/history", now_ms());
    assert_refused(&s, &sig, "bad_signature").await;

    // Unknown device; missing headers.
    let sig = signed_get(
        &rogue,
        "dev_000000000000000000000000",
        "/v1/wallet",
        now_ms(),
    );
    assert_refused(&s, &sig, "unknown_device").await;
    let (status, body) = read(s.http.get(s.url("/v1/wallet")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );

    // A device key is not a terminal key, and vice versa.
    let (status, _) = s
        .api()
        .send(
            &phone.key,
            &terminal.terminal_id,
            Method::GET,
            "/v1/terminals/me/events",
            b"",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .api()
        .send(
            &terminal.key,
            &terminal.terminal_id,
            Method::GET,
            "/v1/wallet",
            b"",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Registration must be signed by the key it registers.
    let body = serde_json::json!({"display_name": "Eve", "device_key": phone.key.public_key().to_base64()}).to_string();
    let (status, answer) = s
        .api()
        .send(
            &rogue,
            "register",
            Method::POST,
            "/v1/devices",
            body.as_bytes(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_signature");

    // Admin endpoints: no token, wrong token.
    let (status, body) = read(s.http.get(s.url("/v1/ledger/check")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = read(
        s.http
            .get(s.url("/v1/ledger/check"))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.server.shutdown().await;
}

#[tokio::test]
async fn registering_the_same_key_twice_returns_the_same_account() {
    let s = TestServer::start().await;
    let phone = s.phone("CNY").await;
    let body = serde_json::json!({"display_name": "Ada", "device_key": phone.key.public_key().to_base64()}).to_string();
    let (status, again) = s
        .api()
        .send(
            &phone.key,
            "register",
            Method::POST,
            "/v1/devices",
            body.as_bytes(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["account_id"], phone.account_id.as_str());
    assert_eq!(again["device_id"], phone.device_id.as_str());
    assert!(again.get("phone_number").is_none());
    s.server.shutdown().await;
}

/// A payment request is replay-safe without a stored nonce or a request
/// signature check: the identical bytes again answer the first payment
/// (idempotency key), the money moves once, and the signed instruction is
/// what authenticates the device.
#[tokio::test]
async fn a_replayed_payment_request_answers_the_first_payment_and_moves_money_once() {
    let s = TestServer::start().await;
    let (merchant, terminal, phone) = shop(&s, 1_000).await;
    let (instruction, idem) = phone.instruction(&terminal, "replay-1", 300);
    let body = serde_json::json!({ "instruction": instruction.to_base64() }).to_string();
    let sig = sign_request(
        &phone.key,
        &phone.device_id,
        "POST",
        "/v1/payments",
        body.as_bytes(),
        now_ms(),
    )
    .unwrap();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let mut req = s
            .http
            .post(s.url("/v1/payments"))
            .header("content-type", "application/json")
            .header("idempotency-key", &idem)
            .body(body.clone());
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        answers.push(read(req.send().await.unwrap()).await);
    }
    assert_eq!(answers[0].0, StatusCode::CREATED, "{}", answers[0].1);
    assert_eq!(answers[1].0, StatusCode::OK, "{}", answers[1].1);
    assert_eq!(answers[0].1["payment_id"], answers[1].1["payment_id"]);
    assert_eq!(s.balance(&phone.account_id).await, 700);
    assert_eq!(s.balance(&merchant.account_id).await, 300);

    // The instruction's signature is what authenticates it: a tampered
    // instruction is refused whatever the request signature says.
    let mut bytes = instruction.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged = PaymentInstruction::from_bytes(bytes);
    let tampered = serde_json::json!({ "instruction": forged.to_base64() }).to_string();
    let mut req = s
        .http
        .post(s.url("/v1/payments"))
        .header("content-type", "application/json")
        .header("idempotency-key", &idem)
        .body(tampered);
    for (name, value) in sig.headers() {
        req = req.header(name, value);
    }
    let (status, answer) = read(req.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_signature");
}
