//! Bad input to every endpoint is a 4xx JSON error, never a 500 or a
//! plain-text rejection.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{read, shop, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::keys::SigningKey;

enum Who {
    Nobody,
    Admin,
    Device,
    Terminal,
    Register(SigningKey),
}

struct Case {
    who: Who,
    method: Method,
    path: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    status: u16,
    code: &'static str,
}

fn case(
    who: Who,
    method: Method,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        who,
        method,
        path: path.into(),
        body: body.into(),
        headers: vec![],
        status,
        code,
    }
}

fn j(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// `who, METHOD path, body => status code;` rows.
macro_rules! cases {
    ($($who:expr, $method:ident $path:expr, $body:expr => $status:literal $code:ident;)*) => {
        vec![$(case($who, Method::$method, &$path, $body, $status, stringify!($code)),)*]
    };
}

#[tokio::test]
async fn every_endpoint_answers_bad_input_with_a_json_4xx() {
    use Who::*;
    let s = TestServer::start().await;
    let (merchant, terminal, phone) = shop(&s, 1_000).await;
    let acc = phone.account_id.clone();
    let mer = merchant.merchant_id.clone();
    let key = || SigningKey::generate().unwrap();
    let pk = |k: &SigningKey| k.public_key().to_base64();
    let huge = vec![b' '; 100 * 1024];
    let (ins, _idem) = phone.instruction(&terminal, "ord-x", 10);
    let ins = ins.to_base64();
    let (k1, k3, k4, k5) = (key(), key(), key(), key());
    let reg = |k: &SigningKey, extra: Value| {
        let mut body = json!({"display_name": "Ada", "device_key": pk(k)});
        for (name, value) in extra.as_object().unwrap() {
            body[name] = value.clone();
        }
        j(body)
    };
    let top = |amount: Value, currency: &str| {
        j(json!({"account_id": acc, "amount_minor": amount, "currency": currency}))
    };
    let term = |extra: Value| {
        let mut body = json!({"merchant_id": mer, "kind": "pos", "terminal_key": pk(&k1)});
        for (name, value) in extra.as_object().unwrap() {
            body[name] = value.clone();
        }
        j(body)
    };
    let report = |extra: Value| {
        let mut body =
            json!({"report_id": "r1", "kind": "gate", "order_id": "o", "at_ms": 1, "detail": ""});
        for (name, value) in extra.as_object().unwrap() {
            body[name] = value.clone();
        }
        j(body)
    };
    let huge_top = format!(
        r#"{{"account_id":"{acc}","amount_minor":99999999999999999999999999,"currency":"CNY"}}"#
    );
    #[rustfmt::skip]
    let mut cases = cases![
        // Routing.
        Nobody, GET "/v1/nope", "" => 404 not_found;
        Nobody, DELETE "/v1/health", "" => 405 method_not_allowed;
        Nobody, POST "/v1/keys", "{}" => 405 method_not_allowed;
        // Merchants.
        Admin, POST "/v1/merchants", "{" => 400 malformed_json;
        Admin, POST "/v1/merchants", "" => 400 malformed_json;
        Admin, POST "/v1/merchants", "not json" => 400 malformed_json;
        Admin, POST "/v1/merchants", j(json!({"name": "x"})) => 422 invalid_field;
        Admin, POST "/v1/merchants", j(json!({"name": "x", "currency": "EUR", "extra": 1})) => 422 invalid_field;
        Admin, POST "/v1/merchants", j(json!({"name": "", "currency": "EUR"})) => 422 invalid_field;
        Admin, POST "/v1/merchants", j(json!({"name": 5, "currency": "EUR"})) => 422 invalid_field;
        Admin, POST "/v1/merchants", j(json!({"name": "x", "currency": "XYZ"})) => 422 unsupported_currency;
        Admin, POST "/v1/merchants", j(json!([1, 2])) => 422 invalid_field;
        Admin, POST "/v1/merchants", huge.clone() => 413 payload_too_large;
        Nobody, POST "/v1/merchants", j(json!({"name": "x", "currency": "EUR"})) => 401 unauthorized;
        // Sandbox top-ups.
        Admin, POST "/v1/sandbox/top-ups", top(json!(0), "CNY") => 422 invalid_amount;
        Admin, POST "/v1/sandbox/top-ups", top(json!(-5), "CNY") => 422 invalid_amount;
        Admin, POST "/v1/sandbox/top-ups", top(json!(1.5), "CNY") => 422 invalid_amount;
        Admin, POST "/v1/sandbox/top-ups", huge_top.clone() => 422 invalid_amount;
        Admin, POST "/v1/sandbox/top-ups", top(json!(i64::MAX), "CNY") => 422 invalid_amount;
        Admin, POST "/v1/sandbox/top-ups", top(json!("100"), "CNY") => 422 invalid_field;
        Admin, POST "/v1/sandbox/top-ups", top(json!(100), "cny") => 422 unsupported_currency;
        Admin, POST "/v1/sandbox/top-ups", j(json!({"account_id": "acc_nope", "amount_minor": 1, "currency": "CNY"})) => 404 not_found;
        Admin, POST "/v1/sandbox/top-ups", j(json!({"account_id": acc, "amount_minor": 1, "currency": "CNY", "note": "x"})) => 422 invalid_field;
        Admin, POST "/v1/sandbox/top-ups", j(json!({"account_id": "acc_sandbox_funding_cny", "amount_minor": 1, "currency": "CNY"})) => 422 invalid_field;
        Nobody, POST "/v1/sandbox/top-ups", top(json!(100), "CNY") => 401 unauthorized;
        // Accounts, ledger, reports (admin).
        Admin, GET "/v1/accounts/acc_nope", "" => 404 not_found;
        Nobody, GET format!("/v1/accounts/{acc}"), "" => 401 unauthorized;
        Nobody, GET "/v1/ledger/check", "" => 401 unauthorized;
        Admin, GET "/v1/terminals/term_nope/reports", "" => 404 unknown_terminal;
        Nobody, GET format!("/v1/terminals/{}/reports", terminal.terminal_id), "" => 401 unauthorized;
        // Terminal registration.
        Admin, POST "/v1/terminals", term(json!({"kind": "kiosk"})) => 422 invalid_field;
        Admin, POST "/v1/terminals", term(json!({"terminal_key": "short"})) => 422 invalid_field;
        Admin, POST "/v1/terminals", term(json!({"merchant_id": "mer_nope"})) => 404 unknown_merchant;
        Admin, POST "/v1/terminals", term(json!({"valid_for_days": 0})) => 422 invalid_field;
        Admin, POST "/v1/terminals", term(json!({"location": {"planet": "x"}})) => 422 invalid_field;
        Admin, POST "/v1/terminals", term(json!({"label": ""})) => 422 invalid_field;
        Nobody, POST "/v1/terminals", term(json!({})) => 401 unauthorized;
        // Device registration.
        Register(key()), POST "/v1/devices", "{" => 400 malformed_json;
        Register(k3.clone_key()), POST "/v1/devices", reg(&k3, json!({"phone_number": "12ab"})) => 422 invalid_field;
        Register(k4.clone_key()), POST "/v1/devices", reg(&k4, json!({"currency": "XYZ"})) => 422 unsupported_currency;
        Register(k5.clone_key()), POST "/v1/devices", reg(&k5, json!({"display_name": ""})) => 422 invalid_field;
        Register(k5.clone_key()), POST "/v1/devices", j(json!({"display_name": "x", "device_key": "!!"})) => 422 invalid_field;
        Device, POST "/v1/devices", reg(&k5, json!({})) => 401 unauthorized;
        Nobody, POST "/v1/devices", reg(&k5, json!({})) => 401 unauthorized;
        // Wallet.
        Device, GET "/v1/wallet/history?limit=0", "" => 422 invalid_field;
        Device, GET "/v1/wallet/history?limit=abc", "" => 422 invalid_field;
        Device, GET "/v1/wallet/history?colour=red", "" => 422 invalid_field;
        Nobody, GET "/v1/wallet", "" => 401 unauthorized;
        Nobody, GET "/v1/wallet/history", "" => 401 unauthorized;
        // Payments.
        Device, POST "/v1/payments", "{" => 400 malformed_json;
        Device, POST "/v1/payments", j(json!({"instruction": "%%%"})) => 422 invalid_field;
        Device, POST "/v1/payments", j(json!({"instruction": "AAAA"})) => 422 invalid_field;
        Device, POST "/v1/payments", j(json!({"instruction": ins, "x": 1})) => 422 invalid_field;
        Device, POST "/v1/payments", j(json!({"instruction": ins})) => 422 invalid_field;
        Device, POST "/v1/payments", huge.clone() => 413 payload_too_large;
        Nobody, POST "/v1/payments", j(json!({"instruction": ins})) => 401 unauthorized;
        Device, GET "/v1/payments/idem_nope", "" => 404 not_found;
        Nobody, GET "/v1/payments/idem_nope", "" => 401 unauthorized;
        // Platform confirmation, events, reports (terminal).
        Terminal, POST "/v1/platform/confirmations", "[" => 400 malformed_json;
        Terminal, POST "/v1/platform/confirmations", j(json!({"payment_id": "pay_nope", "order_id": "o"})) => 404 not_found;
        Terminal, POST "/v1/platform/confirmations", j(json!({"payment_id": "pay_nope"})) => 422 invalid_field;
        Nobody, POST "/v1/platform/confirmations", j(json!({"payment_id": "p", "order_id": "o"})) => 401 unauthorized;
        Terminal, POST "/v1/terminals/me/reports", report(json!({"amount_minor": -1})) => 422 invalid_amount;
        Terminal, POST "/v1/terminals/me/reports", report(json!({"currency": "ABC"})) => 422 unsupported_currency;
        Terminal, POST "/v1/terminals/me/reports", report(json!({"report_id": ""})) => 422 invalid_field;
        Terminal, POST "/v1/terminals/me/reports", j(json!({"report_id": "r1", "kind": "gate"})) => 422 invalid_field;
        Nobody, POST "/v1/terminals/me/reports", "{}" => 401 unauthorized;
        Nobody, GET "/v1/terminals/me/events", "" => 401 unauthorized;
    ];
    let mut events = case(
        Who::Terminal,
        Method::GET,
        "/v1/terminals/me/events",
        "",
        422,
        "invalid_field",
    );
    events.headers.push(("last-event-id", "abc".into()));
    cases.push(events);
    let mut wrong_key = case(
        Who::Device,
        Method::POST,
        "/v1/payments",
        j(json!({"instruction": ins})),
        422,
        "invalid_field",
    );
    wrong_key
        .headers
        .push(("idempotency-key", "idem_other".into()));
    cases.push(wrong_key);
    let mut no_merchant = case(
        Who::Admin,
        Method::POST,
        "/v1/merchants",
        "{}",
        422,
        "invalid_field",
    );
    no_merchant
        .headers
        .push(("content-type", "text/plain".into()));
    cases.push(no_merchant);

    for (i, c) in cases.into_iter().enumerate() {
        let label = format!("case {i}: {} {} -> {}", c.method, c.path, c.status);
        let (status, body) = match &c.who {
            Who::Device | Who::Terminal => {
                let (key, key_id) = match &c.who {
                    Who::Device => (&phone.key, &phone.device_id),
                    _ => (&terminal.key, &terminal.terminal_id),
                };
                let extra: Vec<(&str, &str)> =
                    c.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                s.api()
                    .send(key, key_id, c.method.clone(), &c.path, &c.body, &extra)
                    .await
            }
            Who::Register(k) => {
                s.api()
                    .send(k, "register", c.method.clone(), &c.path, &c.body, &[])
                    .await
            }
            Who::Admin | Who::Nobody => {
                let mut req = s
                    .http
                    .request(c.method.clone(), s.url(&c.path))
                    .body(c.body.clone());
                if matches!(c.who, Who::Admin) {
                    req = req.bearer_auth(&s.admin);
                }
                for (n, v) in &c.headers {
                    req = req.header(*n, v.as_str());
                }
                read(req.send().await.unwrap()).await
            }
        };
        assert_eq!(status.as_u16(), c.status, "{label}: {body}");
        assert_eq!(body["error"]["code"], c.code, "{label}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{label}"
        );
    }
    // Nothing above moved money.
    assert_eq!(s.balance(&phone.account_id).await, 1_000);
    assert_eq!(s.ledger_check().await["sum_minor"], 0);
    let (status, _) = s.admin(Method::GET, "/v1/health", None).await;
    assert_eq!(status, StatusCode::OK);
    s.server.shutdown().await;
}

/// What the API fuzzer (scripts/test-api-fuzz.sh, schemathesis) found where
/// the server disagreed with its OpenAPI document, answered as documented.
#[tokio::test]
async fn api_fuzz_findings_are_answered_as_documented() {
    let s = TestServer::start().await;
    let (merchant, terminal, phone) = shop(&s, 1_000).await;
    let mer = merchant.merchant_id.clone();
    let device = |method: Method, path: &str, body: Value| {
        let body = body.to_string().into_bytes();
        let (key, id, path) = (&phone.key, phone.device_id.clone(), path.to_string());
        let s = &s;
        async move { s.api().send(key, &id, method, &path, &body, &[]).await }
    };

    // A UTC offset of i64::MIN panicked in `abs()` (the connection dropped);
    // now it is refused like any offset beyond ±840.
    let (day, _) = common::days::unused_past_day();
    for offset in [i64::MIN, i64::MAX, 841] {
        let (status, body) = s
            .admin(
                Method::POST,
                "/v1/billing/exports",
                Some(json!({"date": day, "utc_offset_minutes": offset})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{offset}: {body}");
        let (status, body) = s
            .admin(
                Method::POST,
                "/v1/settlements/reconciliations",
                Some(json!({"date": day, "utc_offset_minutes": offset, "entries": []})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{offset}: {body}");
    }
    // A date whose month or day is written with a sign is not YYYY-MM-DD.
    let (status, body) = s
        .admin(Method::GET, "/v1/settlements?date=2020-+1-01", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // JSON's 5.0 is the integer 5 (JSON Schema's `integer` admits it).
    let (status, body) = s
        .admin(
            Method::PUT,
            &format!("/v1/admin/merchants/{mer}/points-rate"),
            Some(json!({"minor_per_point": 5.0, "max_share_bps": 5e3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["minor_per_point"], 5);
    assert_eq!(body["max_share_bps"], 5000);
    let (status, body) = s
        .admin(
            Method::POST,
            "/v1/sandbox/top-ups",
            Some(json!({"account_id": phone.account_id, "amount_minor": 250.0, "currency": "CNY"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["balance_minor"], 1_250);
    let (status, body) = s
        .admin(
            Method::PUT,
            &format!("/v1/admin/merchants/{mer}/points-rate"),
            Some(json!({"minor_per_point": 5.5})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A nickname is checked even when the rider is shown by phone tail.
    let long = "n".repeat(41);
    let (status, body) = device(
        Method::POST,
        "/v1/guardians/invitations",
        json!({"scope": "all_payments", "shown_as": "phone_tail", "nickname": long}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("nickname")),
        "{body}"
    );

    // A per-tap cap above the total is lowered to it, like every cap.
    let tap_key = SigningKey::generate().unwrap().public_key().to_base64();
    let (status, body) = device(
        Method::POST,
        "/v1/express/allowances",
        json!({"tap_key": tap_key, "per_tap_max_minor": 900, "total_max_minor": 300}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["per_tap_max_minor"], 300);
    assert_eq!(body["total_max_minor"], 300);

    // A malformed token_id is refused even without a payment_id.
    let confirm = json!({"order_id": "ord-1", "token_id": "has space"}).to_string();
    let (status, body) = s
        .terminal_post(&terminal, "/v1/platform/confirmations", &confirm)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A statement of the documented 5000 lines fits the body limit (it was
    // refused with 413 at 64 KiB).
    let entries: Vec<Value> = (0..5_000)
        .map(|i| json!({"payment_id": format!("pay_statement_line_{i:06}"), "amount_minor": 100, "currency": "CNY"}))
        .collect();
    let (status, body) = s
        .admin(
            Method::POST,
            "/v1/settlements/reconciliations",
            Some(json!({"date": day, "entries": entries})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unknown"].as_array().map(Vec::len), Some(5_000));
    s.server.shutdown().await;
}

trait CloneKey {
    fn clone_key(&self) -> SigningKey;
}

impl CloneKey for SigningKey {
    fn clone_key(&self) -> SigningKey {
        SigningKey::from_seed(self.seed()).unwrap()
    }
}
