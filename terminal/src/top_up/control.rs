//! The cashier's top-up endpoints on the control interface: enter the
//! cash received, see what became of it, cancel it before a phone has it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::config::ModeConfig;
use crate::control::errors::{error, sale_error};
use crate::sale::SaleError;
use crate::{now_ms, Shared};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTopUp {
    amount_minor: i64,
}

/// `POST /top-ups` `{"amount_minor": …}`: the cash the cashier received;
/// the next phone that connects is offered it.
pub(crate) async fn new_top_up(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let ModeConfig::TopUp(config) = &shared.config.mode else {
        return error(
            StatusCode::CONFLICT,
            "not_a_top_up_terminal",
            "this terminal does not take cash top-ups; its mode is not top_up",
        );
    };
    let request: NewTopUp = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("expected {{\"amount_minor\": integer}}: {e}"),
            )
        }
    };
    let amount = match u64::try_from(request.amount_minor) {
        Ok(a) if a > 0 => a,
        _ => {
            return sale_error(SaleError::InvalidAmount(format!(
                "{} is not positive; amounts are positive integers of minor units",
                request.amount_minor
            )))
        }
    };
    if amount > config.max_amount_minor {
        return sale_error(SaleError::InvalidAmount(format!(
            "{amount} is more than this terminal's top-up limit of {} minor units",
            config.max_amount_minor
        )));
    }
    match shared
        .sales
        .new_sale(amount, super::resolver::DESCRIPTION, now_ms())
    {
        Ok(order_id) => {
            (StatusCode::CREATED, Json(json!({ "order_id": order_id }))).into_response()
        }
        Err(e) => sale_error(e),
    }
}

/// `GET /top-ups/{order_id}`: where the top-up stands (`pending`,
/// `in_session`, `in_doubt` while the platform is asked, `accepted` once
/// credited and printed, `unpaid` when the cash goes back).
pub(crate) async fn get_top_up(
    State(shared): State<Arc<Shared>>,
    Path(order_id): Path<String>,
) -> Response {
    match shared.sales.outcome(&order_id) {
        Some(outcome) => Json(outcome).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "no top-up with this id"),
    }
}

/// `DELETE /top-ups/{order_id}`: cancels a top-up no phone has seen yet;
/// once offered, only the platform can say the cash was not credited.
pub(crate) async fn cancel_top_up(
    State(shared): State<Arc<Shared>>,
    Path(order_id): Path<String>,
) -> Response {
    if shared.top_ups.get(&order_id).is_some() {
        return sale_error(SaleError::InDoubt);
    }
    match shared.sales.cancel(&order_id, now_ms()) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => sale_error(e),
    }
}
