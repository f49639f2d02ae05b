//! OpenAPI operations of guardians, the device event stream and billing.

use serde_json::json;

use super::{amount, currency, date, id, int, obj, offset, range, req, s, text, Auth, Op};

pub(super) fn ops() -> Vec<Op> {
    let binding = json!({ "$ref": "#/components/schemas/Binding" });
    vec![
        Op { method: "post", path: "/v1/guardians/invitations", id: "createGuardianInvitation",
             summary: "The rider invites a guardian: scope transit_only|all_payments, shown_as phone_tail (needs a registered phone; only the last 4 digits are ever shown) or nickname. Answers a short code to type and a QR payload (wayfare:guardian-invite:v2: + a 256-bit secret, hex), single use, expiring (expires_in_s 1..86400, default 600).",
             auth: Auth::Device,
             request: Some(nickname_needed(req(&["scope", "shown_as"], json!({ "scope": { "enum": ["transit_only", "all_payments"] },
                 "shown_as": { "enum": ["phone_tail", "nickname"] }, "nickname": text(40), "expires_in_s": range(1, 86_400) })))),
             success: ("201", obj(&["invitation_id", "code", "qr_payload", "scope", "shown_as", "rider_name", "expires_at_ms"],
                 json!({ "invitation_id": s(), "code": s(), "qr_payload": s(), "scope": s(), "shown_as": s(), "rider_name": s(), "expires_at_ms": int() }))),
             errors: &["400", "401", "422"] },
        Op { method: "post", path: "/v1/guardians/invitations/accept", id: "acceptGuardianInvitation",
             summary: "The guardian accepts an invitation (code in any case, with or without the dash, or the whole QR payload) and the binding is created. 404 invitation_invalid for every code that cannot be accepted (unknown, expired, used, the rider's own); 409 already_bound; 429 too_many_attempts (with retry-after) past the limit of failed attempts per account, per device and overall.",
             auth: Auth::Device,
             request: Some(req(&["code"], json!({ "code": s() }))),
             success: ("201", binding.clone()),
             errors: &["400", "401", "404", "409", "422", "429"] },
        Op { method: "get", path: "/v1/guardians/bindings", id: "listGuardianBindings",
             summary: "The caller's bindings as rider and as guardian (active only unless include_ended=true).",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["as_rider", "as_guardian"], json!({ "as_rider": { "type": "array", "items": binding.clone() },
                 "as_guardian": { "type": "array", "items": binding.clone() } }))),
             errors: &["401", "422"] },
        Op { method: "get", path: "/v1/guardians/bindings/{binding_id}", id: "getGuardianBinding",
             summary: "One binding, for its rider or guardian only (anyone else: 404).",
             auth: Auth::Device, request: None, success: ("200", binding.clone()),
             errors: &["401", "404"] },
        Op { method: "post", path: "/v1/guardians/bindings/{binding_id}/revoke", id: "revokeGuardianBinding",
             summary: "The rider revokes the binding; no alert is made after this commits. Guardian: 403; anyone else: 404; already ended: 409 binding_ended.",
             auth: Auth::Device, request: None, success: ("200", binding.clone()),
             errors: &["401", "403", "404", "409"] },
        Op { method: "post", path: "/v1/guardians/bindings/{binding_id}/leave", id: "leaveGuardianBinding",
             summary: "The guardian leaves the binding. Rider: 403; anyone else: 404; already ended: 409 binding_ended.",
             auth: Auth::Device, request: None, success: ("200", binding.clone()),
             errors: &["401", "403", "404", "409"] },
        Op { method: "put", path: "/v1/guardians/bindings/{binding_id}/limit", id: "setGuardianLimit",
             summary: "The guardian sets (or clears, with null or by leaving daily_limit_minor out) the rider's daily spending limit, counted over the local day at utc_offset_minutes (default 0). Payments beyond it get 402 guardian_limit_reached.",
             auth: Auth::Device,
             request: Some(req(&[], json!({ "daily_limit_minor": amount(), "utc_offset_minutes": offset() }))),
             success: ("200", binding.clone()),
             errors: &["400", "401", "403", "404", "409", "422"] },
        Op { method: "get", path: "/v1/guardians/alerts", id: "listGuardianAlerts",
             summary: "The alerts made for the caller as guardian, newest first (limit 1..500, default 50); each also carries its event_id on the device stream.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["alerts"], json!({ "alerts": { "type": "array", "items": { "$ref": "#/components/schemas/Alert" } } }))),
             errors: &["401", "422"] },
        Op { method: "get", path: "/v1/settlements", id: "settlements",
             summary: "Settlement records of a day per merchant and per operator, net of the refunds made that day: payment_count, gross_minor, refund_count, refund_minor, total_minor (gross - refunds), fee_minor (on the total), net_minor (total - fee). Query: date=YYYY-MM-DD, utc_offset_minutes, format=json|csv. JSON also lists cash_floats: per top_up terminal, the day's kiosk top-ups (top_up_count, top_up_minor) and its cash float's balance at the end of the day (float_balance_minor, negative by the cash held for riders), with operator, merchant_id, merchant_name, terminal_id and currency; the CSV carries the records only.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["date", "utc_offset", "from_ms", "to_ms", "records", "cash_floats"], json!({ "date": s(), "utc_offset": s(),
                 "from_ms": int(), "to_ms": int(), "records": { "type": "array", "items": { "type": "object" } },
                 "cash_floats": { "type": "array", "items": { "type": "object" } } }))),
             errors: &["401", "422"] },
        Op { method: "post", path: "/v1/settlements/reconciliations", id: "reconcileStatement",
             summary: "Reconciles an external statement of a day with the ledger: matched count, missing (ledger payments absent from the statement), mismatched (amount, currency, other_day, duplicate) and unknown lines.",
             auth: Auth::Admin,
             request: Some(req(&["date", "entries"], json!({ "date": date(), "utc_offset_minutes": offset(), "merchant_id": id(),
                 "entries": { "type": "array", "maxItems": 5000, "items": req(&["payment_id", "amount_minor", "currency"],
                     json!({ "payment_id": id(), "amount_minor": range(i64::MIN, i64::MAX), "currency": currency() })) } }))),
             success: ("200", obj(&["date", "balanced", "matched", "missing", "mismatched", "unknown"], json!({ "date": s(), "utc_offset": s(),
                 "balanced": { "type": "boolean" }, "matched": int(), "missing": { "type": "array" },
                 "mismatched": { "type": "array" }, "unknown": { "type": "array" } }))),
             errors: &["400", "401", "422"] },
        Op { method: "get", path: "/v1/outbound/status", id: "outboundStatus",
             summary: "Outbound gateway outbox: pending and delivered messages, total attempts; push: per-device pushes pending, delivered, dropped (token refused or removed, message refused, older than a day) and their attempts.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["pending", "delivered", "attempts", "push"], json!({ "pending": int(), "delivered": int(), "attempts": int(),
                 "push": obj(&["pending", "delivered", "dropped", "attempts"], json!({ "pending": int(), "delivered": int(), "dropped": int(), "attempts": int() })) }))),
             errors: &["401"] },
    ]
}

/// The nickname shown is required when shown_as is nickname.
fn nickname_needed(mut schema: serde_json::Value) -> serde_json::Value {
    schema["if"] =
        json!({ "required": ["shown_as"], "properties": { "shown_as": { "const": "nickname" } } });
    schema["then"] = json!({ "required": ["nickname"], "properties": { "nickname": text(40) } });
    schema
}

/// Schemas used above.
pub(super) fn schemas() -> serde_json::Value {
    json!({
        "Binding": obj(&["binding_id", "role", "status", "scope", "shown_as", "rider_name", "rider_name_zh",
            "counterpart_handle", "counterpart_name", "daily_limit_minor", "limit_utc_offset_minutes", "currency", "created_at_ms", "ended_at_ms"],
            json!({ "binding_id": s(), "role": { "enum": ["rider", "guardian"] }, "status": { "enum": ["active", "revoked", "left"] },
                "scope": { "enum": ["transit_only", "all_payments"] }, "shown_as": { "enum": ["phone_tail", "nickname"] },
                "rider_name": s(), "rider_name_zh": s(), "counterpart_handle": s(), "counterpart_name": s(),
                "daily_limit_minor": { "type": ["integer", "null"] }, "limit_utc_offset_minutes": int(), "currency": s(),
                "created_at_ms": int(), "ended_at_ms": { "type": ["integer", "null"] } })),
        "Alert": { "type": "object", "required": ["alert_id", "binding_id", "payment_id", "amount_minor", "currency", "merchant_name",
            "at_ms", "local_time", "utc_offset", "text_en", "text_zh"],
            "properties": { "alert_id": s(), "binding_id": s(), "scope": s(), "rider_name": s(), "rider_name_zh": s(),
                "payment_id": s(), "amount_minor": int(), "currency": s(), "amount_text": s(), "merchant_name": s(),
                "terminal_kind": s(), "at_ms": int(), "local_date": s(), "local_time": s(), "utc_offset": s(),
                "transit": { "type": ["object", "null"] }, "text_en": s(), "text_zh": s(), "event_id": int() } }
    })
}
