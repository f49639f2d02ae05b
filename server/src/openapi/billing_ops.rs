//! OpenAPI operations of the billing exchange (P1, issue 12.4): closed
//! days delivered to the external billing system, reconciliation files
//! back, stored. (Settlement records and the unstored compare are in
//! `guardian_ops.rs`.)

use serde_json::{json, Value};

use super::{
    currency, date, id, int, int_or_null, obj, offset, range, req, s, s_or_null, Auth, Op,
};

fn ledger_payment() -> Value {
    obj(
        &[
            "payment_id",
            "merchant_id",
            "amount_minor",
            "currency",
            "completed_at_ms",
        ],
        json!({ "payment_id": s(), "merchant_id": s(), "amount_minor": int(), "currency": s(), "completed_at_ms": int() }),
    )
}

fn entry() -> Value {
    obj(
        &["payment_id", "amount_minor", "currency"],
        json!({ "payment_id": s(), "amount_minor": int(), "currency": s() }),
    )
}

fn statement() -> Value {
    req(
        &["date", "entries"],
        json!({ "date": date(), "utc_offset_minutes": offset(), "merchant_id": id(),
                "entries": { "type": "array", "maxItems": 5000, "items": req(&["payment_id", "amount_minor", "currency"],
                    json!({ "payment_id": id(), "amount_minor": range(i64::MIN, i64::MAX), "currency": currency() })) } }),
    )
}

fn differences() -> Value {
    json!({
        "balanced": { "type": "boolean" }, "matched": int(),
        "missing": { "type": "array", "items": ledger_payment() },
        "mismatched": { "type": "array", "items": obj(&["payment_id", "reason", "statement"], json!({
            "payment_id": s(), "reason": { "enum": ["amount", "currency", "other_day", "duplicate"] },
            "ledger": ledger_payment(), "statement": entry() })) },
        "unknown": { "type": "array", "items": entry() }
    })
}

fn export() -> Value {
    obj(
        &[
            "export_id",
            "date",
            "utc_offset",
            "utc_offset_minutes",
            "delivery_id",
            "record_count",
            "payment_count",
            "created_at_ms",
            "state",
            "attempts",
        ],
        json!({ "export_id": s(), "date": s(), "utc_offset": s(), "utc_offset_minutes": int(),
                "delivery_id": s(), "record_count": int(), "payment_count": int(), "created_at_ms": int(),
                "state": { "enum": ["pending", "delivered"] }, "attempts": int(),
                "next_attempt_at_ms": int_or_null(), "delivered_at_ms": int_or_null(), "last_error": s_or_null(),
                "body": { "type": "object", "description": "exactly what is delivered (GET one only)" } }),
    )
}

fn reconciliation(full: bool) -> Value {
    let mut props = json!({ "reconciliation_id": s(), "date": s(), "utc_offset": s(), "merchant_id": s_or_null(),
        "source_format": { "enum": ["json", "csv"] }, "lines": int(), "missing_count": int(),
        "mismatched_count": int(), "unknown_count": int(), "created_at_ms": int() });
    if let (Some(p), Some(d)) = (props.as_object_mut(), differences().as_object()) {
        for (k, v) in d {
            if full || matches!(k.as_str(), "balanced" | "matched") {
                p.insert(k.clone(), v.clone());
            }
        }
    }
    obj(
        &[
            "reconciliation_id",
            "date",
            "utc_offset",
            "source_format",
            "lines",
            "balanced",
            "matched",
        ],
        props,
    )
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "post", path: "/v1/billing/exports", id: "closeBillingDay",
             summary: "Closes a day (at utc_offset_minutes, default 0) that has ended: its settlement records and payments are frozen into an export and delivered to the billing endpoint, signed (wayfare-delivery-id, wayfare-timestamp, wayfare-signature: v1=hex HMAC-SHA256 over \"{timestamp}.{body}\"), retried until a 2xx answer. 201 when created, 200 with the same export when that day was already closed. A day not yet ended: 409 day_not_ended.",
             auth: Auth::Admin,
             request: Some(req(&["date"], json!({ "date": date(), "utc_offset_minutes": offset() }))),
             success: ("201", export()),
             errors: &["400", "401", "409", "422"] },
        Op { method: "get", path: "/v1/billing/exports", id: "billingExports",
             summary: "The billing exports (of ?date= when given, else the newest 100) with their delivery state.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["endpoint_configured", "pending", "exports"], json!({ "endpoint_configured": { "type": "boolean" }, "pending": int(), "exports": { "type": "array", "items": export() } }))),
             errors: &["401", "422"] },
        Op { method: "get", path: "/v1/billing/exports/{export_id}", id: "billingExport",
             summary: "One billing export with the exact body delivered.",
             auth: Auth::Admin, request: None,
             success: ("200", export()),
             errors: &["401", "404"] },
        Op { method: "post", path: "/v1/billing/reconciliations", id: "storeReconciliation",
             summary: "The billing system's reconciliation file, as JSON (this schema) or text/csv (a header row naming payment_id, amount_minor, currency; day in the query: date, utc_offset_minutes, merchant_id), at most 5000 lines, compared with the ledger; the result is stored. Bad files store nothing: 400 malformed_csv, 422 unsupported_currency or invalid_field.",
             auth: Auth::Admin, request: Some(statement()),
             success: ("201", reconciliation(true)),
             errors: &["400", "401", "422"] },
        Op { method: "get", path: "/v1/billing/reconciliations", id: "reconciliations",
             summary: "The stored reconciliations (of ?date= when given), newest first, at most 100, with counts.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["reconciliations"], json!({ "reconciliations": { "type": "array", "items": reconciliation(false) } }))),
             errors: &["401", "422"] },
        Op { method: "get", path: "/v1/billing/reconciliations/{reconciliation_id}", id: "reconciliation",
             summary: "One stored reconciliation naming every missing, mismatched and unknown payment.",
             auth: Auth::Admin, request: None,
             success: ("200", reconciliation(true)),
             errors: &["401", "404"] },
    ]
}
