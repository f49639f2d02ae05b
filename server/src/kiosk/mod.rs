//! Counter and kiosk top-ups (issue 12, P1 and P5's top-up terminal): the
//! cashier takes cash, the `top_up` terminal offers that amount to the
//! rider's phone (a terminal-signed `TopUpOffer`), the phone claims it (a
//! device-signed `TopUpClaim`) and this module moves the money from the
//! terminal's cash float to the rider and signs a `TopUpReceipt`.
//!
//! Money rules: one top-up per (terminal, order) — the same claim again
//! answers the same receipt and nothing moves, another wallet's claim of a
//! credited offer is refused; an offer is credited only while it is open
//! on the server's clock at commit time, so a terminal that asks after the
//! offer closed ([`confirm`]) learns a final answer. See
//! `docs/decisions/0013-kiosk-top-ups.md`.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod claim;
mod confirm;
pub(crate) mod settlement;
mod store;
mod verify;

/// The kiosk top-up routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim::create))
        .routes(routes!(confirm::confirm))
}

/// The `top_ups.reference` of a kiosk top-up: unique, so a (terminal,
/// order) is credited once whatever else happens.
fn reference(terminal_id: &str, order_id: &str) -> String {
    format!("kiosk:{terminal_id}:{order_id}")
}
