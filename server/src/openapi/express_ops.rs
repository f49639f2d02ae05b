//! OpenAPI operations of the express tap (offline gate taps): allowances,
//! the deny list, deferred settlement and express debt.

use serde_json::{json, Value};

use super::{id, int, int_or_null, key, obj, req, s, s_or_null, unsigned, Auth, Op};

/// A cap of minor units: 1 or more (any `u64`; the server lowers it).
fn range_u64() -> Value {
    let mut cap = unsigned();
    cap["minimum"] = json!(1);
    cap
}

fn tap_result() -> Value {
    obj(
        &["status", "charged_minor", "debt_minor"],
        json!({ "allowance_id": s_or_null(), "counter": int_or_null(),
                "status": { "enum": ["charged", "partly_charged", "already_settled", "refused"] },
                "charged_minor": int(), "debt_minor": int(), "payment_id": s_or_null(), "reason": s_or_null() }),
    )
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "post", path: "/v1/express/allowances", id: "issueExpressAllowance",
             summary: "A signed offline allowance for the device's new tap key (Ed25519, base64url): gates accept express taps signed by that key up to the granted caps until expires_at_ms (24 h). Caps may be lowered: total to at most 20000, the balance and the smallest guardian daily limit; per tap to at most 5000 and the total. Issuing revokes the device's allowances older than the previous one. Refused while an express tap's debt is unpaid (409 express_blocked) or with no balance (402).",
             auth: Auth::Device,
             request: Some(req(&["tap_key", "per_tap_max_minor", "total_max_minor"], json!({ "tap_key": key(), "per_tap_max_minor": range_u64(), "total_max_minor": range_u64() }))),
             success: ("201", obj(&["allowance", "allowance_id", "per_tap_max_minor", "total_max_minor", "currency", "sequence", "issued_at_ms", "expires_at_ms"],
                 json!({ "allowance": { "type": "string", "description": "COSE_Sign1 Allowance, base64url" }, "allowance_id": s(),
                         "per_tap_max_minor": int(), "total_max_minor": int(), "currency": s(), "sequence": int(),
                         "issued_at_ms": int(), "expires_at_ms": int() }))),
             errors: &["400", "401", "402", "409", "422"] },
        Op { method: "delete", path: "/v1/express/allowances", id: "switchOffExpress",
             summary: "The rider switched express taps off on this device: its live allowances go on the deny list.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["revoked"], json!({ "revoked": int() }))),
             errors: &["401"] },
        Op { method: "get", path: "/v1/express", id: "expressStatus",
             summary: "The caller's express debt (blocked while above zero) and its recent settled express taps.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["debt_minor", "blocked", "currency", "taps"], json!({ "debt_minor": int(), "blocked": { "type": "boolean" }, "currency": s(), "taps": { "type": "array", "items": { "type": "object" } } }))),
             errors: &["401"] },
        Op { method: "get", path: "/v1/platform/express/deny-list", id: "expressDenyList",
             summary: "The revoked, unexpired allowances, signed with the receipt key (COSE_Sign1, purpose wayfare/express-deny-list/v1). Terminals keep the newest version.",
             auth: Auth::Terminal, request: None,
             success: ("200", obj(&["deny_list", "version", "entries"], json!({ "deny_list": s(), "version": int(), "entries": int() }))),
             errors: &["401"] },
        Op { method: "post", path: "/v1/platform/express/taps", id: "settleExpressTaps",
             summary: "A terminal uploads the express taps it accepted offline (at most 100). Each is charged exactly once per (allowance, counter); what the balance cannot cover becomes debt (partly_charged) and the device's allowances are revoked until a top-up pays it. refused: never chargeable (forged, another terminal's, outside the allowance's validity, a lost phone's after the report, a reused counter).",
             auth: Auth::Terminal,
             request: Some(req(&["taps"], json!({ "taps": { "type": "array", "maxItems": 100, "items": req(&["allowance", "tap", "tapped_at_ms"], json!({ "allowance": s(), "tap": s(), "tapped_at_ms": unsigned() })) } }))),
             success: ("200", obj(&["results"], json!({ "results": { "type": "array", "items": tap_result() } }))),
             errors: &["400", "401", "422"] },
        Op { method: "post", path: "/v1/admin/express/revocations", id: "revokeExpressDevice",
             summary: "The operator revokes a device's allowances: reason lost (default; taps after this are not charged to the rider) or revoked.",
             auth: Auth::Admin,
             request: Some(req(&["device_id"], json!({ "device_id": id(), "reason": { "enum": ["lost", "revoked"] } }))),
             success: ("200", obj(&["revoked"], json!({ "revoked": int() }))),
             errors: &["401", "422"] },
        Op { method: "get", path: "/v1/admin/express/debts", id: "expressDebts",
             summary: "Every account owing express debt, with the number of taps.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["debts"], json!({ "debts": { "type": "array", "items": obj(&["account_id", "currency", "debt_minor", "taps"], json!({ "account_id": s(), "currency": s(), "debt_minor": int(), "taps": int() })) } }))),
             errors: &["401"] },
    ]
}
