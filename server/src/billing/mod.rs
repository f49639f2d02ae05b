//! Billing (P1): the per-day settlement records of each merchant and
//! operator (`records`), served as JSON or CSV and reconciled against an
//! external statement (`settlements`); and the billing exchange (issue
//! 12.4): closed days exported to the external billing system, and that
//! system's reconciliation files stored per day (`exchange`, `routes`).

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::extract::{check_id, parse_currency};
use crate::state::AppState;

mod exchange;
mod records;
mod routes;
mod settlements;

pub(crate) use exchange::run;
pub use exchange::{BillingConfigError, BillingEndpoint};
pub use records::*;

/// Most lines in one statement.
pub(crate) const MAX_STATEMENT_LINES: usize = 5_000;

/// The largest reconciliation file accepted, in bytes.
pub(crate) const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Validates a statement's lines: at most [`MAX_STATEMENT_LINES`], each
/// with a well-formed payment id and a supported currency.
pub(crate) fn check_entries(entries: &[StatementEntry]) -> Result<(), ApiError> {
    if entries.len() > MAX_STATEMENT_LINES {
        return Err(ApiError::field(
            "entries",
            format!("at most {MAX_STATEMENT_LINES} lines per statement; split it by merchant"),
        ));
    }
    for (i, e) in entries.iter().enumerate() {
        check_id(&format!("entries[{i}].payment_id"), &e.payment_id)?;
        parse_currency(&format!("entries[{i}].currency"), &e.currency)?;
    }
    Ok(())
}

/// The billing routes, merged by `crate::routes`: an `OpenApiRouter`
/// whose annotated operations are generated; the others are still
/// documented by hand in `crate::openapi`.
pub(crate) fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(settlements::outbound_status))
        .route("/v1/settlements", get(settlements::settlements))
        // A statement of up to MAX_STATEMENT_LINES lines needs more than
        // the default body limit (the API fuzzer found 5000 lines refused
        // with 413): the same limit as a billing reconciliation file.
        .route(
            "/v1/settlements/reconciliations",
            post(settlements::reconcile).layer(DefaultBodyLimit::max(MAX_FILE_BYTES)),
        )
        .route(
            "/v1/billing/exports",
            post(routes::create_export).get(routes::list_exports),
        )
        .route("/v1/billing/exports/{export_id}", get(routes::get_export))
        .route(
            "/v1/billing/reconciliations",
            post(routes::reconcile)
                .layer(DefaultBodyLimit::max(MAX_FILE_BYTES))
                .get(routes::list_reconciliations),
        )
        .route(
            "/v1/billing/reconciliations/{reconciliation_id}",
            get(routes::get_reconciliation),
        )
}
