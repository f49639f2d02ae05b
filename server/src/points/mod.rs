//! Loyalty points as a means of payment (P5). Payments earn points (see
//! `payments::points_for`); here they become spendable: the
//! operator sets a rate per merchant ([`rates`]), a payment's instruction
//! names the points the rider spends and the server values them
//! ([`split`]), and every movement of points is double-entry against the
//! operator's loyalty account of the currency ([`ledger`]), which also
//! pays the money value of spent points so both ledgers sum to zero.
//! See docs/decisions/0013-spending-points.md.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) mod ledger;
pub(crate) mod payment;
pub(crate) mod rates;
pub(crate) mod refund;
pub(crate) mod split;

/// The routes and operations of the points area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rates::set))
        .routes(routes!(rates::get))
}
