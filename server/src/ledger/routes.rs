//! `GET /v1/ledger/check` (admin): the ledger's invariants, for the
//! operator and for every load and crash test.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::openapi::Fails;
use crate::state::AppState;

/// The ledger's route and operation, merged by `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ledger_check))
}

/// The ledger's invariants as the operator reads them.
#[derive(Serialize, ToSchema)]
pub(crate) struct LedgerCheckView {
    sum_minor: i64,
    entries: i64,
    pending_entries: i64,
    balance_mismatches: i64,
    points_sum: i64,
    points_entries: i64,
    points_mismatches: i64,
}

/// `GET /v1/ledger/check`: `sum_minor` is 0 and `balance_mismatches` is 0
/// when every movement balanced and every balance equals its entries; the
/// same for loyalty points with `points_sum` and `points_mismatches`.
#[utoipa::path(get, path = "/v1/ledger/check", operation_id = "ledgerCheck", tag = "ledger",
    summary = "The double-entry invariants: sum_minor is 0, balance_mismatches is 0 (money); points_sum is 0, points_mismatches is 0 (loyalty points, each account's points equal its points entries). Both sums include the pending entries (postings to a merchant's or the loyalty account not yet folded into it; pending_entries counts them).",
    security(("adminToken" = [])),
    responses((status = 200, description = "success", body = LedgerCheckView), Fails<401>))]
pub(crate) async fn ledger_check(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<LedgerCheckView>, ApiError> {
    let check = super::check(&state.db().pool).await?;
    Ok(Json(LedgerCheckView {
        sum_minor: check.sum_minor,
        entries: check.entries,
        pending_entries: check.pending_entries,
        balance_mismatches: check.balance_mismatches,
        points_sum: check.points.sum_points,
        points_entries: check.points.entries,
        points_mismatches: check.points.mismatches,
    }))
}
