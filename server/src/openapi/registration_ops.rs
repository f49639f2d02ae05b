//! OpenAPI operations of riders' per-merchant pseudonyms and platform
//! registrations (P2, P3.5).

use serde_json::{json, Value};

use super::{int, obj, req, s, Auth, Op};

fn registration() -> Value {
    obj(
        &[
            "registration_id",
            "merchant_id",
            "merchant_name",
            "terminal_id",
            "pseudonym",
            "created_at_ms",
        ],
        json!({ "registration_id": s(), "merchant_id": s(), "merchant_name": s(), "terminal_id": s(),
                "pseudonym": { "type": "string", "pattern": "^pn_[a-z2-7]{32}$" },
                "created_at_ms": int(), "revoked_at_ms": int() }),
    )
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "get", path: "/v1/wallet/pseudonyms/{merchant_id}", id: "walletPseudonym",
             summary: "The caller's pseudonym for a merchant (pn_ + 160 bits in base32): what the merchant's terminals see in the identity step and its receipts name the payer by. Stable per rider and merchant, unlinkable across merchants. Unknown merchant: 404 unknown_merchant.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["merchant_id", "pseudonym"], json!({ "merchant_id": s(), "pseudonym": s() }))),
             errors: &["401", "404", "422"] },
        Op { method: "post", path: "/v1/platform/registrations", id: "registerRider",
             summary: "A terminal registers a rider with its merchant's platform (P3.5), forwarding the rider's consent: a device-signed COSE_Sign1 (purpose wayfare/registration-consent/v1) over consent_id, pseudonym, merchant_id, terminal_id, device_id and issued_at_ms, base64url, at most 1024 bytes. Refused: tampered or not signed by the named device (401 bad_signature), given at another terminal or merchant, or a pseudonym not the rider's for this merchant (403 forbidden), older than 5 min or from the future (401 stale_request), a consent whose registration the rider revoked (401 replayed_request), oversized (413). 201 with a new registration; 200 with the live one (same rider and merchant, or the same consent again).",
             auth: Auth::Terminal,
             request: Some(req(&["consent"], json!({ "consent": { "type": "string", "description": "RegistrationConsent COSE_Sign1, base64url" } }))),
             success: ("201", registration()),
             errors: &["400", "401", "403", "404", "413", "422"] },
        Op { method: "get", path: "/v1/wallet/registrations", id: "listRegistrations",
             summary: "The caller's live platform registrations, newest first.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["registrations"], json!({ "registrations": { "type": "array", "items": registration() } }))),
             errors: &["401"] },
        Op { method: "post", path: "/v1/wallet/registrations/{registration_id}/revoke", id: "revokeRegistration",
             summary: "The rider revokes a platform registration: it leaves the list at once and the consent that made it can never register the rider again. Idempotent (a revoked registration answers again, with revoked_at_ms). Not the caller's: 404.",
             auth: Auth::Device, request: None,
             success: ("200", registration()),
             errors: &["401", "404", "422"] },
    ]
}
