//! OpenAPI operations of push tokens (issue 13.4, decision 0019).

use serde_json::json;

use super::{int, obj, req, Auth, Op};

/// The token's alphabet and length depend on the platform: an FCM token
/// (1..1024 of A-Z a-z 0-9 - _ : .), an APNs device token in hex (64..200
/// hex digits, an even number).
fn token_by_platform(mut schema: serde_json::Value) -> serde_json::Value {
    schema["if"] =
        json!({ "required": ["platform"], "properties": { "platform": { "const": "apns" } } });
    schema["then"] = json!({ "properties": { "token": { "type": "string", "pattern": "^([0-9A-Fa-f]{2}){32,100}$" } } });
    schema
}

pub(super) fn ops() -> Vec<Op> {
    let registered = obj(
        &["device_id", "platform", "locale", "updated_at_ms"],
        json!({ "device_id": { "type": "string" }, "platform": { "enum": ["fcm", "apns"] },
                "locale": { "enum": ["en", "zh"] }, "updated_at_ms": int() }),
    );
    vec![
        Op { method: "put", path: "/v1/devices/push-token", id: "registerPushToken",
             summary: "The signing device registers the token its app got from Firebase Cloud Messaging (fcm: 1..1024 of A-Z a-z 0-9 - _ : .) or APNs (apns: the device token in hex, 64..200 hex digits, an even number), and the language of its pushes. One token per device: a new one replaces it; a token another device had moves to this one. Guardian alerts and merchant prompts then also reach the app when it is closed: a push carries only the message id, its kind and a short text in that language; the app fetches the rest over the signed API. The token is never answered back. 422 invalid_field names the field.",
             auth: Auth::Device,
             request: Some(token_by_platform(req(&["platform", "token", "locale"], json!({
                 "platform": { "enum": ["fcm", "apns"] },
                 "token": { "type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[A-Za-z0-9_:.-]+$" },
                 "locale": { "enum": ["en", "zh"] } })))),
             success: ("200", registered),
             errors: &["400", "401", "422"] },
        Op { method: "delete", path: "/v1/devices/push-token", id: "removePushToken",
             summary: "The signing device stops receiving pushes (removed is false when it had no token).",
             auth: Auth::Device, request: None,
             success: ("200", obj(&["device_id", "removed"], json!({ "device_id": { "type": "string" }, "removed": { "type": "boolean" } }))),
             errors: &["401"] },
    ]
}
