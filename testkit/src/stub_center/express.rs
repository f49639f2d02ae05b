//! The stub's express routes: allowances issued and revoked, and the
//! rider's express status, each scripted through [`StubExpress`].

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use wayfare_protocol::express::{Allowance, AllowanceBody, EXPRESS_VERSION};
use wayfare_protocol::keys::PublicKey;

use super::{answer, error, App};
use crate::clock::now_ms;

/// The express routes' script and record: `POST` and `DELETE
/// /v1/express/allowances`, `GET /v1/express`.
#[derive(Default)]
pub struct StubExpress {
    /// Answer every express call with 503 `server_busy` (as if offline).
    pub down: bool,
    /// Refuse allowances with 409 `express_blocked`; reported by `GET`.
    pub blocked: bool,
    /// The debt `GET /v1/express` reports.
    pub debt_minor: i64,
    /// The server's per-tap maximum (it lowers the rider's cap to it).
    pub per_tap_max_minor: Option<u64>,
    /// Lifetime of new allowances (default one day).
    pub ttl_ms: Option<u64>,
    /// Allowances issued, in order.
    pub issued: Vec<AllowanceBody>,
    /// `DELETE` calls.
    pub revocations: u32,
    /// Settled taps `GET /v1/express` reports.
    pub settled: Vec<Value>,
}

fn express_down() -> Response {
    error(503, "server_busy", "try again")
}

pub(super) async fn allow(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    let balance = s.balance;
    let x = &mut s.express;
    if x.down {
        return express_down();
    }
    if x.blocked {
        return error(
            409,
            "express_blocked",
            "an express fare left a debt; top up to pay it",
        );
    }
    if balance <= 0 {
        return error(402, "insufficient_funds", "the balance is zero");
    }
    let json: Value = serde_json::from_slice(&body).expect("a JSON allowance request");
    let field = |name: &str| json[name].as_u64().unwrap_or_else(|| panic!("{name}"));
    let tap_key =
        PublicKey::from_base64(json["tap_key"].as_str().expect("tap_key")).expect("a tap key");
    let total = field("total_max_minor").min(balance as u64);
    let per_tap = field("per_tap_max_minor")
        .min(x.per_tap_max_minor.unwrap_or(u64::MAX))
        .min(total);
    let now = now_ms();
    let n = x.issued.len() + 1;
    let body = AllowanceBody {
        version: EXPRESS_VERSION,
        allowance_id: format!("alw_test{n:04}"),
        tap_key,
        per_tap_max_minor: per_tap,
        total_max_minor: total,
        currency: "EUR".into(),
        sequence: n as u64,
        issued_at_ms: now - 1_000,
        expires_at_ms: now + x.ttl_ms.unwrap_or(86_400_000),
    };
    let allowance = Allowance::issue(&app.keys.receipt, &body).expect("issuing an allowance");
    x.issued.push(body.clone());
    answer(
        201,
        json!({
            "allowance": allowance.to_base64(), "allowance_id": body.allowance_id,
            "per_tap_max_minor": per_tap, "total_max_minor": total, "currency": "EUR",
            "sequence": n, "issued_at_ms": body.issued_at_ms,
            "expires_at_ms": body.expires_at_ms,
        }),
    )
}

pub(super) async fn revoke_allowances(State(app): State<App>) -> Response {
    let mut s = app.state.lock().expect("stub state");
    let x = &mut s.express;
    if x.down {
        return express_down();
    }
    x.revocations += 1;
    answer(200, json!({"revoked": x.issued.len()}))
}

pub(super) async fn express_status(State(app): State<App>) -> Response {
    let s = app.state.lock().expect("stub state");
    let x = &s.express;
    if x.down {
        return express_down();
    }
    answer(
        200,
        json!({"debt_minor": x.debt_minor, "blocked": x.blocked, "currency": "EUR", "taps": x.settled}),
    )
}
