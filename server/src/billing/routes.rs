//! Operator endpoints of the billing exchange (issue 12.4): closing a day
//! into an export for the external billing system, the exports' delivery
//! state, and the reconciliation files that system sends back (JSON or
//! CSV), stored and listable per day.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::exchange::{self, ReconciliationInput};
use super::{check_entries, MAX_FILE_BYTES, MAX_STATEMENT_LINES};
use crate::auth::Admin;
use crate::billing::StatementEntry;
use crate::civil::{check_offset, parse_day};
use crate::error::ApiError;
use crate::extract::{check_id, parse_json, read_body, ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportRequest {
    date: String,
    utc_offset_minutes: Option<i64>,
}

/// `POST /v1/billing/exports`: closes a day (201, or 200 with the existing
/// export when that day at that offset was already closed).
pub(crate) async fn create_export(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<ExportRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let offset = check_offset("utc_offset_minutes", req.utc_offset_minutes.unwrap_or(0))?;
    let (view, created) = exchange::close_day(&state, &req.date, offset).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DateQuery {
    date: Option<String>,
}

fn checked_date(date: &Option<String>) -> Result<Option<&str>, ApiError> {
    if let Some(d) = date {
        parse_day("date", d, 0)?;
    }
    Ok(date.as_deref())
}

/// `GET /v1/billing/exports[?date=]`: the exports and their delivery state.
pub(crate) async fn list_exports(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DateQuery>,
) -> Result<Json<Value>, ApiError> {
    let exports = exchange::list_exports(&state, checked_date(&query.date)?).await?;
    let pending = exports.iter().filter(|e| e["state"] == "pending").count();
    Ok(Json(json!({
        "endpoint_configured": state.billing_configured(),
        "pending": pending,
        "exports": exports,
    })))
}

/// `GET /v1/billing/exports/{export_id}`: one export with its body.
pub(crate) async fn get_export(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(export_id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(exchange::get_export(&state, &export_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatementRequest {
    date: String,
    utc_offset_minutes: Option<i64>,
    merchant_id: Option<String>,
    entries: Vec<StatementEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsvQuery {
    date: Option<String>,
    utc_offset_minutes: Option<i64>,
    merchant_id: Option<String>,
}

/// `POST /v1/billing/reconciliations`: the billing system's file, as JSON
/// (`{"date",...,"entries"}`) or as `text/csv` (day in the query string),
/// compared with the ledger; the result is stored (201). A bad file is a
/// typed error and stores nothing.
pub(crate) async fn reconcile(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<CsvQuery>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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

/// `GET /v1/billing/reconciliations[?date=]`: stored results, newest first.
pub(crate) async fn list_reconciliations(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<DateQuery>,
) -> Result<Json<Value>, ApiError> {
    let list = exchange::list_reconciliations(&state, checked_date(&query.date)?).await?;
    Ok(Json(json!({ "reconciliations": list })))
}

/// `GET /v1/billing/reconciliations/{reconciliation_id}`: one result with
/// every missing, mismatched and unknown payment named.
pub(crate) async fn get_reconciliation(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(exchange::get_reconciliation(&state, &id).await?))
}
