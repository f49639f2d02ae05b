//! `GET /v1/ledger/check` (admin): the ledger's invariants, for the
//! operator and for every load and crash test.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

/// The ledger's route, merged by `crate::routes`.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/ledger/check", get(ledger_check))
}

/// `GET /v1/ledger/check`: `sum_minor` is 0 and `balance_mismatches` is 0
/// when every movement balanced and every balance equals its entries; the
/// same for loyalty points with `points_sum` and `points_mismatches`.
pub(crate) async fn ledger_check(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let check = super::check(&state.db().pool).await?;
    Ok(Json(json!({
        "sum_minor": check.sum_minor,
        "entries": check.entries,
        "pending_entries": check.pending_entries,
        "balance_mismatches": check.balance_mismatches,
        "points_sum": check.points.sum_points,
        "points_entries": check.points.entries,
        "points_mismatches": check.points.mismatches,
    })))
}
