//! Payments end to end: receipts, idempotency, funds, expiry, concurrency.
//! Every test runs on SQLite, and on PostgreSQL too when
//! WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{database_urls, now_ms, shop, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;
use wayfare_protocol::ids::payment_idempotency_key;
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::receipt::Receipt;

#[tokio::test]
async fn payment_completes_with_a_verifiable_receipt() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (merchant, terminal, phone) = shop(&s, 1_000).await;
        let (instruction, idem) = phone.instruction(&terminal, "ord-1", 250);
        let (status, body) = s.pay(&phone, &instruction, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "completed");
        assert_eq!(body["amount_minor"], 250);
        assert_eq!(body["balance_after_minor"], 750);
        assert_eq!(body["order_id"], "ord-1");

        let receipt = Receipt::from_base64(body["receipt"].as_str().unwrap()).unwrap();
        let r = receipt.verify(&s.server.receipt_key()).unwrap();
        assert_eq!(r.payment_id, body["payment_id"].as_str().unwrap());
        // The payer is named by the per-merchant pseudonym, never by the
        // global handle or the account id.
        assert!(
            wayfare_protocol::consent::is_pseudonym(&r.payer),
            "{}",
            r.payer
        );
        assert_ne!(r.payer, phone.handle);
        assert_ne!(r.payer, phone.account_id);
        assert_eq!(phone.handle.len(), "rider-".len() + 16, "64-bit handles");
        assert_eq!(r.amount_minor, 250);
        assert_eq!(r.terminal_id, terminal.terminal_id);
        assert!(receipt.verify(&s.server.operator_key()).is_err());

        assert_eq!(s.balance(&phone.account_id).await, 750);
        assert_eq!(s.balance(&merchant.account_id).await, 250);

        // Wallet, points and history.
        let (status, wallet) = s.device(&phone, Method::GET, "/v1/wallet", None).await;
        assert_eq!(status, StatusCode::OK, "{wallet}");
        assert_eq!(wallet["balance_minor"], 750);
        assert_eq!(wallet["points"], 2);
        assert_eq!(wallet["handle"], phone.handle.as_str());
        let (status, history) = s
            .device(&phone, Method::GET, "/v1/wallet/history?limit=10", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let entries = history["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["kind"], "payment");
        assert_eq!(entries[0]["amount_minor"], -250);
        assert_eq!(entries[0]["merchant_name"], "Corner Café");
        assert_eq!(entries[1]["kind"], "top_up");

        // The payer can look the payment up by its idempotency key.
        let (status, found) = s
            .device(&phone, Method::GET, &format!("/v1/payments/{idem}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["payment_id"], body["payment_id"]);

        let check = s.ledger_check().await;
        assert_eq!(check["sum_minor"], 0);
        assert_eq!(check["balance_mismatches"], 0);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn replay_returns_the_original_result_and_conflict_is_refused() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (_m, terminal, phone) = shop(&s, 1_000).await;
        let (instruction, idem) = phone.instruction(&terminal, "ord-1", 300);
        let (first_status, first) = s.pay(&phone, &instruction, &idem).await;
        assert_eq!(first_status, StatusCode::CREATED, "{first}");
        let (again_status, again) = s.pay(&phone, &instruction, &idem).await;
        assert_eq!(again_status, StatusCode::OK, "{again}");
        assert_eq!(first, again);
        assert_eq!(s.balance(&phone.account_id).await, 700, "debited once");

        // Same key, other terms (amount) -> conflict.
        let (other, _) = phone.instruction(&terminal, "ord-1", 999);
        let (status, body) = s.pay(&phone, &other, &idem).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "idempotency_conflict");
        assert_eq!(s.balance(&phone.account_id).await, 700);

        // Another wallet cannot pay the same order again.
        let other_phone = s.phone("CNY").await;
        s.top_up(&other_phone.account_id, 1_000, "CNY").await;
        let (ins, key) = other_phone.instruction(&terminal, "ord-1", 300);
        let (status, body) = s.pay(&other_phone, &ins, &key).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "order_already_paid");

        // The header must match the instruction.
        let (ins, _) = phone.instruction(&terminal, "ord-2", 10);
        let (status, body) = s.pay(&phone, &ins, "idem_wrong").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn insufficient_funds_is_402_and_changes_nothing() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (merchant, terminal, phone) = shop(&s, 100).await;
        let (instruction, idem) = phone.instruction(&terminal, "ord-1", 250);
        let (status, body) = s.pay(&phone, &instruction, &idem).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert_eq!(body["error"]["code"], "insufficient_funds");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("¥1.00") && message.contains("¥2.50"),
            "{message}"
        );
        assert_eq!(s.balance(&phone.account_id).await, 100);
        assert_eq!(s.balance(&merchant.account_id).await, 0);
        // After a top-up the same instruction goes through.
        s.top_up(&phone.account_id, 200, "CNY").await;
        let (status, body) = s.pay(&phone, &instruction, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(s.ledger_check().await["sum_minor"], 0);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn expired_instruction_is_410_but_a_completed_one_still_resolves() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (_m, terminal, phone) = shop(&s, 1_000).await;
        let (expired, idem) = phone.instruction_expiring(&terminal, "ord-1", 100, now_ms() - 1);
        let (status, body) = s.pay(&phone, &expired, &idem).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
        assert_eq!(body["error"]["code"], "request_expired");
        assert_eq!(s.balance(&phone.account_id).await, 1_000);

        // A payment that completed just before its deadline: a retry after
        // the deadline still gets the original result. (The window grows if
        // a loaded machine was too slow for it.)
        let mut window = 500;
        let (ins, idem, first, deadline) = loop {
            let deadline = now_ms() + window;
            let order = format!("ord-w{window}");
            let (ins, idem) = phone.instruction_expiring(&terminal, &order, 100, deadline);
            let (status, first) = s.pay(&phone, &ins, &idem).await;
            if status == StatusCode::CREATED {
                break (ins, idem, first, deadline);
            }
            assert_eq!(status, StatusCode::GONE, "{first}");
            window *= 2;
            assert!(window < 60_000, "could not complete a payment in time");
        };
        while now_ms() <= deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (status, again) = s.pay(&phone, &ins, &idem).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(first["payment_id"], again["payment_id"]);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn fifty_concurrent_payments_with_funds_for_ten() {
    for url in database_urls() {
        let s = std::sync::Arc::new(TestServer::start_with(url).await);
        let (merchant, terminal, phone) = shop(&s, 1_000).await;
        let phone = std::sync::Arc::new(phone);
        let terminal = std::sync::Arc::new(terminal);
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (s, phone, terminal) = (s.clone(), phone.clone(), terminal.clone());
            tasks.push(tokio::spawn(async move {
                let (ins, idem) = phone.instruction(&terminal, &format!("ord-{i}"), 100);
                s.pay(&phone, &ins, &idem).await
            }));
        }
        let mut ok = 0;
        let mut refused = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                StatusCode::CREATED => ok += 1,
                StatusCode::PAYMENT_REQUIRED => {
                    assert_eq!(body["error"]["code"], "insufficient_funds");
                    refused += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!((ok, refused), (10, 40));
        assert_eq!(s.balance(&phone.account_id).await, 0);
        assert_eq!(s.balance(&merchant.account_id).await, 1_000);
        let check = s.ledger_check().await;
        assert_eq!(check["sum_minor"], 0);
        assert_eq!(check["balance_mismatches"], 0);
        match std::sync::Arc::try_unwrap(s) {
            Ok(s) => s.server.shutdown().await,
            Err(_) => panic!("server still shared"),
        }
    }
}

#[tokio::test]
async fn top_up_reference_is_idempotent() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let phone = s.phone("EUR").await;
        let reference = format!("ref-{}", now_ms());
        let body = json!({"account_id": phone.account_id, "amount_minor": 500, "currency": "EUR", "reference": reference});
        let (st1, a) = s
            .admin(Method::POST, "/v1/sandbox/top-ups", Some(body.clone()))
            .await;
        let (st2, b) = s
            .admin(Method::POST, "/v1/sandbox/top-ups", Some(body))
            .await;
        assert_eq!(
            (st1, st2),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{a} {b}"
        );
        assert_eq!(a["top_up_id"], b["top_up_id"]);
        assert_eq!(s.balance(&phone.account_id).await, 500);
        let clash = json!({"account_id": phone.account_id, "amount_minor": 600, "currency": "EUR", "reference": reference});
        let (status, body) = s
            .admin(Method::POST, "/v1/sandbox/top-ups", Some(clash))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let wrong = json!({"account_id": phone.account_id, "amount_minor": 600, "currency": "CNY"});
        let (status, body) = s
            .admin(Method::POST, "/v1/sandbox/top-ups", Some(wrong))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "currency_mismatch");
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn concurrent_retries_of_one_payment_charge_once() {
    for url in database_urls() {
        let s = std::sync::Arc::new(TestServer::start_with(url).await);
        let (merchant, terminal, phone) = shop(&s, 1_000).await;
        let (ins, idem) = phone.instruction(&terminal, "ord-dup", 300);
        let phone = std::sync::Arc::new(phone);
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (s, phone, ins, idem) = (s.clone(), phone.clone(), ins.clone(), idem.clone());
            tasks.push(tokio::spawn(
                async move { s.pay(&phone, &ins, &idem).await },
            ));
        }
        let mut created = 0;
        let mut ids = std::collections::BTreeSet::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                StatusCode::CREATED => created += 1,
                StatusCode::OK => {}
                other => panic!("unexpected {other}: {body}"),
            }
            ids.insert(body["payment_id"].as_str().unwrap().to_string());
        }
        assert_eq!(created, 1);
        assert_eq!(ids.len(), 1, "every retry names the same payment");
        assert_eq!(s.balance(&phone.account_id).await, 700);
        assert_eq!(s.balance(&merchant.account_id).await, 300);
        assert_eq!(s.ledger_check().await["sum_minor"], 0);
    }
}

type Edit = Box<dyn Fn(&mut InstructionBody)>;

#[tokio::test]
async fn bad_instructions_are_refused_with_precise_codes() {
    let s = TestServer::start().await;
    let (_m, terminal, phone) = shop(&s, 1_000).await;
    let pay = |ins: PaymentInstruction, idem: String| {
        let s = &s;
        let phone = &phone;
        async move { s.pay(phone, &ins, &idem).await }
    };
    let sign = |edit: &dyn Fn(&mut InstructionBody)| {
        let (ins, _) = phone.instruction(&terminal, "ord-b", 100);
        let mut body = ins.peek().unwrap();
        edit(&mut body);
        let idem = body.idempotency_key.clone();
        (PaymentInstruction::sign(&phone.key, &body).unwrap(), idem)
    };
    let cases: Vec<(Edit, u16, &str)> = vec![
        (Box::new(|b| b.amount_minor = 0), 422, "invalid_amount"),
        (
            Box::new(|b| b.amount_minor = u64::MAX),
            422,
            "invalid_amount",
        ),
        (
            Box::new(|b| b.currency = wayfare_protocol::money::Currency::parse("EUR").unwrap()),
            422,
            "currency_mismatch",
        ),
        (
            Box::new(|b| b.merchant_id = "mer_nope".into()),
            404,
            "unknown_merchant",
        ),
        (
            Box::new(|b| {
                b.terminal_id = "term_nope".into();
                b.idempotency_key =
                    payment_idempotency_key(&b.account_id, &b.terminal_id, &b.order_id);
            }),
            404,
            "unknown_terminal",
        ),
        (
            Box::new(|b| b.idempotency_key = "idem_chosen_by_the_phone".into()),
            422,
            "invalid_field",
        ),
        (
            Box::new(|b| b.account_id = "acc_other".into()),
            403,
            "forbidden",
        ),
        (
            Box::new(|b| b.device_id = "dev_other".into()),
            403,
            "forbidden",
        ),
        (Box::new(|b| b.version = 99), 422, "invalid_field"),
    ];
    for (i, (edit, status, code)) in cases.into_iter().enumerate() {
        let (ins, idem) = sign(&*edit);
        let (got, body) = pay(ins, idem).await;
        assert_eq!(
            (got.as_u16(), body["error"]["code"].as_str()),
            (status, Some(code)),
            "case {i}: {body}"
        );
    }
    // Signed by another key than the device's.
    let (ins, idem) = phone.instruction(&terminal, "ord-c", 100);
    let rogue = wayfare_protocol::keys::SigningKey::generate().unwrap();
    let forged = PaymentInstruction::sign(&rogue, &ins.peek().unwrap()).unwrap();
    let (got, body) = pay(forged, idem).await;
    assert_eq!(
        (got, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    assert_eq!(s.balance(&phone.account_id).await, 1_000);
    assert_eq!(s.ledger_check().await["entries"], 2);
    s.server.shutdown().await;
}

/// Issue 8: an idempotency key belongs to one account and must be the
/// derivation of (account, terminal, order). Before, another wallet could
/// take the key of somebody else's order first, and the rightful payer was
/// then refused with `idempotency_conflict`.
#[tokio::test]
async fn idempotency_keys_belong_to_their_account_and_must_be_derived() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (_m, terminal, rider) = shop(&s, 1_000).await;
        let squatter = s.phone("CNY").await;
        s.top_up(&squatter.account_id, 1_000, "CNY").await;

        // The squatter signs its own instruction for another order, but
        // with the key of the rider's upcoming order.
        let (_, rider_key) = rider.instruction(&terminal, "ord-r", 100);
        let (ins, _) = squatter.instruction(&terminal, "ord-s", 100);
        let mut body = ins.peek().unwrap();
        body.idempotency_key = rider_key.clone();
        let forged = PaymentInstruction::sign(&squatter.key, &body).unwrap();
        let (status, answer) = s.pay(&squatter, &forged, &rider_key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_field");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("idempotency_key"),
            "{answer}"
        );
        assert_eq!(s.balance(&squatter.account_id).await, 1_000);

        // The rider's payment under its own key goes through.
        let (ins, key) = rider.instruction(&terminal, "ord-r", 100);
        assert_eq!(key, rider_key);
        let (status, paid) = s.pay(&rider, &ins, &key).await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");

        // Lookups are per account: the squatter does not find the rider's key.
        let path = format!("/v1/payments/{key}");
        let (status, _) = s.device(&squatter, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, found) = s
            .api()
            .send(&rider.key, &rider.device_id, Method::GET, &path, b"", &[])
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["payment_id"], paid["payment_id"]);
        s.server.shutdown().await;
    }
}
