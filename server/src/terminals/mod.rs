//! Access terminals (P2, P3): their registration under an operator-signed
//! certificate, the confirmations a terminal asks for a sale whose answer
//! it lost, and the reports it uploads. Their event stream lives with the
//! other streams (`crate::streams`).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod confirmations;
pub(crate) mod registration;
mod reports;

pub(crate) use registration::{flat_fare_of, utc_offset_of};

/// The terminals' routes and operations, merged by `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration::register))
        .routes(routes!(confirmations::confirm))
        .routes(routes!(reports::submit))
        .routes(routes!(reports::list))
}
