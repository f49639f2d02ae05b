//! `POST /v1/transit/sweep` (admin): the operator's way to charge the
//! incomplete journeys now instead of waiting for the periodic sweep.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

/// The sweep's route, merged by `crate::routes`.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/transit/sweep", post(transit_sweep))
}

/// The query of `POST /v1/transit/sweep`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SweepQuery {
    /// Charge entries whose token expired at least this long ago (default:
    /// the periodic sweep's grace, 6 h).
    grace_ms: Option<u64>,
}

/// `POST /v1/transit/sweep` (admin): charges the maximum fare, once, for
/// every open entry whose tap-in token expired unused more than `grace_ms`
/// ago (incomplete journeys; the server also does this periodically).
pub(crate) async fn transit_sweep(
    State(state): State<AppState>,
    _admin: Admin,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<SweepQuery>,
) -> Result<Json<Value>, ApiError> {
    let grace = query.grace_ms.unwrap_or(super::SWEEP_GRACE_MS);
    let charged = super::sweep(&state, grace).await?;
    Ok(Json(json!({ "charged": charged })))
}
