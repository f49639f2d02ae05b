//! OpenAPI operations of over-the-air top-up: the rider starts and follows
//! a top-up, the funding provider confirms it with a signed callback, the
//! operator lists intents.

use serde_json::{json, Value};

use super::{amount, currency, id, int, obj, req, s, s_or_null, text, Auth, Op};

fn intent() -> Value {
    obj(
        &[
            "reference",
            "provider",
            "status",
            "amount_minor",
            "currency",
            "created_at_ms",
            "expires_at_ms",
        ],
        json!({ "reference": s(), "provider": s(),
                "status": { "enum": ["pending", "confirmed", "failed", "expired"] },
                "amount_minor": int(), "currency": s(), "checkout_url": s(), "top_up_id": s(),
                "failure_reason": s(), "created_at_ms": int(), "expires_at_ms": int(),
                "completed_at_ms": int(), "account_id": s(), "provider_reference": s_or_null() }),
    )
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "post", path: "/v1/top-ups", id: "startTopUp",
             summary: "Starts an over-the-air top-up through a configured funding provider. A checkout provider answers 201 pending with the checkout_url where the rider pays; money moves only when the provider's signed callback confirms it (then the device stream carries top_up.completed or top_up.failed). The SANDBOX provider (operator test money) answers 201 confirmed. The same idempotency_key again answers 200 with the top-up as it is now; with another provider, amount or currency, 409 idempotency_conflict. Unknown provider 404; a currency the provider or the wallet does not take 422.",
             auth: Auth::Device,
             request: Some(req(&["provider", "amount_minor", "currency", "idempotency_key"], json!({ "provider": s(), "amount_minor": amount(), "currency": currency(), "idempotency_key": id() }))),
             success: ("201", intent()),
             errors: &["400", "401", "404", "409", "422"] },
        Op { method: "get", path: "/v1/top-ups/providers", id: "topUpProviders",
             summary: "The funding providers this server offers (id, kind sandbox or checkout, display name, currencies).",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["providers"], json!({ "providers": { "type": "array", "items": obj(&["id", "kind", "display_name", "currencies"], json!({ "id": s(), "kind": { "enum": ["sandbox", "checkout"] }, "display_name": s(), "currencies": { "type": "array", "items": s() } })) } }))),
             errors: &["401"] },
        Op { method: "get", path: "/v1/top-ups/{reference}", id: "getTopUp",
             summary: "The caller's own top-up (404 for any other); a pending one past expires_at_ms shows as expired (its provider may still confirm it).",
             auth: Auth::Device, request: None, success: ("200", intent()),
             errors: &["401", "404"] },
        Op { method: "post", path: "/v1/funding/{provider}/callbacks", id: "fundingCallback",
             summary: "The funding provider reports a checkout's outcome. Header wayfare-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(provider secret, \"t.body\")> over the exact body (several v1 allowed while rotating). Bad or missing signature 401 bad_signature; signed more than 300 s from the server's clock 401 stale_request; unknown provider or reference 404; body over 16 KiB 413; amount, currency or an outcome already recorded that disagree 409 callback_mismatch naming the field. succeeded: in one transaction the top-up is confirmed and credited from the provider's clearing account; failed: it is marked failed. The same callback again answers 200 with the same result and moves nothing; a provider_reference settles one top-up only.",
             auth: Auth::None,
             request: Some(req(&["provider_reference", "reference", "amount_minor", "currency", "status"], json!({ "provider_reference": id(), "reference": id(), "amount_minor": amount(), "currency": currency(), "status": { "enum": ["succeeded", "failed"] }, "reason": text(200) }))),
             success: ("200", obj(&["reference", "provider_reference", "status"], json!({ "reference": s(), "provider_reference": s(), "status": { "enum": ["confirmed", "failed"] }, "top_up_id": s() }))),
             errors: &["400", "401", "404", "409", "422"] },
        Op { method: "get", path: "/v1/admin/top-ups", id: "listTopUps",
             summary: "The newest over-the-air top-ups, optionally only status=pending|confirmed|failed (limit 1..500, default 100), with account and provider reference.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["top_ups"], json!({ "top_ups": { "type": "array", "items": intent() } }))),
             errors: &["401", "422"] },
    ]
}
