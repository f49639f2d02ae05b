//! Billing (P1): the per-day settlement records of each merchant and
//! operator (`records`), served as JSON or CSV and reconciled against an
//! external statement (`settlements`); and the billing exchange (issue
//! 12.4): closed days exported to the external billing system, and that
//! system's reconciliation files stored per day (`exchange`, `routes`).

use axum::extract::DefaultBodyLimit;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{check_id, parse_currency};
use crate::openapi::constraints;
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

/// An external statement of a day: what `POST /v1/settlements/reconciliations`
/// compares and `POST /v1/billing/reconciliations` takes as JSON.
#[derive(Deserialize, ToSchema)]
#[schema(as = Statement)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatementRequest {
    #[schema(schema_with = constraints::date)]
    date: String,
    #[schema(schema_with = constraints::offset_or_null)]
    utc_offset_minutes: Option<i64>,
    /// Only this merchant's payments.
    #[schema(schema_with = constraints::id_or_null)]
    merchant_id: Option<String>,
    /// At most 5000 lines (`MAX_STATEMENT_LINES`).
    #[schema(max_items = 5000)]
    entries: Vec<StatementEntry>,
}

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

/// The billing routes and operations, merged by `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    // A statement of up to MAX_STATEMENT_LINES lines needs more than the
    // default body limit (the API fuzzer found 5000 lines refused with
    // 413): both statements take a billing reconciliation file's limit.
    let file_limit = || DefaultBodyLimit::max(MAX_FILE_BYTES);
    OpenApiRouter::new()
        .routes(routes!(settlements::outbound_status))
        .routes(routes!(settlements::settlements))
        .routes(routes!(settlements::reconcile).layer(file_limit()))
        .routes(routes!(routes::create_export, routes::list_exports))
        .routes(routes!(routes::get_export))
        .routes(routes!(routes::reconcile).layer(file_limit()))
        .routes(routes!(routes::list_reconciliations))
        .routes(routes!(routes::get_reconciliation))
}
