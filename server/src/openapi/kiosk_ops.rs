//! OpenAPI operations of counter and kiosk top-ups (issue 12.1): the
//! rider's claim of a terminal's cash offer, and the terminal settling a
//! top-up whose outcome it does not know.

use serde_json::json;

use super::{id, int, obj, req, s, unsigned, Auth, Op};

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "post", path: "/v1/top-ups/kiosk", id: "claimKioskTopUp",
             summary: "The rider claims a top_up terminal's cash offer: offer is the terminal-signed TopUpOffer (operator certificate inside, purpose wayfare/top-up-offer/v1), claim the device-signed TopUpClaim bound to the offer's SHA-256 (purpose wayfare/top-up-claim/v1), both base64url COSE_Sign1, each at most 8192 characters. The terminal must be registered as top_up with the certificate's key; the claim's device must sign the request and its account must be a rider wallet in the offer's currency. The amount moves from the terminal's cash-float account (kind cash_float, created on first use, may go negative) to the wallet; the answer carries the server-signed TopUpReceipt (purpose wayfare/top-up-receipt/v1). One top-up per (terminal, order): 201 credited now; 200 the same wallet's claim again (same receipt, nothing moved, even after the offer closed; balance_minor is the balance now); 409 top_up_already_claimed when another wallet was credited; 410 offer_expired when the offer closed (server clock, checked again at commit) before it was credited. Refused: tampered offer or claim (401 bad_signature), a claim of another offer or another amount (422 invalid_field), a pos/tram/gate terminal's offer, a terminal re-registered under another key or outside its registration, another device's or another account's claim (403 forbidden), an unknown terminal (404 unknown_terminal), a wallet in another currency (422 currency_mismatch).",
             auth: Auth::Device,
             request: Some(req(&["offer", "claim"], json!({
                 "offer": { "type": "string", "maxLength": 8192, "description": "COSE_Sign1 TopUpOffer, base64url" },
                 "claim": { "type": "string", "maxLength": 8192, "description": "COSE_Sign1 TopUpClaim, base64url" } }))),
             success: ("201", obj(&["top_up_id", "receipt", "amount_minor", "currency", "balance_minor"],
                 json!({ "top_up_id": s(), "receipt": { "type": "string", "description": "COSE_Sign1 TopUpReceipt, base64url" },
                         "amount_minor": int(), "currency": s(), "balance_minor": int() }))),
             errors: &["400", "401", "403", "404", "409", "410", "422"] },
        Op { method: "post", path: "/v1/platform/top-up-confirmations", id: "confirmKioskTopUp",
             summary: "The calling top_up terminal asks about one of its own offers (an order of another terminal is never seen): credited (with the receipt), open (not credited yet and the offer may still be credited: ask again after expires_at_ms) or not_credited (no claim was credited; final once the offer's expires_at_ms passed more than 5 s ago — the server never credits an offer after it closed). With expires_at_ms (the offer's, as the terminal signed it) the server answers open until then; without it, not_credited means only \"not credited as of now\".",
             auth: Auth::Terminal,
             request: Some(req(&["order_id"], json!({ "order_id": id(), "expires_at_ms": unsigned() }))),
             success: ("200", obj(&["credited", "status"], json!({ "credited": { "type": "boolean" },
                 "status": { "enum": ["credited", "open", "not_credited"] }, "top_up_id": s(),
                 "receipt": { "type": "string", "description": "COSE_Sign1 TopUpReceipt, base64url" },
                 "amount_minor": int(), "currency": s() }))),
             errors: &["400", "401", "422"] },
    ]
}
