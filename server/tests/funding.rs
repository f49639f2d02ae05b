//! Over-the-air top-up (issue 12.2): a rider starts a top-up through a
//! checkout provider, the provider confirms with a signed callback, and
//! only then does money move; forged, replayed, stale, mismatched,
//! truncated and oversized callbacks are refused and move nothing. The
//! sandbox provider confirms at creation. On SQLite, and on PostgreSQL
//! when WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{database_urls, now_ms, Phone, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_server::{sign_callback, FundingConfig, ServerOptions, FUNDING_SIGNATURE_HEADER};

const SECRET: &str = "card-provider-secret-0123456789";

fn options() -> ServerOptions {
    ServerOptions {
        funding: FundingConfig::default()
            .with_sandbox(&["CNY"])
            .with_checkout(
            "card",
            SECRET,
            "https://pay.example/checkout/{reference}?amount={amount_minor}&currency={currency}",
            &["CNY", "EUR"],
        ),
        ..ServerOptions::default()
    }
}

async fn start(url: Option<String>) -> TestServer {
    TestServer::start_with_options(url, options()).await
}

fn unique_key() -> String {
    format!("key-{}", wayfare_protocol::ids::new_id("t").unwrap())
}

/// `POST /v1/top-ups` signed by `phone`.
async fn start_top_up(
    s: &TestServer,
    phone: &Phone,
    provider: &str,
    amount: u64,
    currency: &str,
    key: &str,
) -> (StatusCode, Value) {
    let body = json!({"provider": provider, "amount_minor": amount, "currency": currency,
        "idempotency_key": key})
    .to_string();
    s.api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::POST,
            "/v1/top-ups",
            body.as_bytes(),
            &[],
        )
        .await
}

async fn get_top_up(s: &TestServer, phone: &Phone, reference: &str) -> (StatusCode, Value) {
    s.api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::GET,
            &format!("/v1/top-ups/{reference}"),
            b"",
            &[],
        )
        .await
}

fn callback_body(provider_ref: &str, reference: &str, amount: u64, currency: &str) -> Vec<u8> {
    json!({"provider_reference": provider_ref, "reference": reference, "amount_minor": amount,
        "currency": currency, "status": "succeeded"})
    .to_string()
    .into_bytes()
}

fn now_s() -> i64 {
    (now_ms() / 1000) as i64
}

/// Posts `body` to the provider's callback URL with `signature` (if any).
async fn post_callback(
    s: &TestServer,
    provider: &str,
    body: &[u8],
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = s
        .http
        .post(s.url(&format!("/v1/funding/{provider}/callbacks")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        req = req.header(FUNDING_SIGNATURE_HEADER, signature);
    }
    common::read(req.send().await.unwrap()).await
}

/// Posts `body` correctly signed with the card provider's secret, now.
async fn signed_callback(s: &TestServer, body: &[u8]) -> (StatusCode, Value) {
    let signature = sign_callback(SECRET.as_bytes(), now_s(), body);
    post_callback(s, "card", body, Some(&signature)).await
}

async fn history(s: &TestServer, phone: &Phone) -> Vec<Value> {
    let (status, body) = s
        .device(phone, Method::GET, "/v1/wallet/history?limit=10", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn assert_ledger_balanced(s: &TestServer) {
    let check = s.ledger_check().await;
    assert_eq!(check["sum_minor"], 0, "{check}");
    assert_eq!(check["balance_mismatches"], 0, "{check}");
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_signed_callback_confirms_a_checkout_top_up_exactly_once() {
    for url in database_urls() {
        let s = start(url).await;
        let phone = s.phone("CNY").await;
        let key = unique_key();
        let (status, started) = start_top_up(&s, &phone, "card", 5_000, "CNY", &key).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        assert_eq!(started["status"], "pending");
        let reference = started["reference"].as_str().unwrap().to_string();
        assert!(reference.starts_with("fi_"));
        assert_eq!(
            started["checkout_url"],
            format!("https://pay.example/checkout/{reference}?amount=5000&currency=CNY")
        );
        // Pending moves nothing.
        assert_eq!(s.balance(&phone.account_id).await, 0);
        let (status, shown) = get_top_up(&s, &phone, &reference).await;
        assert_eq!(
            (status, shown["status"].as_str()),
            (StatusCode::OK, Some("pending"))
        );
        // The same start again is the same top-up.
        let (status, again) = start_top_up(&s, &phone, "card", 5_000, "CNY", &key).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["reference"], reference.as_str());

        let provider_ref = format!("ch_{}", &reference[3..]);
        let body = callback_body(&provider_ref, &reference, 5_000, "CNY");
        let signature = sign_callback(SECRET.as_bytes(), now_s(), &body);
        let (status, confirmed) = post_callback(&s, "card", &body, Some(&signature)).await;
        assert_eq!(status, StatusCode::OK, "{confirmed}");
        assert_eq!(confirmed["status"], "confirmed");
        assert!(confirmed["top_up_id"].as_str().unwrap().starts_with("top_"));
        assert_eq!(s.balance(&phone.account_id).await, 5_000);
        assert_ledger_balanced(&s).await;
        let entries = history(&s, &phone).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["kind"], "top_up");
        assert_eq!(entries[0]["amount_minor"], 5_000);
        assert_eq!(entries[0]["description"], "Top-up via card");

        // The very same delivery replayed, and the same callback signed
        // afresh: 200 with the same result, no second top-up.
        let (status, replay) = post_callback(&s, "card", &body, Some(&signature)).await;
        assert_eq!((status, &replay), (StatusCode::OK, &confirmed));
        let (status, resigned) = signed_callback(&s, &body).await;
        assert_eq!((status, &resigned), (StatusCode::OK, &confirmed));
        assert_eq!(s.balance(&phone.account_id).await, 5_000);
        assert_eq!(history(&s, &phone).await.len(), 1);
        let (_, shown) = get_top_up(&s, &phone, &reference).await;
        assert_eq!(shown["status"], "confirmed");
        assert_eq!(shown["top_up_id"], confirmed["top_up_id"]);

        // A confirmed top-up cannot be failed or confirmed again under
        // another provider reference.
        let mut failed: Value = serde_json::from_slice(&body).unwrap();
        failed["status"] = json!("failed");
        let (status, refused) = signed_callback(&s, failed.to_string().as_bytes()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(code(&refused), "callback_mismatch");
        let other = callback_body("ch_other", &reference, 5_000, "CNY");
        let (status, refused) = signed_callback(&s, &other).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "callback_mismatch")
        );
        assert_eq!(s.balance(&phone.account_id).await, 5_000);

        // Another wallet cannot read this top-up.
        let stranger = s.phone_numbered("CNY", "+8613800138001").await;
        let (status, _) = get_top_up(&s, &stranger, &reference).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The operator sees it among the confirmed ones.
        let (status, list) = s
            .admin(
                Method::GET,
                "/v1/admin/top-ups?status=confirmed&limit=500",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(list["top_ups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["reference"] == reference.as_str()));
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn forged_stale_mismatched_truncated_and_oversized_callbacks_move_nothing() {
    for url in database_urls() {
        let s = start(url).await;
        let phone = s.phone("CNY").await;
        let (status, started) = start_top_up(&s, &phone, "card", 2_500, "CNY", &unique_key()).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        let reference = started["reference"].as_str().unwrap().to_string();
        let provider_ref = format!("ch_{}", &reference[3..]);
        let body = callback_body(&provider_ref, &reference, 2_500, "CNY");

        // No signature; another secret; a body other than the one signed;
        // a truncated body.
        let (status, refused) = post_callback(&s, "card", &body, None).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "bad_signature")
        );
        let forged = sign_callback(b"not-the-provider-secret-000", now_s(), &body);
        let (status, refused) = post_callback(&s, "card", &body, Some(&forged)).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "bad_signature")
        );
        let genuine = sign_callback(SECRET.as_bytes(), now_s(), &body);
        let tampered = callback_body(&provider_ref, &reference, 250_000, "CNY");
        let (status, refused) = post_callback(&s, "card", &tampered, Some(&genuine)).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "bad_signature")
        );
        let truncated = &body[..body.len() - 5];
        let (status, refused) = post_callback(&s, "card", truncated, Some(&genuine)).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "bad_signature")
        );
        let (status, refused) = post_callback(&s, "card", &body, Some("t=1,v1=zz")).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "bad_signature")
        );

        // A genuine signature made 10 minutes ago (or ahead) is stale.
        for skew in [-600, 600] {
            let stale = sign_callback(SECRET.as_bytes(), now_s() + skew, &body);
            let (status, refused) = post_callback(&s, "card", &body, Some(&stale)).await;
            assert_eq!(
                (status, code(&refused)),
                (StatusCode::UNAUTHORIZED, "stale_request")
            );
            assert!(message(&refused).contains("300 s"), "{refused}");
        }

        // Genuine but disagreeing with the top-up: the field is named.
        let wrong_amount = callback_body(&provider_ref, &reference, 2_501, "CNY");
        let (status, refused) = signed_callback(&s, &wrong_amount).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "callback_mismatch")
        );
        assert!(message(&refused).starts_with("amount_minor"), "{refused}");
        let wrong_currency = callback_body(&provider_ref, &reference, 2_500, "EUR");
        let (status, refused) = signed_callback(&s, &wrong_currency).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "callback_mismatch")
        );
        assert!(message(&refused).starts_with("currency"), "{refused}");
        let unknown = callback_body(&provider_ref, "fi_000000000000000000000000", 2_500, "CNY");
        let (status, refused) = signed_callback(&s, &unknown).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::NOT_FOUND, "not_found")
        );
        assert!(message(&refused).starts_with("reference"), "{refused}");

        // Not a callback at all, though signed; too large; unknown provider;
        // the sandbox takes no callbacks.
        let (status, refused) = signed_callback(&s, b"{\"reference\":").await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
        let extra = json!({"provider_reference": provider_ref, "reference": reference,
            "amount_minor": 2_500, "currency": "CNY", "status": "succeeded", "bonus": 1})
        .to_string();
        let (status, refused) = signed_callback(&s, extra.as_bytes()).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
        );
        let huge = vec![b' '; 20 * 1024];
        let (status, refused) = signed_callback(&s, &huge).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
        let (status, _) = post_callback(&s, "nobody", &body, Some(&genuine)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = post_callback(&s, "sandbox", &body, Some(&genuine)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Nothing moved: no entry, no balance, the top-up still pending.
        // (The ledger's entry count is not compared: the PostgreSQL
        // database is shared by the tests running in parallel.)
        assert_eq!(s.balance(&phone.account_id).await, 0);
        assert!(history(&s, &phone).await.is_empty());
        let (_, shown) = get_top_up(&s, &phone, &reference).await;
        assert_eq!(shown["status"], "pending");

        // The provider fails it: the failure is recorded once, and a late
        // success for it is refused.
        let failed = json!({"provider_reference": provider_ref, "reference": reference,
            "amount_minor": 2_500, "currency": "CNY", "status": "failed", "reason": "card declined"})
        .to_string();
        let (status, answer) = signed_callback(&s, failed.as_bytes()).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (StatusCode::OK, Some("failed"))
        );
        let (status, again) = signed_callback(&s, failed.as_bytes()).await;
        assert_eq!((status, &again), (StatusCode::OK, &answer));
        let (status, refused) = signed_callback(&s, &body).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "callback_mismatch")
        );
        let (_, shown) = get_top_up(&s, &phone, &reference).await;
        assert_eq!(shown["status"], "failed");
        assert_eq!(shown["failure_reason"], "card declined");
        assert_eq!(s.balance(&phone.account_id).await, 0);
        assert_ledger_balanced(&s).await;
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_provider_reference_settles_one_top_up_only() {
    for url in database_urls() {
        let s = start(url).await;
        let phone = s.phone("CNY").await;
        let mut references = Vec::new();
        for _ in 0..2 {
            let (_, started) = start_top_up(&s, &phone, "card", 700, "CNY", &unique_key()).await;
            references.push(started["reference"].as_str().unwrap().to_string());
        }
        let provider_ref = format!("ch_{}", &references[0][3..]);
        let (status, _) = signed_callback(
            &s,
            &callback_body(&provider_ref, &references[0], 700, "CNY"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, refused) = signed_callback(
            &s,
            &callback_body(&provider_ref, &references[1], 700, "CNY"),
        )
        .await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "callback_mismatch")
        );
        assert!(
            message(&refused).starts_with("provider_reference"),
            "{refused}"
        );
        assert_eq!(s.balance(&phone.account_id).await, 700);
        let (_, second) = get_top_up(&s, &phone, &references[1]).await;
        assert_eq!(second["status"], "pending");
        assert_ledger_balanced(&s).await;
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn the_sandbox_provider_confirms_at_creation_and_starts_are_checked() {
    for url in database_urls() {
        let s = start(url).await;
        let phone = s.phone("CNY").await;
        let key = unique_key();
        let (status, started) = start_top_up(&s, &phone, "sandbox", 1_200, "CNY", &key).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        assert_eq!(started["status"], "confirmed");
        assert!(started.get("checkout_url").is_none());
        assert_eq!(s.balance(&phone.account_id).await, 1_200);
        let entries = history(&s, &phone).await;
        assert_eq!(entries[0]["kind"], "top_up");
        assert_eq!(entries[0]["description"], "Top-up via Sandbox");
        // Replayed: the same top-up; other terms under the key: 409.
        let (status, again) = start_top_up(&s, &phone, "sandbox", 1_200, "CNY", &key).await;
        assert_eq!(
            (status, &again["reference"]),
            (StatusCode::OK, &started["reference"])
        );
        let (status, refused) = start_top_up(&s, &phone, "sandbox", 1_300, "CNY", &key).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "idempotency_conflict")
        );
        assert_eq!(s.balance(&phone.account_id).await, 1_200);
        // The admin's sandbox endpoint still works beside it.
        s.top_up(&phone.account_id, 300, "CNY").await;
        assert_eq!(s.balance(&phone.account_id).await, 1_500);

        // Bad starts: unknown provider, a currency it does not take, the
        // wallet's other currency, a bad amount.
        let (status, refused) = start_top_up(&s, &phone, "paypal", 100, "CNY", &unique_key()).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let (status, refused) =
            start_top_up(&s, &phone, "sandbox", 100, "EUR", &unique_key()).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_currency")
        );
        let (status, refused) = start_top_up(&s, &phone, "card", 100, "EUR", &unique_key()).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch")
        );
        let (status, refused) = start_top_up(&s, &phone, "card", 0, "CNY", &unique_key()).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount")
        );
        // The providers the app may offer.
        let (status, list) = s
            .device(&phone, Method::GET, "/v1/top-ups/providers", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let ids: Vec<&str> = list["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["card", "sandbox"]);
        assert_ledger_balanced(&s).await;
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn without_configured_providers_there_is_no_top_up() {
    let s = TestServer::start().await;
    let phone = s.phone("CNY").await;
    let (status, refused) = start_top_up(&s, &phone, "sandbox", 100, "CNY", &unique_key()).await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    s.server.shutdown().await;
}
