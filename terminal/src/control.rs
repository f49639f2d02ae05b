//! The local control interface: a small HTTP server on a loopback address
//! for the cash register (POS sales) and for monitoring.
//!
//! | method & path | body → answer |
//! |---|---|
//! | `POST /sales` | `{"amount_minor","description"?}` → 201 `{"order_id"}`; 409 `sale_pending` |
//! | `GET /sales/{order_id}` | → the [`SaleOutcome`](crate::SaleOutcome) |
//! | `DELETE /sales/{order_id}` | cancels a sale no phone is paying → the outcome |
//! | `GET /status` | → [`TerminalStatus`](crate::TerminalStatus) |
//!
//! Errors are `{"error":{"code","message"}}` like the control center's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::sale::SaleError;
use crate::{now_ms, Shared};

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (status, Json(body)).into_response()
}

fn sale_error(e: SaleError) -> Response {
    let (status, code) = match &e {
        SaleError::NotPos => (StatusCode::CONFLICT, "not_a_pos"),
        SaleError::SalePending(_) => (StatusCode::CONFLICT, "sale_pending"),
        SaleError::InvalidAmount(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        SaleError::InvalidDescription(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        SaleError::UnknownSale => (StatusCode::NOT_FOUND, "not_found"),
        SaleError::InSession => (StatusCode::CONFLICT, "sale_in_session"),
        SaleError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, code, e.to_string())
}

/// The control interface's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/sales", post(new_sale))
        .route("/sales/{order_id}", get(get_sale).delete(cancel_sale))
        .route("/status", get(status))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(shared)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSale {
    amount_minor: i64,
    #[serde(default)]
    description: String,
}

async fn new_sale(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let sale: NewSale = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("expected {{\"amount_minor\": integer, \"description\": string}}: {e}"),
            )
        }
    };
    let Ok(amount) = u64::try_from(sale.amount_minor) else {
        return sale_error(SaleError::InvalidAmount(format!(
            "{} is not positive; amounts are positive integers of minor units",
            sale.amount_minor
        )));
    };
    match shared.sales.new_sale(amount, &sale.description, now_ms()) {
        Ok(order_id) => {
            (StatusCode::CREATED, Json(json!({ "order_id": order_id }))).into_response()
        }
        Err(e) => sale_error(e),
    }
}

async fn get_sale(State(shared): State<Arc<Shared>>, Path(order_id): Path<String>) -> Response {
    match shared.sales.outcome(&order_id) {
        Some(outcome) => Json(outcome).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "no order with this id"),
    }
}

async fn cancel_sale(State(shared): State<Arc<Shared>>, Path(order_id): Path<String>) -> Response {
    match shared.sales.cancel(&order_id, now_ms()) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => sale_error(e),
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.status()).into_response()
}
