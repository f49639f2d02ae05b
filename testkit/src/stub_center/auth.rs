//! Signature checks of the stub's routes, as the control center makes
//! them: device routes verify against the key the stub registered (or the
//! key a registration carries), terminal routes against the one terminal.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::request_auth::{self, RequestSignature};

use super::{error, App};
use crate::clock::now_ms;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The signature headers, or `None` without a key id.
fn signature(headers: &HeaderMap) -> Option<RequestSignature> {
    Some(RequestSignature {
        key_id: header(headers, request_auth::HEADER_KEY_ID)?,
        timestamp_ms: header(headers, request_auth::HEADER_TIMESTAMP)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        nonce: header(headers, request_auth::HEADER_NONCE).unwrap_or_default(),
        signature: header(headers, request_auth::HEADER_SIGNATURE).unwrap_or_default(),
    })
}

/// Splits `req` into its head and body, read whole: the signature covers
/// the body, and the handler gets it back through `Request::from_parts`.
async fn take_body(req: Request) -> (axum::http::request::Parts, Bytes) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("reading the request body");
    (parts, bytes)
}

/// The request target as signed: the path with its query.
fn signed_path(parts: &axum::http::request::Parts) -> &str {
    parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str())
}

/// Device routes: the signature must verify when the signer is known
/// (registration signs with the key it registers; a device the test
/// pre-registered is unknown here and passes unchecked).
pub(super) async fn device_auth(State(app): State<App>, req: Request, next: Next) -> Response {
    let (parts, body) = take_body(req).await;
    let ok = match signature(&parts.headers) {
        None => false,
        Some(sig) => {
            let key = if sig.key_id == "register" {
                let json: Value = serde_json::from_slice(&body).expect("a JSON registration");
                Some(
                    PublicKey::from_base64(json["device_key"].as_str().expect("device_key"))
                        .expect("a device key"),
                )
            } else {
                let s = app.state.lock().expect("stub state");
                s.devices.get(&sig.key_id).copied()
            };
            match key {
                None => true,
                Some(key) => {
                    let method = parts.method.as_str();
                    let path = signed_path(&parts);
                    let ok =
                        request_auth::verify_request(&key, &sig, method, path, &body, now_ms())
                            .is_ok();
                    if ok {
                        app.state.lock().expect("stub state").verified += 1;
                    }
                    ok
                }
            }
        }
    };
    if !ok {
        return error(401, "bad_signature", "signature does not verify");
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// Terminal routes: only the configured terminal, signing with its key.
pub(super) async fn terminal_auth(State(app): State<App>, req: Request, next: Next) -> Response {
    let (parts, body) = take_body(req).await;
    let ok = {
        let mut s = app.state.lock().expect("stub state");
        let ok = match (signature(&parts.headers), &s.terminal) {
            (Some(sig), Some((id, key))) => {
                sig.key_id == *id
                    && request_auth::verify_request(
                        key,
                        &sig,
                        parts.method.as_str(),
                        signed_path(&parts),
                        &body,
                        now_ms(),
                    )
                    .is_ok()
            }
            _ => false,
        };
        if !ok {
            s.bad_signatures += 1;
        }
        ok
    };
    if !ok {
        return error(401, "bad_signature", "x");
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}
