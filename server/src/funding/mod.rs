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
use axum::Extension;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

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

/// The funding routes and operations, serving `providers`.
pub(crate) fn router(providers: Providers) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::start))
        .routes(routes!(routes::providers))
        .routes(routes!(routes::status))
        .routes(
            routes!(callback::receive).layer(DefaultBodyLimit::max(callback::MAX_CALLBACK_BYTES)),
        )
        .routes(routes!(routes::list))
        .layer(Extension(providers))
}
