//! The HTTP routes of `/v1` (see `docs/api.md`): each area owns its
//! routes, and this module only merges them, with the JSON fallbacks, the
//! body limit and the metrics layer.

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;

mod meta;

/// Builds the router with every endpoint, JSON fallbacks, the body limit
/// and the metrics layer (outermost: it times every request, fallbacks
/// included, and counts payment and refund outcomes).
pub fn router(state: AppState, funding: crate::funding::Providers) -> Router {
    Router::new()
        .route("/v1/health", get(meta::health))
        .route("/v1/keys", get(meta::keys))
        .route("/v1/openapi.json", get(meta::openapi))
        .route("/metrics", get(crate::metrics::scrape::with_admin))
        .merge(crate::accounts::router())
        .merge(crate::top_ups::router())
        .merge(crate::funding::router(funding))
        .merge(crate::merchants::router())
        .merge(crate::terminals::router())
        .merge(crate::ledger::router())
        .merge(crate::journeys::router())
        .merge(crate::billing::router())
        .merge(crate::payments::router())
        .merge(crate::streams::routes::router())
        .merge(crate::guardians::router())
        .merge(crate::express::router())
        .merge(crate::points::router())
        .merge(crate::kiosk::router())
        .merge(crate::push::tokens::router())
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::http::track,
        ))
        .with_state(state)
}
