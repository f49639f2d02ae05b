//! Unauthenticated endpoints: health, public keys, the OpenAPI document,
//! and the JSON answers for unknown paths and methods.

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/health`.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /v1/keys`: the keys apps and terminals pin.
pub(crate) async fn keys(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "operator_key": state.keys().operator.public_key().to_base64(),
        "receipt_key": state.keys().receipt.public_key().to_base64(),
    }))
}

/// `GET /v1/openapi.json`.
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Any path that is not routed.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no endpoint at {}; see GET /v1/openapi.json",
        uri.path()
    ))
}

/// A routed path called with the wrong method.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not supported on {}; see GET /v1/openapi.json",
        uri.path()
    ))
}
