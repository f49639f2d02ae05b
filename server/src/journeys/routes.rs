//! `POST /v1/transit/sweep` (admin): the operator's way to charge the
//! incomplete journeys now instead of waiting for the periodic sweep.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::openapi::Fails;
use crate::state::AppState;

/// The sweep's route and operation, merged by `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(transit_sweep))
}

/// The query of `POST /v1/transit/sweep`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SweepQuery {
    /// Charge entries whose token expired at least this long ago (default:
    /// the periodic sweep's grace, 6 h).
    #[param(minimum = 0, maximum = 18446744073709551615_u64, nullable = false)]
    grace_ms: Option<u64>,
}

/// How many incomplete journeys the sweep charged.
#[derive(Serialize, ToSchema)]
pub(crate) struct Swept {
    charged: usize,
}

/// `POST /v1/transit/sweep` (admin): charges the maximum fare, once, for
/// every open entry whose tap-in token expired unused more than `grace_ms`
/// ago (incomplete journeys; the server also does this periodically).
#[utoipa::path(post, path = "/v1/transit/sweep", operation_id = "transitSweep", tag = "journeys",
    summary = "P3.6 incomplete journeys: charges the maximum fare, once, for every open entry whose tap-in token expired more than grace_ms ago (default 6 h). The server also runs this periodically.",
    security(("adminToken" = [])),
    params(SweepQuery),
    responses((status = 200, description = "success", body = Swept), Fails<401, 422>))]
pub(crate) async fn transit_sweep(
    State(state): State<AppState>,
    _admin: Admin,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<SweepQuery>,
) -> Result<Json<Swept>, ApiError> {
    let grace = query.grace_ms.unwrap_or(super::SWEEP_GRACE_MS);
    let charged = super::sweep(&state, grace).await?;
    Ok(Json(Swept { charged }))
}
