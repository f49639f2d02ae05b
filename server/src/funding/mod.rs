//! Over-the-air top-up (issue 12.2): the funding providers a rider can add
//! money through. The rider's phone starts a top-up ([`routes::start`]),
//! which is a pending `funding_intents` row with the provider's checkout
//! link; the provider confirms it with a signed callback ([`callback`]),
//! and only then does money move, through `top_ups::credit` from the
//! provider's clearing account, with a `top_up.completed` event for the
//! wallet. The SANDBOX provider (operator's test money, off unless
//! configured) confirms at creation from the sandbox funding account.
//!
//! Providers are configured by the operator ([`FundingConfig`], the
//! `[funding]` section of the server's TOML file); see
//! `docs/decisions/0015-over-the-air-top-up.md` for why callbacks are signed
//! the way they are.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::state::AppState;

mod callback;
mod config;
pub(crate) mod config_error;
mod events;
mod routes;
mod signature;
mod store;

pub(crate) use config::Providers;
pub use config::{FundingConfig, FundingConfigError, ProviderConfig, ProviderKind};
pub use signature::{sign_callback, SIGNATURE_HEADER};

/// The funding routes, serving `providers`.
pub(crate) fn router(providers: Providers) -> Router<AppState> {
    Router::new()
        .route("/v1/top-ups", post(routes::start))
        .route("/v1/top-ups/providers", get(routes::providers))
        .route("/v1/top-ups/{reference}", get(routes::status))
        .route(
            "/v1/funding/{provider}/callbacks",
            post(callback::receive).layer(DefaultBodyLimit::max(callback::MAX_CALLBACK_BYTES)),
        )
        .route("/v1/admin/top-ups", get(routes::list))
        .layer(Extension(providers))
}
