//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`, written by
//! hand to mirror `docs/api.md`.

use serde_json::{json, Map, Value};

use links::add_links;
use schemas::{
    amount, currency, date, id, int, int_or_null, key, limit, obj, offset, range, req, s,
    s_or_null, sse_event, text, unsigned,
};

mod billing_ops;
mod express_ops;
mod funding_ops;
mod guardian_ops;
mod kiosk_ops;
mod links;
mod merchant_ops;
mod metrics_ops;
mod points_ops;
mod push_ops;
mod registration_ops;
mod schemas;

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Auth {
    None,
    Device,
    Register,
    Terminal,
    Admin,
}

impl Auth {
    fn security(self) -> Value {
        match self {
            Auth::None => json!([]),
            Auth::Device | Auth::Register => json!([{ "deviceSignature": [] }]),
            Auth::Terminal => json!([{ "terminalSignature": [] }]),
            Auth::Admin => json!([{ "adminToken": [] }]),
        }
    }
}

struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    auth: Auth,
    request: Option<Value>,
    success: (&'static str, Value),
    errors: &'static [&'static str],
}

fn ops() -> Vec<Op> {
    let payment_result = json!({ "$ref": "#/components/schemas/PaymentResult" });
    let account = obj(
        &[
            "account_id",
            "kind",
            "display_name",
            "balance_minor",
            "currency",
            "points",
        ],
        json!({ "account_id": s(), "kind": { "enum": ["user", "merchant", "funding", "loyalty", "cash_float"] },
                "display_name": s(), "balance_minor": int(), "currency": s(), "points": int() }),
    );
    vec![
        Op { method: "get", path: "/v1/health", id: "health", summary: "Liveness check.",
             auth: Auth::None, request: None,
             success: ("200", obj(&["status"], json!({ "status": { "const": "ok" } }))), errors: &[] },
        Op { method: "get", path: "/v1/keys", id: "keys",
             summary: "The operator and receipt Ed25519 public keys (base64url) that apps and terminals pin.",
             auth: Auth::None, request: None,
             success: ("200", obj(&["operator_key", "receipt_key"], json!({ "operator_key": s(), "receipt_key": s() }))),
             errors: &[] },
        Op { method: "get", path: "/v1/openapi.json", id: "openapi", summary: "This document.",
             auth: Auth::None, request: None, success: ("200", json!({ "type": "object" })), errors: &[] },
        Op { method: "post", path: "/v1/devices", id: "registerDevice",
             summary: "Registers a phone key and creates its wallet. Signed with x-wayfare-key-id: register by the key in the body (proof of possession). Re-registering the same key answers 200 with the same account. Currency defaults to CNY; the phone number stays server-side.",
             auth: Auth::Register,
             request: Some(req(&["display_name", "device_key"], json!({ "display_name": text(64), "device_key": key(),
                 "phone_number": { "type": "string", "pattern": "^\\+?[0-9]{6,15}$" }, "currency": currency() }))),
             success: ("201", obj(&["account_id", "device_id", "handle", "currency"], json!({ "account_id": s(), "device_id": s(), "handle": s(), "currency": s() }))),
             errors: &["400", "401", "422"] },
        Op { method: "get", path: "/v1/wallet", id: "wallet", summary: "The device's wallet.",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["account_id", "handle", "display_name", "balance_minor", "currency", "points"],
                 json!({ "account_id": s(), "handle": s(), "display_name": s(), "balance_minor": int(), "currency": s(), "points": int() }))),
             errors: &["401"] },
        Op { method: "get", path: "/v1/wallet/history", id: "walletHistory",
             summary: "Ledger entries of the wallet, newest first. Query limit=1..500 (default 50).",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["entries"], json!({ "entries": { "type": "array", "items": { "$ref": "#/components/schemas/HistoryEntry" } } }))),
             errors: &["401", "422"] },
        Op { method: "post", path: "/v1/sandbox/top-ups", id: "sandboxTopUp",
             summary: "SANDBOX funding: credits an account from the per-currency sandbox funding account. The same reference twice is one top-up (201 again, with the first top-up). Unknown account 404; an account in another currency 422 currency_mismatch.",
             auth: Auth::Admin,
             request: Some(req(&["account_id", "amount_minor", "currency"], json!({ "account_id": id(), "amount_minor": amount(), "currency": currency(), "reference": id() }))),
             success: ("201", obj(&["top_up_id", "account_id", "balance_minor", "currency"], json!({ "top_up_id": s(), "account_id": s(), "balance_minor": int(), "currency": s() }))),
             errors: &["400", "401", "404", "409", "422"] },
        Op { method: "post", path: "/v1/payments", id: "createPayment",
             summary: "Pays with a device-signed PaymentInstruction (with points_spent > 0, that many loyalty points pay part of the amount at the merchant's points rate: 422 points_not_accepted without a rate, 402 insufficient_points, 422 invalid_field over the merchant's cap or the amount). Header idempotency-key must equal the instruction's, which must be payment_idempotency_key(account_id, terminal_id, order_id) (else 422 invalid_field); keys are scoped to the paying account. 201 new, 200 replay of the same key and terms (even after expiry), 409 same key with other terms.",
             auth: Auth::Device,
             request: Some(req(&["instruction"], json!({ "instruction": { "type": "string", "description": "COSE_Sign1 PaymentInstruction, base64url" } }))),
             success: ("201", payment_result.clone()),
             errors: &["400", "401", "402", "403", "404", "409", "410", "422"] },
        Op { method: "get", path: "/v1/payments/{idempotency_key}", id: "getPayment",
             summary: "The payer's payment with this idempotency key (looked up within the caller's account only).",
             auth: Auth::Device, request: None, success: ("200", payment_result),
             errors: &["401", "404"] },
        Op { method: "post", path: "/v1/merchants", id: "createMerchant", summary: "Creates a merchant and its settlement account.",
             auth: Auth::Admin,
             request: Some(req(&["name", "currency"], json!({ "name": text(100), "currency": currency(), "operator": text(100),
                 "fee_bps": range(0, 10_000) }))),
             success: ("201", obj(&["merchant_id", "account_id", "name", "currency", "operator", "fee_bps"], json!({ "merchant_id": s(), "account_id": s(), "name": s(), "currency": s(), "operator": s(), "fee_bps": int() }))),
             errors: &["400", "401", "422"] },
        Op { method: "get", path: "/v1/accounts/{account_id}", id: "getAccount", summary: "Any account.",
             auth: Auth::Admin, request: None, success: ("200", account), errors: &["401", "404"] },
        Op { method: "post", path: "/v1/terminals", id: "registerTerminal",
             summary: "Registers an access terminal and issues its operator-signed certificate (valid from now-1min for valid_for_days, default 365). Unknown merchant 404.",
             auth: Auth::Admin,
             request: Some(req(&["merchant_id", "kind", "terminal_key"], json!({ "merchant_id": id(),
                 "kind": { "enum": ["pos", "tram", "gate", "top_up"] }, "terminal_key": key(), "label": text(100),
                 "location": req(&[], json!({ "line": text(100), "vehicle": text(100), "station": text(100), "station_index": range(0, u32::MAX.into()),
                     "tap_role": { "enum": ["entry", "exit", "both"] }, "direction_from": text(100), "direction_towards": text(100),
                     "utc_offset_minutes": offset() })),
                 "valid_for_days": range(1, 3650) }))),
             success: ("201", obj(&["terminal_id", "certificate", "operator_key", "receipt_key"], json!({ "terminal_id": s(), "certificate": s(), "operator_key": s(), "receipt_key": s() }))),
             errors: &["400", "401", "404", "422"] },
        Op { method: "post", path: "/v1/platform/confirmations", id: "confirmPayment",
             summary: "P3.3: confirmed is true only for a completed payment made at the calling terminal for that order. A payment of another terminal is 404. Without payment_id, answers for the order (an in-doubt sale): completed with its payment, or not_paid.",
             auth: Auth::Terminal,
             request: Some(req(&["order_id"], json!({ "payment_id": id(), "order_id": id(), "token_id": id() }))),
             success: ("200", obj(&["confirmed", "status"], json!({ "confirmed": { "type": "boolean" },
                 "status": { "enum": ["completed", "order_mismatch", "not_paid"] }, "payment_id": s(), "amount_minor": int(), "currency": s() }))),
             errors: &["400", "401", "404", "422"] },
        Op { method: "get", path: "/v1/terminals/me/events", id: "terminalEvents",
             summary: "Server-sent events `payment.completed` (id = per-terminal sequence, data = {payment_id, order_id, amount_minor, currency, completed_at_ms}). With Last-Event-ID: every event after it; without: events from the moment of connection.",
             auth: Auth::Terminal, request: None,
             success: ("200", sse_event(&["payment.completed"])),
             errors: &["401", "422"] },
        Op { method: "post", path: "/v1/terminals/me/reports", id: "submitReport",
             summary: "Stores a terminal report once per report_id.",
             auth: Auth::Terminal,
             request: Some(req(&["report_id", "kind", "order_id", "at_ms", "detail"], json!({ "report_id": id(), "kind": text(64), "order_id": id(),
                 "payment_id": id(), "amount_minor": amount(), "currency": currency(), "fare": { "$ref": "#/components/schemas/FareContext" },
                 "at_ms": unsigned(), "detail": { "type": "string", "maxLength": 2000 },
                 "entry_consent": { "type": "string", "maxLength": 4096, "description": "at most 4096 bytes" } }))),
             success: ("200", obj(&["accepted"], json!({ "accepted": { "const": true } }))),
             errors: &["400", "401", "422"] },
        Op { method: "get", path: "/v1/terminals/{terminal_id}/reports", id: "listReports",
             summary: "A terminal's reports, oldest first.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["reports"], json!({ "reports": { "type": "array", "items": { "type": "object" } } }))),
             errors: &["401", "404"] },
        Op { method: "get", path: "/v1/ledger/check", id: "ledgerCheck",
             summary: "The double-entry invariants: sum_minor is 0, balance_mismatches is 0 (money); points_sum is 0, points_mismatches is 0 (loyalty points, each account's points equal its points entries). Both sums include the pending entries (postings to a merchant's or the loyalty account not yet folded into it; pending_entries counts them).",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["sum_minor", "entries", "pending_entries", "balance_mismatches", "points_sum", "points_entries", "points_mismatches"],
                 json!({ "sum_minor": int(), "entries": int(), "pending_entries": int(), "balance_mismatches": int(), "points_sum": int(), "points_entries": int(), "points_mismatches": int() }))),
             errors: &["401"] },
        Op { method: "post", path: "/v1/transit/sweep", id: "transitSweep",
             summary: "P3.6 incomplete journeys: charges the maximum fare, once, for every open entry whose tap-in token expired more than grace_ms ago (default 6 h). The server also runs this periodically.",
             auth: Auth::Admin, request: None,
             success: ("200", obj(&["charged"], json!({ "charged": int() }))),
             errors: &["401", "422"] },
    ]
}

/// Operations whose success is 201 for a new object and 200 for the same
/// request again, or for an object that already was as asked.
const REPLAYS_ANSWER_200: &[&str] = &[
    "registerDevice",
    "createPayment",
    "closeBillingDay",
    "startTopUp",
    "claimKioskTopUp",
    "registerRider",
    "refundPayment",
    "forwardExternalNotice",
];

fn operation(op: &Op) -> Value {
    let mut responses = Map::new();
    let content = if op.path.ends_with("/events") {
        "text/event-stream"
    } else if op.path == "/metrics" {
        "text/plain; version=0.0.4"
    } else {
        "application/json"
    };
    responses.insert(
        op.success.0.to_string(),
        json!({ "description": "success", "content": { content: { "schema": op.success.1 } } }),
    );
    if REPLAYS_ANSWER_200.contains(&op.id) {
        responses.insert(
            "200".into(),
            json!({ "description": "the same request again (a replay), or the object as it already was",
                "content": { "application/json": { "schema": op.success.1 } } }),
        );
    }
    let mut errors: Vec<&str> = op.errors.to_vec();
    if op.request.is_some() {
        // An empty or unreadable body; a body of the wrong shape.
        errors.extend(["400", "422"]);
    }
    errors.sort_unstable();
    errors.dedup();
    errors.extend(["405", "413", "500", "503"]);
    for status in errors {
        let reference = if status == "429" {
            "#/components/responses/TooManyAttempts"
        } else {
            "#/components/responses/Error"
        };
        responses.insert(status.to_string(), json!({ "$ref": reference }));
    }
    let mut value = json!({ "operationId": op.id, "summary": op.summary,
        "security": op.auth.security(), "responses": responses });
    if let Some(schema) = &op.request {
        value["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    }
    let mut params = Vec::new();
    // Every `{name}` of the path: an identifier (`check_id`'s alphabet;
    // anything else, like an unknown one, answers 404 or 422).
    let mut rest = op.path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let name = &rest[start + 1..end];
        params.push(json!({ "name": name, "in": "path", "required": true, "schema": id() }));
        rest = &rest[(end + 1).min(rest.len())..];
    }
    let query = |name: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "schema": schema });
    match op.id {
        "createPayment" => params.push(json!({ "name": "idempotency-key", "in": "header",
            "required": true, "schema": id(),
            "description": "the instruction's idempotency_key" })),
        "walletHistory" | "listGuardianAlerts" | "merchantPayments" => {
            params.push(query("limit", limit()));
        }
        "listGuardianBindings" => {
            params.push(query("include_ended", json!({ "type": "boolean" })));
        }
        "transitSweep" => params.push(query("grace_ms", unsigned())),
        "listTopUps" => {
            params.push(query(
                "status",
                json!({ "enum": ["pending", "confirmed", "failed"] }),
            ));
            params.push(query("limit", limit()));
        }
        "fundingCallback" => params.push(
            json!({ "name": "wayfare-signature", "in": "header", "required": true, "schema": s(),
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"t.body\")>" }),
        ),
        "billingExports" | "reconciliations" => params.push(query("date", date())),
        "settlements" => {
            value["responses"]["200"]["content"]["text/csv"] = json!({ "schema": { "type": "string",
                "description": "format=csv: the records, one line each, after a header row" } });
            params
                .push(json!({ "name": "date", "in": "query", "required": true, "schema": date() }));
            params.push(query("utc_offset_minutes", offset()));
            params.push(query("format", json!({ "enum": ["json", "csv"] })));
        }
        "terminalEvents" => params.push(
            json!({ "name": "Last-Event-ID", "in": "header", "required": false,
            "schema": range(0, i64::MAX) }),
        ),
        "deviceEvents" => {
            params.push(
                json!({ "name": "Last-Event-ID", "in": "header", "required": false,
                "schema": range(0, i64::MAX) }),
            );
            params.push(json!({ "name": "follow", "in": "query", "required": false,
                "schema": { "type": "boolean" },
                "description": "false: end the response once every event after Last-Event-ID was sent (a background catch-up); default true" }));
        }
        "storeReconciliation" => {
            for (name, schema) in [
                ("date", date()),
                ("utc_offset_minutes", offset()),
                ("merchant_id", id()),
            ] {
                params.push(json!({ "name": name, "in": "query", "required": false,
                    "schema": schema,
                    "description": "text/csv uploads only (date required there); with a JSON body, 422" }));
            }
            value["requestBody"]["content"]["text/csv"] = json!({ "schema": { "type": "string",
                "description": "header row with payment_id, amount_minor, currency (any order, other columns ignored), then one line per payment; the day in the query (date required, utc_offset_minutes, merchant_id)" } });
        }
        _ => {}
    }
    if !params.is_empty() {
        value["parameters"] = Value::Array(params);
    }
    value
}

/// Builds the document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in ops()
        .into_iter()
        .chain(guardian_ops::ops())
        .chain(merchant_ops::ops())
        .chain(registration_ops::ops())
        .chain(express_ops::ops())
        .chain(billing_ops::ops())
        .chain(points_ops::ops())
        .chain(kiosk_ops::ops())
        .chain(funding_ops::ops())
        .chain(metrics_ops::ops())
        .chain(push_ops::ops())
    {
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = operation(&op);
    }
    add_links(&mut paths);
    let signature_doc = "Headers x-wayfare-key-id, x-wayfare-timestamp (Unix ms, within ±5 min), x-wayfare-nonce (fresh) and x-wayfare-signature, made by wayfare_protocol::request_auth::sign_request over method, path with query, timestamp, nonce and SHA-256 of the body.";
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Wayfare control center",
            "version": "1",
            "description": "JSON over HTTPS. Binary values are unpadded base64url; amounts are integers of minor units; times are Unix milliseconds."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "deviceSignature": { "type": "apiKey", "in": "header", "name": "x-wayfare-signature",
                    "description": format!("{signature_doc} Key id: the device id (or `register` for POST /v1/devices).") },
                "terminalSignature": { "type": "apiKey", "in": "header", "name": "x-wayfare-signature",
                    "description": format!("{signature_doc} Key id: the terminal id.") },
                "adminToken": { "type": "http", "scheme": "bearer",
                    "description": "The operator token from DATA_DIR/admin-token." }
            },
            "responses": {
                "Error": { "description": "An error", "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Error" } } } },
                "TooManyAttempts": { "description": "too_many_attempts: too many failed attempts; retry after the retry-after header's seconds",
                    "headers": { "retry-after": { "required": true, "schema": { "type": "integer", "minimum": 1 } } },
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            },
            "schemas": {
                "Error": obj(&["error"], json!({ "error": obj(&["code", "message"], json!({
                    "code": { "enum": ["malformed_json", "invalid_field", "invalid_amount", "unsupported_currency",
                        "unauthorized", "bad_signature", "stale_request", "replayed_request", "forbidden",
                        "not_found", "unknown_device", "unknown_terminal", "unknown_merchant",
                        "insufficient_funds", "request_expired", "idempotency_conflict", "order_already_paid",
                        "top_up_already_claimed", "offer_expired",
                        "callback_mismatch",
                        "currency_mismatch", "payload_too_large", "method_not_allowed", "server_busy",
                        "guardian_limit_reached", "invitation_invalid", "too_many_attempts", "already_bound",
                        "binding_ended", "tap_in_token_used", "missing_scope", "refund_exceeds_payment",
                        "already_member", "express_blocked", "malformed_csv", "day_not_ended",
                        "points_not_accepted", "insufficient_points", "internal"] },
                    "message": s() })) })),
                "PaymentResult": obj(&["payment_id", "status", "receipt", "amount_minor", "currency",
                    "balance_after_minor", "merchant_id", "terminal_id", "order_id", "completed_at_ms",
                    "points_spent", "points_value_minor"],
                    json!({ "payment_id": s(), "status": { "const": "completed" },
                        "receipt": { "type": "string", "description": "COSE_Sign1 Receipt, base64url" },
                        "amount_minor": int(), "currency": s(), "balance_after_minor": int(),
                        "merchant_id": s(), "terminal_id": s(), "order_id": s(), "completed_at_ms": int(),
                        "points_spent": { "type": "integer", "minimum": 0, "description": "loyalty points spent (0 when none)" },
                        "points_value_minor": { "type": "integer", "minimum": 0, "description": "what the points paid; the balance paid amount_minor - points_value_minor" } })),
                "FareContext": { "type": "object",
                    "required": ["mode", "line", "vehicle", "direction", "station", "station_index"],
                    "properties": { "mode": { "enum": ["flat", "tap_out", "maximum_fare", "tap_in"] },
                        "line": s(), "vehicle": s(), "station": s(), "station_index": range(0, u32::MAX.into()),
                        "direction": { "type": "object", "required": ["from", "towards"],
                            "properties": { "from": s(), "towards": s() } },
                        "entry": { "type": ["object", "null"], "required": ["station", "station_index", "at_ms", "token_id"],
                            "properties": { "station": s(), "station_index": range(0, u32::MAX.into()),
                                "at_ms": unsigned(), "token_id": s() } } } },
                "Binding": guardian_ops::schemas()["Binding"].clone(),
                "Alert": guardian_ops::schemas()["Alert"].clone(),
                "HistoryEntry": obj(&["entry_id", "kind", "amount_minor", "currency", "balance_after_minor", "description", "at_ms"],
                    json!({ "entry_id": s(), "kind": { "enum": ["payment", "top_up", "refund"] },
                        "amount_minor": int(), "currency": s(), "balance_after_minor": int(),
                        "payment_id": s(), "merchant_name": s(), "description": s(), "at_ms": int(),
                        "points_spent": int(), "points_value_minor": int(), "points_returned": int() }))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        // + 1: POST /v1/transit/sweep (incomplete journeys); + 6: express;
        // + 4: the billing exchange (exports, reconciliations); + 2: points
        // rates (admin and device).
        // + 2: kiosk top-ups (claim, terminal confirmation).
        // + 5: over-the-air top-up (start, providers, status, callback, list).
        // + 1: /metrics. + 1: push tokens (put, delete).
        assert_eq!(paths.len(), 29 + 9 + 4 + 1 + 6 + 4 + 2 + 2 + 5 + 1 + 1);
        let push = &doc["paths"]["/v1/devices/push-token"];
        assert!(push["put"]["requestBody"].is_object() && push["delete"].is_object());
        assert!(
            doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
                ["text/plain; version=0.0.4"]
                .is_object()
        );
        assert!(
            doc["paths"]["/v1/billing/reconciliations"]["post"]["requestBody"]["content"]
                ["text/csv"]
                .is_object()
        );
        assert!(doc["paths"]["/v1/payments"]["post"]["security"].is_array());
        let mut ids = std::collections::HashSet::new();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "{id} twice");
                // Every `{name}` of the path is a declared path parameter
                // (the API fuzzer found 13 that were not).
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let named: Vec<&str> = path
                    .split('{')
                    .skip(1)
                    .filter_map(|rest| rest.split('}').next())
                    .collect();
                assert_eq!(declared, named, "{method} {path}");
            }
        }
        // Every link names an operation of the document, from a response it has.
        for (from, status, to, _) in super::links::links() {
            assert!(ids.contains(from) && ids.contains(to), "{from} -> {to}");
            let linked = paths
                .values()
                .flat_map(|item| item.as_object().unwrap().values())
                .any(|op| {
                    op["operationId"] == from && op["responses"][status]["links"][to].is_object()
                });
            assert!(linked, "{from} {status} -> {to}");
        }
    }
}
