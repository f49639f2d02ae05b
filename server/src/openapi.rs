//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`, generated
//! from the code: each handler carries its `#[utoipa::path]` operation,
//! each area builds its router with `utoipa_axum`'s `OpenApiRouter` and
//! `routes!`, so the routes served and the operations documented come from
//! one list (`crate::routes::api`). [`document`] then adds what utoipa does
//! not generate (see [`finish`]): the info block, the security schemes, the
//! shared error answers, the links between operations, and the answers
//! every operation can give (405, 413, 500, 503; 400 and 422 with a body).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Ref, RefOr};
use utoipa::ToResponse;

use links::add_links;
use schemas::{int, obj, range, s, text, unsigned};

pub(crate) mod constraints;
mod links;
mod schemas;

/// The served document: `generated` (the area routers' annotated
/// operations and the schemas they name) in the frame of [`base`], then
/// [`finish`]ed.
pub(crate) fn document(generated: utoipa::openapi::OpenApi) -> Value {
    let mut doc = base();
    let mut generated = serde_json::to_value(generated).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the generated OpenAPI document does not serialize");
        Value::Null
    });
    if let paths @ Value::Object(_) = generated["paths"].take() {
        doc["paths"] = paths;
    }
    if let (Some(schemas), Some(generated)) = (
        doc["components"]["schemas"].as_object_mut(),
        generated["components"]["schemas"].as_object(),
    ) {
        schemas.extend(generated.clone());
    }
    finish(&mut doc);
    doc
}

/// What every operation gets beside its own annotation: `security: []`
/// when it names none (no credential), the shared error answers for an
/// unknown method (405), an oversized body (413), a failure (500) and an
/// overloaded server (503), and for an operation with a body the answers
/// to an unreadable (400) or ill-shaped one (422); then the links between
/// operations ([`links::add_links`]).
fn finish(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            op.entry("security").or_insert_with(|| json!([]));
            let with_body = op.contains_key("requestBody");
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            let body_errors: &[&str] = if with_body { &["400", "422"] } else { &[] };
            for status in body_errors.iter().chain(&["405", "413", "500", "503"]) {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| json!({ "$ref": "#/components/responses/Error" }));
            }
        }
    }
    add_links(paths);
    // A guardian invitation shown as a nickname needs the nickname
    // (`guardians::routes::invite`): a conditional utoipa cannot say.
    if let Some(schema) = doc["components"]["schemas"].get_mut("GuardianInvitationRequest") {
        schema["if"] = json!({ "required": ["shown_as"], "properties": { "shown_as": { "const": "nickname" } } });
        schema["then"] =
            json!({ "required": ["nickname"], "properties": { "nickname": text(40) } });
    }
    // An APNs token is hex (`push::tokens::check_token`): a conditional on
    // the platform, which utoipa's schemas cannot say.
    if let Some(schema) = doc["components"]["schemas"].get_mut("PushTokenRequest") {
        schema["if"] =
            json!({ "required": ["platform"], "properties": { "platform": { "const": "apns" } } });
        schema["then"] = json!({ "properties": { "token": { "type": "string",
            "pattern": "^([0-9A-Fa-f]{2}){32,100}$" } } });
    }
}

/// The error answer (`{"error":{"code","message"}}`, the `Error`
/// response of the document's components): [`Fails`] refers to it, and so
/// does `response = ErrorAnswer` in a `#[utoipa::path]`.
pub(crate) struct ErrorAnswer;

impl<'r> ToResponse<'r> for ErrorAnswer {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "Error",
            RefOr::T(ResponseBuilder::new().description("An error").build()),
        )
    }
}

/// The `TooManyAttempts` response of the document's components (429 with
/// `retry-after`): [`Fails`] refers to it for 429, and so does `response =
/// TooManyAttempts`.
pub(crate) struct TooManyAttempts;

impl<'r> ToResponse<'r> for TooManyAttempts {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "TooManyAttempts",
            RefOr::T(
                ResponseBuilder::new()
                    .description("too_many_attempts")
                    .build(),
            ),
        )
    }
}

/// The error answers of an operation, by status: `Fails<401, 404>` in a
/// `#[utoipa::path]`'s `responses(...)`, next to the success tuples, refers
/// each status to the shared `Error` response ([`ErrorAnswer`]), and 429 to
/// `TooManyAttempts`; one entry in place of a tuple per status. Up to eight
/// statuses; the unused ones are 0.
pub(crate) struct Fails<
    const A: u16,
    const B: u16 = 0,
    const C: u16 = 0,
    const D: u16 = 0,
    const E: u16 = 0,
    const F: u16 = 0,
    const G: u16 = 0,
    const H: u16 = 0,
>;

impl<
        const A: u16,
        const B: u16,
        const C: u16,
        const D: u16,
        const E: u16,
        const F: u16,
        const G: u16,
        const H: u16,
    > utoipa::IntoResponses for Fails<A, B, C, D, E, F, G, H>
{
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [A, B, C, D, E, F, G, H]
            .into_iter()
            .filter(|status| *status != 0)
            .map(|status| {
                let (name, _) = if status == 429 {
                    <TooManyAttempts as ToResponse>::response()
                } else {
                    <ErrorAnswer as ToResponse>::response()
                };
                (
                    status.to_string(),
                    RefOr::Ref(Ref::from_response_name(name)),
                )
            })
            .collect()
    }
}

/// The frame of the document: the info block, the security schemes, and
/// the shared components utoipa does not generate (the error answers, and
/// the schemas of values the protocol crate or the stored alerts define).
fn base() -> Value {
    let signature_doc = "Headers x-wayfare-key-id, x-wayfare-timestamp (Unix ms, within ±5 min), x-wayfare-nonce (fresh) and x-wayfare-signature, made by wayfare_protocol::request_auth::sign_request over method, path with query, timestamp, nonce and SHA-256 of the body.";
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Wayfare control center",
            "version": "1",
            "description": "JSON over HTTPS. Binary values are unpadded base64url; amounts are integers of minor units; times are Unix milliseconds."
        },
        "paths": {},
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
                "FareContext": { "type": "object",
                    "required": ["mode", "line", "vehicle", "direction", "station", "station_index"],
                    "properties": { "mode": { "enum": ["flat", "tap_out", "maximum_fare", "tap_in"] },
                        "line": s(), "vehicle": s(), "station": s(), "station_index": range(0, u32::MAX.into()),
                        "direction": { "type": "object", "required": ["from", "towards"],
                            "properties": { "from": s(), "towards": s() } },
                        "entry": { "type": ["object", "null"], "required": ["station", "station_index", "at_ms", "token_id"],
                            "properties": { "station": s(), "station_index": range(0, u32::MAX.into()),
                                "at_ms": unsigned(), "token_id": s() } } } },
                // A guardian alert as stored and served again
                // (`guardians::alerts`, `GET /v1/guardians/alerts`).
                "Alert": { "type": "object", "required": ["alert_id", "binding_id", "payment_id", "amount_minor", "currency", "merchant_name",
                    "at_ms", "local_time", "utc_offset", "text_en", "text_zh"],
                    "properties": { "alert_id": s(), "binding_id": s(), "scope": s(), "rider_name": s(), "rider_name_zh": s(),
                        "payment_id": s(), "amount_minor": int(), "currency": s(), "amount_text": s(), "merchant_name": s(),
                        "terminal_kind": s(), "at_ms": int(), "local_date": s(), "local_time": s(), "utc_offset": s(),
                        "transit": { "type": ["object", "null"] }, "text_en": s(), "text_zh": s(), "event_id": int() } }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let doc = super::document(crate::routes::api(Default::default()).into_openapi());
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

    /// The billing operations, once written by hand, keep the limits the
    /// handlers enforce (the generated schemas could silently lose one).
    #[test]
    fn billing_operations_keep_their_constraints() {
        let doc = super::document(crate::routes::api(Default::default()).into_openapi());
        let settlements = &doc["paths"]["/v1/settlements"]["get"];
        let date = &settlements["parameters"][0];
        assert_eq!(
            (&date["name"], &date["required"]),
            (&"date".into(), &true.into())
        );
        assert_eq!(date["schema"]["pattern"], super::constraints::DATE_PATTERN);
        assert!(settlements["responses"]["200"]["content"]["text/csv"].is_object());
        let schemas = &doc["components"]["schemas"];
        let entries = &schemas["Statement"]["properties"]["entries"];
        assert_eq!(entries["maxItems"], crate::billing::MAX_STATEMENT_LINES);
        assert_eq!(schemas["Statement"]["additionalProperties"], false);
        let entry = &schemas["StatementEntry"]["properties"];
        assert_eq!(entry["currency"]["enum"].as_array().map(Vec::len), Some(7));
        assert_eq!(
            entry["payment_id"]["pattern"],
            super::constraints::ID_PATTERN
        );
        let offset = &schemas["BillingDayClose"]["properties"]["utc_offset_minutes"];
        assert_eq!(
            (&offset["minimum"], &offset["maximum"]),
            (&(-840).into(), &840.into())
        );
        let close = &doc["paths"]["/v1/billing/exports"]["post"]["responses"];
        assert!(close["201"].is_object() && close["200"].is_object());
        let store = &doc["paths"]["/v1/billing/reconciliations"]["post"];
        assert!(store["requestBody"]["content"]["application/json"].is_object());
        assert_eq!(store["parameters"].as_array().map(Vec::len), Some(3));
    }
}
