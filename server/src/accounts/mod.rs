//! Riders' accounts: a phone registers its key and gets a wallet account
//! (`devices`), reads its balance and history (`wallet`), its pseudonyms
//! and platform registrations (`registrations`, P2, P3.5); the operator
//! looks an account up (`lookup`).

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub(crate) mod device_keys;
pub(crate) mod devices;
mod lookup;
mod registrations;
pub(crate) mod store;
mod wallet;

/// The accounts' routes, merged by `crate::routes`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
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
        .route("/v1/platform/registrations", post(registrations::register))
        .route("/v1/accounts/{account_id}", get(lookup::account))
}
