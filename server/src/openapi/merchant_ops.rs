//! OpenAPI operations of merchants (P4): owner, staff, scopes, prompts,
//! refunds and outside notices.

use serde_json::json;

use super::{amount, currency, id, int, obj, req, s, text, Auth, Op};

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "get", path: "/v1/merchants/{merchant_id}/payments", id: "merchantPayments",
             summary: "Members with view_history: the merchant's payments, newest first (limit 1..500, default 50), each with payment_id and only the attributes of the caller's content scope (refunded_minor goes with amount). Without the scope: 403 missing_scope.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["payments"], json!({ "payments": { "type": "array", "items": { "type": "object" } } }))),
             errors: &["401", "403", "404", "422"] },
        Op { method: "post", path: "/v1/merchants/{merchant_id}/refunds", id: "refundPayment",
             summary: "Members with refund: refunds amount_minor of a payment (default: all that is left), crediting the payer and debiting the merchant in one double-entry movement, with prompts. refund_id is the idempotency key (200 on replay, also for a concurrent duplicate; 409 idempotency_conflict for other terms or another payment). More than is left: 409 refund_exceeds_payment. Without the scope: 403 missing_scope.",
             auth: Auth::Device,
             request: Some(req(&["refund_id", "payment_id"], json!({ "refund_id": id(), "payment_id": id(), "amount_minor": amount(),
                 "reason": { "anyOf": [{ "const": "" }, text(200)] } }))),
             success: ("201", obj(&["refund_id", "payment_id", "amount_minor", "currency", "refunded_total_minor", "remaining_minor", "created_at_ms"],
                 json!({ "refund_id": s(), "payment_id": s(), "amount_minor": int(), "currency": s(),
                     "refunded_total_minor": int(), "remaining_minor": int(), "created_at_ms": int() }))),
             errors: &["400", "401", "402", "403", "404", "409", "422"] },
        Op { method: "post", path: "/v1/merchants/{merchant_id}/external-notices", id: "forwardExternalNotice",
             summary: "Owner: forwards a payment notice captured from an outside platform (P4 claim 1); fanned out like a payment (same scopes; same dedupe_key as a Wayfare payment of the same order id). The same notice_id again: 200, duplicate true, nothing fanned out.",
             auth: Auth::Device,
             request: Some(req(&["notice_id", "platform", "order_id", "amount_minor", "currency"],
                 json!({ "notice_id": id(), "platform": text(40), "order_id": id(), "amount_minor": amount(), "currency": currency(),
                     "payer_name": text(100), "payee_name": text(100), "payment_type": text(100), "paid_at_ms": int() }))),
             success: ("201", obj(&["notice_id", "prompts", "duplicate"], json!({ "notice_id": s(), "prompts": int(), "duplicate": { "type": "boolean" } }))),
             errors: &["400", "401", "403", "404", "422"] },
    ]
}
