//! OpenAPI operations of merchants (P4): owner, staff, scopes, prompts,
//! refunds and outside notices.

use serde_json::{json, Value};

use super::{amount, currency, id, int, obj, range, req, s, text, Auth, Op};

fn member() -> Value {
    obj(
        &[
            "member_id",
            "merchant_id",
            "merchant_name",
            "locale",
            "role",
            "handle",
            "label",
            "operations",
            "content",
            "status",
            "created_at_ms",
        ],
        json!({ "member_id": s(), "merchant_id": s(), "merchant_name": s(),
            "locale": { "enum": ["zh", "en"] }, "role": { "enum": ["owner", "staff"] },
            "handle": s(), "label": s(),
            "operations": { "type": "array", "items": { "enum": ["receive_prompts", "view_history", "refund"] } },
            "content": { "type": "array", "items": { "enum": ["order_id", "payer_name", "payee_name",
                "payment_type", "amount", "time", "payment_platform"] } },
            "status": { "enum": ["active", "revoked"] }, "created_at_ms": int() }),
    )
}

fn scopes() -> Value {
    json!({ "operations": { "type": "array", "items": { "enum": ["receive_prompts", "view_history", "refund"] } },
            "content": { "type": "array", "items": { "enum": ["order_id", "payer_name", "payee_name",
                "payment_type", "amount", "time", "payment_platform"] } } })
}

pub(super) fn ops() -> Vec<Op> {
    let mut invite = scopes();
    invite["label"] = text(60);
    invite["invitee_handle"] = text(100);
    invite["expires_in_s"] = range(1, 86_400);
    let mut update = scopes();
    update["label"] = text(60);
    vec![
        Op { method: "post", path: "/v1/merchants/{merchant_id}/owner", id: "setMerchantOwner",
             summary: "Makes a registered device's account the merchant's owner (the main management terminal; every scope), replacing any previous owner, and sets the prompt locale (zh default, or en). Unknown merchant: 404; an account_id no registered device has: 422.",
             auth: Auth::Admin,
             request: Some(req(&["account_id"], json!({ "account_id": s(), "locale": { "enum": ["zh", "en"] } }))),
             success: ("200", member()),
             errors: &["400", "401", "404", "422"] },
        Op { method: "get", path: "/v1/merchants/mine", id: "myMerchants",
             summary: "The merchants the calling device manages (active memberships).",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["memberships"], json!({ "memberships": { "type": "array", "items": member() } }))),
             errors: &["401"] },
        Op { method: "post", path: "/v1/merchants/{merchant_id}/invitations", id: "inviteStaff",
             summary: "Owner: invites a staff device with an operation and a content scope. Single-use code and QR payload (wayfare:merchant-invite:v2: + a 256-bit secret, hex), expiring (expires_in_s 1..86400, default 600); with invitee_handle only that device may accept. Staff: 403; non-members: 404.",
             auth: Auth::Device,
             request: Some(req(&["operations", "content"], invite)),
             success: ("201", obj(&["invitation_id", "merchant_id", "code", "qr_payload", "label", "operations", "content", "expires_at_ms"],
                 json!({ "invitation_id": s(), "merchant_id": s(), "code": s(), "qr_payload": s(), "label": s(),
                     "operations": { "type": "array", "items": s() }, "content": { "type": "array", "items": s() }, "expires_at_ms": int() }))),
             errors: &["400", "401", "403", "404", "422"] },
        Op { method: "post", path: "/v1/merchants/invitations/accept", id: "acceptStaffInvitation",
             summary: "A device accepts a staff invitation (code or QR payload) and becomes a staff device. 404 invitation_invalid for every code that cannot be accepted (unknown, expired, used, for another device than invitee_handle); 409 already_member; 429 too_many_attempts (with retry-after) past the limit of failed attempts, shared with guardian invitations.",
             auth: Auth::Device,
             request: Some(req(&["code"], json!({ "code": s() }))),
             success: ("201", member()),
             errors: &["400", "401", "404", "409", "422", "429"] },
        Op { method: "get", path: "/v1/merchants/{merchant_id}/staff", id: "listStaff",
             summary: "Owner: every member device, active and revoked.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["members"], json!({ "members": { "type": "array", "items": member() } }))),
             errors: &["401", "403", "404"] },
        Op { method: "put", path: "/v1/merchants/{merchant_id}/staff/{member_id}", id: "setStaffScopes",
             summary: "Owner: replaces a staff device's scopes; the next prompt follows them.",
             auth: Auth::Device,
             request: Some(req(&["operations", "content"], update)),
             success: ("200", member()),
             errors: &["400", "401", "403", "404", "422"] },
        Op { method: "delete", path: "/v1/merchants/{merchant_id}/staff/{member_id}", id: "revokeStaff",
             summary: "Owner: revokes a staff device. It gets no prompt after this commits, and prompts it has not read yet are withdrawn from its stream.",
             auth: Auth::Device, request: None,
             success: ("200", member()),
             errors: &["401", "403", "404"] },
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
