//! The HTTP routes of `/v1` (see `docs/api.md`): each area owns its
//! routes, and this module only merges them, with the JSON fallbacks, the
//! body limit and the metrics layer. The areas' `OpenApiRouter`s carry the
//! operations of the OpenAPI document with their routes ([`api`]).

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;

mod meta;

/// Builds the router with every endpoint, JSON fallbacks, the body limit
/// and the metrics layer (outermost: it times every request, fallbacks
/// included, and counts payment and refund outcomes).
pub fn router(state: AppState, funding: crate::funding::Providers) -> Router {
    let (routes, generated) = api(funding).split_for_parts();
    let document = meta::Document::new(&crate::openapi::document(generated));
    routes
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(document))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::http::track,
        ))
        .with_state(state)
}

/// Every route of the API with its OpenAPI operation (each area's
/// `OpenApiRouter`).
pub(crate) fn api(funding: crate::funding::Providers) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(meta::health))
        .routes(routes!(meta::keys))
        .routes(routes!(meta::openapi))
        .routes(routes!(crate::metrics::scrape::with_admin))
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
}
