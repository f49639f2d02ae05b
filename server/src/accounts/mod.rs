//! Riders' accounts: a phone registers its key and gets a wallet account
//! (`devices`), reads its balance and history (`wallet`), its pseudonyms
//! and platform registrations (`registrations`, P2, P3.5); the operator
//! looks an account up (`lookup`).

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) mod device_keys;
pub(crate) mod devices;
mod lookup;
mod registrations;
pub(crate) mod store;
mod wallet;

/// The accounts' routes and their OpenAPI operations, merged by
/// `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(devices::register))
        .routes(routes!(wallet::wallet))
        .routes(routes!(wallet::history))
        .routes(routes!(registrations::pseudonym))
        .routes(routes!(registrations::list))
        .routes(routes!(registrations::revoke))
        .routes(routes!(registrations::register))
        .routes(routes!(lookup::account))
}
