//! The HTTP routes of `/v1` (see `docs/api.md`).

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;

mod admin;
mod billing;
mod devices;
mod merchants;
mod meta;
mod registrations;
mod reports;
pub(crate) mod settlements;
pub(crate) mod terminals;
mod wallet;

/// Builds the router with every endpoint, JSON fallbacks, the body limit
/// and the metrics layer (outermost: it times every request, fallbacks
/// included, and counts payment and refund outcomes).
pub fn router(state: AppState, funding: crate::funding::Providers) -> Router {
    Router::new()
        .route("/v1/health", get(meta::health))
        .route("/v1/keys", get(meta::keys))
        .route("/v1/openapi.json", get(meta::openapi))
        .route("/v1/devices", post(devices::register))
        .route("/v1/wallet", get(wallet::wallet))
        .route("/v1/wallet/history", get(wallet::history))
        .route(
            "/v1/wallet/pseudonyms/{merchant_id}",
            get(registrations::pseudonym),
        )
        .route("/v1/wallet/registrations", get(registrations::list))
        .route(
            "/v1/wallet/registrations/{registration_id}/revoke",
            post(registrations::revoke),
        )
        .route("/v1/sandbox/top-ups", post(admin::top_up))
        .merge(crate::funding::router(funding))
        .route("/v1/merchants", post(merchants::create))
        .route("/v1/accounts/{account_id}", get(admin::account))
        .route("/v1/terminals", post(terminals::register))
        .route("/v1/platform/confirmations", post(terminals::confirm))
        .route("/v1/platform/registrations", post(registrations::register))
        .route("/v1/terminals/me/events", get(terminals::events))
        .route("/v1/terminals/me/reports", post(reports::submit))
        .route("/v1/terminals/{terminal_id}/reports", get(reports::list))
        .route("/v1/ledger/check", get(admin::ledger_check))
        .route("/v1/transit/sweep", post(admin::transit_sweep))
        .route("/v1/settlements", get(settlements::settlements))
        // A statement of up to MAX_STATEMENT_LINES lines needs more than
        // the default body limit (the API fuzzer found 5000 lines refused
        // with 413): the same limit as a billing reconciliation file.
        .route(
            "/v1/settlements/reconciliations",
            post(settlements::reconcile).layer(DefaultBodyLimit::max(billing::MAX_FILE_BYTES)),
        )
        .route(
            "/v1/billing/exports",
            post(billing::create_export).get(billing::list_exports),
        )
        .route("/v1/billing/exports/{export_id}", get(billing::get_export))
        .route(
            "/v1/billing/reconciliations",
            post(billing::reconcile)
                .layer(DefaultBodyLimit::max(billing::MAX_FILE_BYTES))
                .get(billing::list_reconciliations),
        )
        .route(
            "/v1/billing/reconciliations/{reconciliation_id}",
            get(billing::get_reconciliation),
        )
        .route("/v1/outbound/status", get(settlements::outbound_status))
        .route("/metrics", get(crate::metrics::scrape::with_admin))
        .merge(crate::payments::router())
        .merge(crate::streams::routes::router())
        .merge(crate::guardians::router())
        .merge(crate::merchants::router())
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
