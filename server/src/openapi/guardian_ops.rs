//! OpenAPI operations of settlements and statement reconciliation (still
//! written by hand).

use serde_json::json;

use super::{currency, date, id, int, obj, offset, range, req, s, Auth, Op};

pub(super) fn ops() -> Vec<Op> {
    vec![
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
    ]
}
