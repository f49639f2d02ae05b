//! Access terminals (P2, P3): their registration under an operator-signed
//! certificate, the confirmations a terminal asks for a sale whose answer
//! it lost, and the reports it uploads. Their event stream lives with the
//! other streams (`crate::streams`).

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

mod confirmations;
pub(crate) mod registration;
mod reports;

pub(crate) use registration::{flat_fare_of, utc_offset_of};

/// The terminals' routes, merged by `crate::routes`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/terminals", post(registration::register))
        .route("/v1/platform/confirmations", post(confirmations::confirm))
        .route("/v1/terminals/me/reports", post(reports::submit))
        .route("/v1/terminals/{terminal_id}/reports", get(reports::list))
}
