//! The express tap's server side (issue 9.2): allowances for a device's
//! tap key, the signed deny list, and deferred settlement — each tap
//! charged exactly once, forged and foreign taps refused, a tap the balance
//! cannot cover leaving a debt that blocks express until a top-up pays it,
//! a lost phone's taps after the report not charged to the rider. Runs on
//! SQLite and, when WAYFARE_TEST_DATABASE_URL is set, PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{database_urls, now_ms, shop, Phone, Terminal, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::express::{
    Allowance, AllowanceBody, DenyList, ExpressTap, ExpressTapBody, CHALLENGE_LEN,
};
use wayfare_protocol::keys::{PublicKey, SigningKey};

async fn allowance(
    server: &TestServer,
    phone: &Phone,
    tap_key: &SigningKey,
    per_tap: u64,
    total: u64,
) -> (StatusCode, Value) {
    let body = json!({"tap_key": tap_key.public_key().to_base64(),
        "per_tap_max_minor": per_tap, "total_max_minor": total});
    server
        .device(phone, Method::POST, "/v1/express/allowances", Some(body))
        .await
}

/// The id and the signed allowance (base64) of an issued allowance.
fn allowance_parts(issued: &Value) -> (String, String) {
    let part = |name: &str| issued[name].as_str().unwrap().to_string();
    (part("allowance_id"), part("allowance"))
}

/// The server's receipt key, which signs allowances and the deny list.
async fn receipt_key(server: &TestServer) -> PublicKey {
    let (_, keys) = server.admin(Method::GET, "/v1/keys", None).await;
    PublicKey::from_base64(keys["receipt_key"].as_str().unwrap()).unwrap()
}

fn tap(
    tap_key: &SigningKey,
    allowance_id: &str,
    terminal: &Terminal,
    counter: u32,
    amount: u64,
    spent: u64,
) -> String {
    ExpressTap::sign(
        tap_key,
        &ExpressTapBody {
            allowance_id: allowance_id.into(),
            counter,
            terminal_id: terminal.terminal_id.clone(),
            amount_minor: amount,
            challenge: vec![counter as u8; CHALLENGE_LEN],
            spent_before_minor: spent,
        },
    )
    .unwrap()
    .to_base64()
}

async fn upload(server: &TestServer, terminal: &Terminal, taps: Value) -> Vec<Value> {
    let body = json!({ "taps": taps }).to_string();
    let (status, answer) = server
        .terminal_post(terminal, "/v1/platform/express/taps", &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"].as_array().unwrap().clone()
}

async fn deny_list(server: &TestServer, terminal: &Terminal) -> Vec<String> {
    let (status, answer) = server
        .api()
        .send(
            &terminal.key,
            &terminal.terminal_id,
            Method::GET,
            "/v1/platform/express/deny-list",
            b"",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let key = receipt_key(server).await;
    let list = DenyList::from_base64(answer["deny_list"].as_str().unwrap()).unwrap();
    list.verify(&key).unwrap().allowance_ids
}

fn entry(allowance: &str, tap: &str) -> Value {
    json!({"allowance": allowance, "tap": tap, "tapped_at_ms": now_ms()})
}

#[tokio::test]
async fn taps_settle_once_and_forgeries_are_refused() {
    for url in database_urls() {
        let server = TestServer::start_with(url).await;
        let (merchant, terminal, phone) = shop(&server, 2_000).await;
        let other_terminal = server.terminal(&merchant).await;
        let tap_key = SigningKey::generate().unwrap();
        let (status, issued) = allowance(&server, &phone, &tap_key, 9_999, 99_999).await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        // Caps lowered to the server's maxima and the balance.
        assert_eq!(issued["total_max_minor"], 2_000);
        assert_eq!(issued["per_tap_max_minor"], 2_000);
        let (id, signed) = allowance_parts(&issued);
        let key = receipt_key(&server).await;
        let body = Allowance::from_base64(&signed)
            .unwrap()
            .verify(&key, now_ms())
            .unwrap();
        assert_eq!(body.tap_key, tap_key.public_key());

        let first = tap(&tap_key, &id, &terminal, 1, 300, 0);
        let results = upload(&server, &terminal, json!([entry(&signed, &first)])).await;
        assert_eq!(results[0]["status"], "charged", "{results:?}");
        assert_eq!(results[0]["charged_minor"], 300);
        assert_eq!(server.balance(&phone.account_id).await, 1_700);
        // Uploaded again (a lost answer): the same result, charged once.
        let again = upload(
            &server,
            &terminal,
            json!([entry(&signed, &first), entry(&signed, &first)]),
        )
        .await;
        assert!(
            again.iter().all(|r| r["status"] == "already_settled"),
            "{again:?}"
        );
        assert_eq!(again[0]["payment_id"], results[0]["payment_id"]);
        assert_eq!(server.balance(&phone.account_id).await, 1_700);

        // Refused, never charged: made for another terminal; signed by
        // another key; a tampered allowance; the same counter reused by a
        // different tap; above the allowance's per-tap cap.
        let elsewhere = tap(&tap_key, &id, &other_terminal, 2, 300, 300);
        let stranger = tap(
            &SigningKey::generate().unwrap(),
            &id,
            &terminal,
            3,
            300,
            300,
        );
        let mut tampered = Allowance::from_base64(&signed).unwrap().as_bytes().to_vec();
        let i = tampered.len() - 10;
        tampered[i] ^= 1;
        let tampered = Allowance::from_bytes(tampered).to_base64();
        let reused = tap(&tap_key, &id, &terminal, 1, 200, 0);
        let too_big = tap(&tap_key, &id, &terminal, 4, 2_001, 300);
        let forged_allowance = {
            let impostor = SigningKey::generate().unwrap();
            let mut b: AllowanceBody = body.clone();
            b.total_max_minor = 1_000_000;
            b.per_tap_max_minor = 1_000_000;
            Allowance::issue(&impostor, &b).unwrap().to_base64()
        };
        let refused = upload(
            &server,
            &terminal,
            json!([
                entry(&signed, &elsewhere),
                entry(&signed, &stranger),
                entry(&tampered, &tap(&tap_key, &id, &terminal, 5, 100, 300)),
                entry(&signed, &reused),
                entry(&signed, &too_big),
                entry(
                    &forged_allowance,
                    &tap(&tap_key, &id, &terminal, 6, 100, 300)
                ),
            ]),
        )
        .await;
        for r in &refused {
            assert_eq!(r["status"], "refused", "{r}");
            assert!(r["reason"].as_str().unwrap().len() > 5);
        }
        assert_eq!(server.balance(&phone.account_id).await, 1_700);
        assert_eq!(server.ledger_check().await["sum_minor"], 0);
    }
}

#[tokio::test]
async fn a_tap_the_balance_cannot_cover_leaves_a_debt_that_blocks_express_until_paid() {
    for url in database_urls() {
        let server = TestServer::start_with(url).await;
        let (merchant, terminal, phone) = shop(&server, 1_000).await;
        let tap_key = SigningKey::generate().unwrap();
        let (_, issued) = allowance(&server, &phone, &tap_key, 800, 1_000).await;
        let (id, signed) = allowance_parts(&issued);
        // The rider spends online meanwhile; two offline taps of 600 then
        // arrive: the second can only be partly charged.
        let (instruction, idem) = phone.instruction(&terminal, "ord_online", 300);
        server.pay(&phone, &instruction, &idem).await;
        let results = upload(
            &server,
            &terminal,
            json!([
                entry(&signed, &tap(&tap_key, &id, &terminal, 1, 600, 0)),
                entry(&signed, &tap(&tap_key, &id, &terminal, 2, 300, 600)),
            ]),
        )
        .await;
        assert_eq!(results[0]["status"], "charged");
        assert_eq!(results[1]["status"], "partly_charged");
        assert_eq!(results[1]["charged_minor"], 100);
        assert_eq!(results[1]["debt_minor"], 200);
        assert_eq!(server.balance(&phone.account_id).await, 0);

        // The rider sees the debt; the operator too; the allowance is on
        // the deny list and no new one is issued.
        let (status, mine) = server
            .device(&phone, Method::GET, "/v1/express", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (mine["debt_minor"].clone(), mine["blocked"].clone()),
            (json!(200), json!(true))
        );
        assert_eq!(mine["taps"].as_array().unwrap().len(), 2);
        let (_, debts) = server
            .admin(Method::GET, "/v1/admin/express/debts", None)
            .await;
        let mine = debts["debts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["account_id"] == phone.account_id.as_str())
            .expect("the rider's debt is listed");
        assert_eq!(mine["debt_minor"], 200);
        assert!(deny_list(&server, &terminal).await.contains(&id));
        let (status, refused) =
            allowance(&server, &phone, &SigningKey::generate().unwrap(), 100, 100).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["error"]["code"], "express_blocked");

        // A top-up pays the debt to the merchant first; express resumes.
        let topped = server.top_up(&phone.account_id, 500, "CNY").await;
        assert_eq!(topped["balance_minor"], 300);
        assert_eq!(server.balance(&phone.account_id).await, 300);
        let (_, mine) = server
            .device(&phone, Method::GET, "/v1/express", None)
            .await;
        assert_eq!(mine["debt_minor"], 0);
        let (status, _) =
            allowance(&server, &phone, &SigningKey::generate().unwrap(), 100, 100).await;
        assert_eq!(status, StatusCode::CREATED);
        // The merchant got the whole 300 + 900.
        assert_eq!(server.balance(&merchant.account_id).await, 1_200);
        assert_eq!(server.ledger_check().await["sum_minor"], 0);
    }
}

#[tokio::test]
async fn a_lost_phone_is_denied_and_its_later_taps_are_not_charged() {
    for url in database_urls() {
        let server = TestServer::start_with(url).await;
        let (_merchant, terminal, phone) = shop(&server, 3_000).await;
        let tap_key = SigningKey::generate().unwrap();
        let (_, issued) = allowance(&server, &phone, &tap_key, 500, 2_000).await;
        let (id, signed) = allowance_parts(&issued);
        // The database may be shared with other tests: look for this
        // device's allowance only.
        assert!(!deny_list(&server, &terminal).await.contains(&id));
        let before = json!({"allowance": signed, "tap": tap(&tap_key, &id, &terminal, 1, 200, 0),
            "tapped_at_ms": now_ms() - 1_000});
        let (status, revoked) = server
            .admin(
                Method::POST,
                "/v1/admin/express/revocations",
                Some(json!({"device_id": phone.device_id})),
            )
            .await;
        assert_eq!(
            (status, revoked["revoked"].clone()),
            (StatusCode::OK, json!(1))
        );
        assert!(deny_list(&server, &terminal).await.contains(&id));
        let after = json!({"allowance": signed, "tap": tap(&tap_key, &id, &terminal, 2, 200, 200),
            "tapped_at_ms": now_ms() + 1_000});
        let results = upload(&server, &terminal, json!([before, after])).await;
        assert_eq!(results[0]["status"], "charged");
        assert_eq!(results[1]["status"], "refused");
        assert_eq!(server.balance(&phone.account_id).await, 2_800);
        // Switching express off is a revocation too.
        let (_, issued) = allowance(
            &server,
            &phone,
            &SigningKey::generate().unwrap(),
            500,
            2_000,
        )
        .await;
        let (status, off) = server
            .device(&phone, Method::DELETE, "/v1/express/allowances", None)
            .await;
        assert_eq!((status, off["revoked"].clone()), (StatusCode::OK, json!(1)));
        assert!(deny_list(&server, &terminal)
            .await
            .contains(&issued["allowance_id"].as_str().unwrap().to_string()));
    }
}

#[tokio::test]
async fn bad_allowance_requests_get_typed_errors() {
    let server = TestServer::start().await;
    let (_, _, phone) = shop(&server, 0).await;
    let key = SigningKey::generate().unwrap();
    let (status, e) = allowance(&server, &phone, &key, 100, 100).await;
    assert_eq!(
        (status, e["error"]["code"].clone()),
        (StatusCode::PAYMENT_REQUIRED, json!("insufficient_funds"))
    );
    server.top_up(&phone.account_id, 1_000, "CNY").await;
    // A per-tap cap above the total is lowered to it, like every cap
    // (it was refused; the OpenAPI document cannot compare two fields).
    let (status, e) = allowance(&server, &phone, &key, 200, 100).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(
        (e["per_tap_max_minor"].clone(), e["total_max_minor"].clone()),
        (json!(100), json!(100))
    );
    let (status, _) = allowance(&server, &phone, &key, 0, 100).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({"tap_key": "not a key", "per_tap_max_minor": 1, "total_max_minor": 1});
    let (status, _) = server
        .api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::POST,
            "/v1/express/allowances",
            body.to_string().as_bytes(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({"tap_key": key.public_key().to_base64(), "per_tap_max_minor": 1, "total_max_minor": 1, "extra": 1});
    let (status, _) = server
        .api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::POST,
            "/v1/express/allowances",
            body.to_string().as_bytes(),
            &[],
        )
        .await;
    assert!(status.is_client_error());
}
