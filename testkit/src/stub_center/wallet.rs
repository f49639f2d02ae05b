//! The stub's wallet routes: keys, device registration, balance, history,
//! the push token and payments (idempotent, with signed receipts).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};

use super::{answer, error, App, PayMode};
use crate::clock::now_ms;

pub(super) async fn keys(State(app): State<App>) -> Response {
    answer(
        200,
        json!({"operator_key": app.keys.operator.to_base64(),
            "receipt_key": app.keys.receipt.public_key().to_base64()}),
    )
}

pub(super) async fn register(State(app): State<App>, body: Bytes) -> Response {
    let json: Value = serde_json::from_slice(&body).expect("a JSON registration");
    assert!(json.get("phone_number").is_none() || json["phone_number"].is_string());
    let device_key = PublicKey::from_base64(json["device_key"].as_str().expect("device_key"))
        .expect("a device key");
    let mut s = app.state.lock().expect("stub state");
    s.register_keys.push(device_key.to_base64());
    if s.fail_register {
        return error(503, "server_busy", "try again");
    }
    s.devices.insert("dev_new".into(), device_key);
    answer(
        201,
        json!({"account_id":"acc_new","device_id":"dev_new","handle":"rider-new","currency":"EUR"}),
    )
}

pub(super) async fn wallet(State(app): State<App>) -> Response {
    let balance = app.state.lock().expect("stub state").balance;
    answer(
        200,
        json!({"account_id":"acc_test","handle":"rider-test","display_name":"Ann",
            "balance_minor":balance,"currency":"EUR","points":0}),
    )
}

pub(super) async fn history() -> Response {
    answer(
        200,
        json!({"entries":[
            {"entry_id":"ent_2","kind":"payment","amount_minor":-250,"currency":"EUR","balance_after_minor":750,"payment_id":"pay_1","merchant_name":"Corner Café","description":"flat white","at_ms":2},
            {"entry_id":"ent_1","kind":"top_up","amount_minor":1000,"currency":"EUR","balance_after_minor":1000,"description":"sandbox","at_ms":1}
        ]}),
    )
}

pub(super) async fn push_token(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    let removed = !s.push_tokens.is_empty();
    match serde_json::from_slice::<Value>(&body).ok() {
        Some(b) if b["token"].as_str().is_some_and(|t| t.contains(' ')) => {
            error(422, "invalid_field", "token")
        }
        put => {
            s.push_tokens = put.into_iter().collect();
            answer(200, json!({ "removed": removed }))
        }
    }
}

/// `POST /v1/payments`: idempotent by the instruction's key, with receipts
/// signed by the receipt key.
pub(super) async fn pay(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    s.posts += 1;
    if let PayMode::Fail(status, code) = s.mode {
        return error(status, code, "refused by the stub control center");
    }
    let lost = matches!(s.mode, PayMode::CommitThenFail);
    let json: Value = serde_json::from_slice(&body).expect("a JSON payment");
    let instruction =
        PaymentInstruction::from_base64(json["instruction"].as_str().expect("instruction"))
            .expect("an instruction");
    let b = instruction.peek().expect("a readable instruction");
    if let Some(previous) = s.results.get(&b.idempotency_key) {
        return if lost {
            error(503, "internal", "lost")
        } else {
            answer(200, previous.clone())
        };
    }
    s.balance -= b.amount_minor as i64;
    let payment_id = format!("pay_{}", s.results.len() + 1);
    let key = &app.keys.receipt;
    let receipt = Receipt::issue(
        key,
        &ReceiptBody {
            version: 1,
            payment_id: payment_id.clone(),
            order_id: b.order_id.clone(),
            payer: "rider-test".into(),
            merchant_id: b.merchant_id.clone(),
            terminal_id: b.terminal_id.clone(),
            amount_minor: b.amount_minor,
            currency: b.currency.clone(),
            completed_at_ms: now_ms(),
            fare: b.fare.clone(),
            points_spent: 0,
            points_value_minor: 0,
        },
    )
    .expect("issuing a receipt");
    let body = receipt
        .verify(&key.public_key())
        .expect("the receipt verifies");
    let result = json!({
        "payment_id": payment_id, "status": "completed", "receipt": receipt.to_base64(),
        "amount_minor": b.amount_minor, "currency": b.currency.code(), "balance_after_minor": s.balance,
        "merchant_id": b.merchant_id, "terminal_id": b.terminal_id, "order_id": b.order_id,
        "completed_at_ms": body.completed_at_ms,
    });
    s.results.insert(b.idempotency_key, result.clone());
    if lost {
        return error(503, "internal", "lost");
    }
    answer(201, result)
}
