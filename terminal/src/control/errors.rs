//! The control interface's error answers, `{"error":{"code","message"}}`
//! like the control center's. They live apart from the routes so that the
//! feature endpoints (top-ups) can answer the same way without importing
//! back into [`crate::control`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::sale::SaleError;

/// An error answer with this status, code and message, so every endpoint
/// of the control interface speaks the same error shape.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (status, Json(body)).into_response()
}

/// The error answer for a refused sale (or top-up), so the cash register
/// gets one status and code per [`SaleError`] wherever it was refused.
pub(crate) fn sale_error(e: SaleError) -> Response {
    let (status, code) = match &e {
        SaleError::NotPos => (StatusCode::CONFLICT, "not_a_pos"),
        SaleError::SalePending(_) => (StatusCode::CONFLICT, "sale_pending"),
        SaleError::InvalidAmount(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        SaleError::InvalidDescription(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        SaleError::UnknownSale => (StatusCode::NOT_FOUND, "not_found"),
        SaleError::InSession => (StatusCode::CONFLICT, "sale_in_session"),
        SaleError::InDoubt => (StatusCode::CONFLICT, "sale_in_doubt"),
        SaleError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, code, e.to_string())
}
