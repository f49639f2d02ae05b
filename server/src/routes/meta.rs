//! Unauthenticated endpoints: health, public keys, the OpenAPI document,
//! and the JSON answers for unknown paths and methods.

use axum::extract::State;
use axum::http::{header, Method, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// The answer to `GET /v1/health`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    status: Liveness,
}

/// The server is up.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Liveness {
    /// It answers.
    Ok,
}

/// `GET /v1/health`.
#[utoipa::path(get, path = "/v1/health", operation_id = "health", tag = "meta",
    summary = "Liveness check.",
    responses((status = 200, description = "success", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: Liveness::Ok,
    })
}

/// The keys apps and terminals pin (Ed25519, base64url).
#[derive(Serialize, ToSchema)]
pub(crate) struct Keys {
    operator_key: String,
    receipt_key: String,
}

/// `GET /v1/keys`: the keys apps and terminals pin.
#[utoipa::path(get, path = "/v1/keys", operation_id = "keys", tag = "meta",
    summary = "The operator and receipt Ed25519 public keys (base64url) that apps and terminals pin.",
    responses((status = 200, description = "success", body = Keys)))]
pub(crate) async fn keys(State(state): State<AppState>) -> Json<Keys> {
    Json(Keys {
        operator_key: state.keys().operator.public_key().to_base64(),
        receipt_key: state.keys().receipt.public_key().to_base64(),
    })
}

/// The served OpenAPI document, serialized once when the router is built.
#[derive(Clone)]
pub(crate) struct Document(Bytes);

impl Document {
    /// Serializes `doc` for serving.
    pub(crate) fn new(doc: &Value) -> Self {
        Document(Bytes::from(doc.to_string()))
    }
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "openapi", tag = "meta",
    summary = "This document.",
    responses((status = 200, description = "success", body = Object)))]
pub(crate) async fn openapi(Extension(document): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0)
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
