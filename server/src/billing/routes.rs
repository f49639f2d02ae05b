//! Operator endpoints of the billing exchange (issue 12.4): closing a day
//! into an export for the external billing system, the exports' delivery
//! state, and the reconciliation files that system sends back (JSON or
//! CSV), stored and listable per day.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::exchange::{
    self, ExportView, ReconciliationInput, ReconciliationSummary, StoredReconciliation,
};
use super::{check_entries, StatementRequest, MAX_FILE_BYTES, MAX_STATEMENT_LINES};
use crate::auth::Admin;
use crate::civil::{check_offset, parse_day};
use crate::error::ApiError;
use crate::extract::{check_id, parse_json, read_body, ApiJson, ApiPath, ApiQuery};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The day to close.
#[derive(Deserialize, ToSchema)]
#[schema(as = BillingDayClose)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportRequest {
    #[schema(schema_with = constraints::date)]
    date: String,
    #[schema(schema_with = constraints::offset_or_null)]
    utc_offset_minutes: Option<i64>,
}

/// `POST /v1/billing/exports`: closes a day (201, or 200 with the existing
/// export when that day at that offset was already closed).
#[utoipa::path(post, path = "/v1/billing/exports", operation_id = "closeBillingDay", tag = "billing",
    summary = "Closes a day (at utc_offset_minutes, default 0) that has ended: its settlement records and payments are frozen into an export and delivered to the billing endpoint, signed (wayfare-delivery-id, wayfare-timestamp, wayfare-signature: v1=hex HMAC-SHA256 over \"{timestamp}.{body}\"), retried until a 2xx answer. 201 when created, 200 with the same export when that day was already closed. A day not yet ended: 409 day_not_ended.",
    security(("adminToken" = [])),
    request_body = ExportRequest,
    responses(
        (status = 201, description = "success", body = ExportView),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = ExportView),
        Fails<400, 401, 409, 422>))]
pub(crate) async fn create_export(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<ExportRequest>,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    let offset = check_offset("utc_offset_minutes", req.utc_offset_minutes.unwrap_or(0))?;
    let (view, created) = exchange::close_day(&state, &req.date, offset).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// The query of the billing lists: only the objects of this day.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DateQuery {
    #[param(value_type = Option<constraints::Day>, inline)]
    date: Option<String>,
}

fn checked_date(date: &Option<String>) -> Result<Option<&str>, ApiError> {
    if let Some(d) = date {
        parse_day("date", d, 0)?;
    }
    Ok(date.as_deref())
}

/// The billing exports and whether they can be delivered.
#[derive(Serialize, ToSchema)]
#[schema(as = BillingExports)]
pub(crate) struct ExportList {
    /// A billing endpoint is configured (else nothing is delivered).
    endpoint_configured: bool,
    /// How many of `exports` wait for delivery.
    pending: usize,
    exports: Vec<ExportView>,
}

/// `GET /v1/billing/exports[?date=]`: the exports and their delivery state.
#[utoipa::path(get, path = "/v1/billing/exports", operation_id = "billingExports", tag = "billing",
    summary = "The billing exports (of ?date= when given, else the newest 100) with their delivery state.",
    security(("adminToken" = [])),
    params(DateQuery),
    responses((status = 200, description = "success", body = ExportList), Fails<401, 422>))]
pub(crate) async fn list_exports(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DateQuery>,
) -> Result<Json<ExportList>, ApiError> {
    let exports = exchange::list_exports(&state, checked_date(&query.date)?).await?;
    Ok(Json(ExportList {
        endpoint_configured: state.billing_configured(),
        pending: exports.iter().filter(|e| e.is_pending()).count(),
        exports,
    }))
}

/// `GET /v1/billing/exports/{export_id}`: one export with its body.
#[utoipa::path(get, path = "/v1/billing/exports/{export_id}", operation_id = "billingExport", tag = "billing",
    summary = "One billing export with the exact body delivered.",
    security(("adminToken" = [])),
    params(("export_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = ExportView), Fails<401, 404>))]
pub(crate) async fn get_export(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(export_id): ApiPath<String>,
) -> Result<Json<ExportView>, ApiError> {
    Ok(Json(exchange::get_export(&state, &export_id).await?))
}

/// The query of a `text/csv` reconciliation file: its day (in a JSON file,
/// these are in the body, and the query must be empty).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsvQuery {
    /// text/csv uploads only (date required there); with a JSON body, 422
    #[param(value_type = Option<constraints::Day>, inline)]
    date: Option<String>,
    /// text/csv uploads only (date required there); with a JSON body, 422
    #[param(minimum = -840, maximum = 840, nullable = false)]
    utc_offset_minutes: Option<i64>,
    /// text/csv uploads only (date required there); with a JSON body, 422
    #[param(pattern = "^[!-~]{1,128}$", nullable = false)]
    merchant_id: Option<String>,
}

constraints::schema_type! {
    /// A reconciliation file as `text/csv` (`exchange::parse_statement_csv`).
    pub(crate) struct StatementCsv = constraints::described_text(
        "header row with payment_id, amount_minor, currency (any order, other columns ignored), then one line per payment; the day in the query (date required, utc_offset_minutes, merchant_id)",
    );
}

/// `POST /v1/billing/reconciliations`: the billing system's file, as JSON
/// (`{"date",...,"entries"}`) or as `text/csv` (day in the query string),
/// compared with the ledger; the result is stored (201). A bad file is a
/// typed error and stores nothing.
#[utoipa::path(post, path = "/v1/billing/reconciliations", operation_id = "storeReconciliation", tag = "billing",
    summary = "The billing system's reconciliation file, as JSON (this schema) or text/csv (a header row naming payment_id, amount_minor, currency; day in the query: date, utc_offset_minutes, merchant_id), at most 5000 lines, compared with the ledger; the result is stored. Bad files store nothing: 400 malformed_csv, 422 unsupported_currency or invalid_field.",
    security(("adminToken" = [])),
    params(CsvQuery),
    request_body(content(
        (StatementRequest = "application/json"),
        (inline(StatementCsv) = "text/csv"))),
    responses((status = 201, description = "success", body = StoredReconciliation), Fails<400, 401, 422>))]
pub(crate) async fn reconcile(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<CsvQuery>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<StoredReconciliation>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let body = read_body(request, &()).await.map_err(|e| match e {
        ApiError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(format!(
            "a reconciliation file is at most {MAX_FILE_BYTES} bytes; split it by merchant"
        )),
        other => other,
    })?;
    let (req, format) = if content_type.starts_with("text/csv") {
        let date = query
            .date
            .ok_or_else(|| ApiError::field("date", "give the day as ?date=YYYY-MM-DD"))?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::MalformedCsv("the file is not UTF-8 text".into()))?;
        let entries = exchange::parse_statement_csv(text, MAX_STATEMENT_LINES)?;
        let req = StatementRequest {
            date,
            utc_offset_minutes: query.utc_offset_minutes,
            merchant_id: query.merchant_id,
            entries,
        };
        (req, "csv")
    } else if content_type.starts_with("application/json") {
        if query.date.is_some() || query.utc_offset_minutes.is_some() || query.merchant_id.is_some()
        {
            return Err(ApiError::field(
                "query string",
                "a JSON file carries date, utc_offset_minutes and merchant_id in its body",
            ));
        }
        (parse_json::<StatementRequest>(&body)?, "json")
    } else {
        return Err(ApiError::field(
            "content-type",
            "send application/json or text/csv",
        ));
    };
    let offset = check_offset("utc_offset_minutes", req.utc_offset_minutes.unwrap_or(0))?;
    parse_day("date", &req.date, offset)?;
    if let Some(m) = &req.merchant_id {
        check_id("merchant_id", m)?;
    }
    check_entries(&req.entries)?;
    let stored = exchange::store_reconciliation(
        &state,
        ReconciliationInput {
            date: &req.date,
            offset,
            merchant_id: req.merchant_id.as_deref(),
            source_format: format,
            entries: &req.entries,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// The stored reconciliations, without their lists.
#[derive(Serialize, ToSchema)]
#[schema(as = Reconciliations)]
pub(crate) struct ReconciliationList {
    reconciliations: Vec<ReconciliationSummary>,
}

/// `GET /v1/billing/reconciliations[?date=]`: stored results, newest first.
#[utoipa::path(get, path = "/v1/billing/reconciliations", operation_id = "reconciliations", tag = "billing",
    summary = "The stored reconciliations (of ?date= when given), newest first, at most 100, with counts.",
    security(("adminToken" = [])),
    params(DateQuery),
    responses((status = 200, description = "success", body = ReconciliationList), Fails<401, 422>))]
pub(crate) async fn list_reconciliations(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DateQuery>,
) -> Result<Json<ReconciliationList>, ApiError> {
    let reconciliations =
        exchange::list_reconciliations(&state, checked_date(&query.date)?).await?;
    Ok(Json(ReconciliationList { reconciliations }))
}

/// `GET /v1/billing/reconciliations/{reconciliation_id}`: one result with
/// every missing, mismatched and unknown payment named.
#[utoipa::path(get, path = "/v1/billing/reconciliations/{reconciliation_id}", operation_id = "reconciliation", tag = "billing",
    summary = "One stored reconciliation naming every missing, mismatched and unknown payment.",
    security(("adminToken" = [])),
    params(("reconciliation_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = StoredReconciliation), Fails<401, 404>))]
pub(crate) async fn get_reconciliation(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<StoredReconciliation>, ApiError> {
    Ok(Json(exchange::get_reconciliation(&state, &id).await?))
}
