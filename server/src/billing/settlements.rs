//! Operator endpoints for billing (P1): the day's settlement records as
//! JSON or CSV, the reconciliation of an external statement, and the state
//! of the outbound-gateway outbox.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::StatementRequest;
use crate::auth::Admin;
use crate::billing::{self, LedgerPayment, Mismatch, SettlementRecord, StatementEntry};
use crate::civil::{check_offset, offset_label, parse_day};
use crate::error::ApiError;
use crate::extract::{check_id, ApiJson, ApiQuery};
use crate::kiosk::settlement::CashFloatRecord;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The query of `GET /v1/settlements`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettlementQuery {
    #[param(value_type = constraints::Day, inline)]
    date: String,
    #[param(minimum = -840, maximum = 840, nullable = false)]
    utc_offset_minutes: Option<i64>,
    /// `json` (the default) or `csv`.
    #[param(value_type = Option<Format>, inline)]
    format: Option<String>,
}

constraints::schema_type! {
    /// The formats `GET /v1/settlements` answers in.
    pub(crate) struct Format = constraints::one_of(&["json", "csv"]);
}

/// A day's settlement records, and the kiosks' cash floats.
#[derive(Serialize, ToSchema)]
pub(crate) struct Settlements {
    date: String,
    utc_offset: String,
    from_ms: i64,
    to_ms: i64,
    records: Vec<SettlementRecord>,
    cash_floats: Vec<CashFloatRecord>,
}

constraints::schema_type! {
    /// The `format=csv` answer of `GET /v1/settlements` (`billing::to_csv`).
    pub(crate) struct SettlementsCsv = constraints::described_text(
        "format=csv: the records, one line each, after a header row",
    );
}

/// `GET /v1/settlements?date=YYYY-MM-DD[&utc_offset_minutes=N][&format=csv]`.
#[utoipa::path(get, path = "/v1/settlements", operation_id = "settlements", tag = "billing",
    summary = "Settlement records of a day per merchant and per operator, net of the refunds made that day: payment_count, gross_minor, refund_count, refund_minor, total_minor (gross - refunds), fee_minor (on the total), net_minor (total - fee). Query: date=YYYY-MM-DD, utc_offset_minutes, format=json|csv. JSON also lists cash_floats: per top_up terminal, the day's kiosk top-ups (top_up_count, top_up_minor) and its cash float's balance at the end of the day (float_balance_minor, negative by the cash held for riders), with operator, merchant_id, merchant_name, terminal_id and currency; the CSV carries the records only.",
    security(("adminToken" = [])),
    params(SettlementQuery),
    responses(
        (status = 200, description = "success", content(
            (Settlements = "application/json"),
            (inline(SettlementsCsv) = "text/csv"))),
        Fails<401, 422>))]
pub(crate) async fn settlements(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<SettlementQuery>,
) -> Result<Response, ApiError> {
    let offset = check_offset("utc_offset_minutes", query.utc_offset_minutes.unwrap_or(0))?;
    let (from, to) = parse_day("date", &query.date, offset)?;
    let records = billing::settlement(&state.db().pool, &query.date, from, to).await?;
    let cash_floats =
        crate::kiosk::settlement::cash_floats(&state.db().pool, &query.date, from, to).await?;
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(Settlements {
            date: query.date,
            utc_offset: offset_label(offset),
            from_ms: from,
            to_ms: to,
            records,
            cash_floats,
        })
        .into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"settlement-{}.csv\"", query.date),
                ),
            ],
            billing::to_csv(&records),
        )
            .into_response()),
        _ => Err(ApiError::field("format", "must be \"json\" or \"csv\"")),
    }
}

/// A statement compared with the ledger (not stored).
#[derive(Serialize, ToSchema)]
pub(crate) struct StatementCheck {
    date: String,
    utc_offset: String,
    /// No line missing, mismatched or unknown.
    balanced: bool,
    matched: usize,
    missing: Vec<LedgerPayment>,
    mismatched: Vec<Mismatch>,
    unknown: Vec<StatementEntry>,
}

/// `POST /v1/settlements/reconciliations`: compares an external statement
/// of a day with the ledger.
#[utoipa::path(post, path = "/v1/settlements/reconciliations", operation_id = "reconcileStatement", tag = "billing",
    summary = "Reconciles an external statement of a day with the ledger: matched count, missing (ledger payments absent from the statement), mismatched (amount, currency, other_day, duplicate) and unknown lines.",
    security(("adminToken" = [])),
    request_body = StatementRequest,
    responses((status = 200, description = "success", body = StatementCheck), Fails<400, 401, 422>))]
pub(crate) async fn reconcile(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<StatementRequest>,
) -> Result<Json<StatementCheck>, ApiError> {
    let offset = check_offset("utc_offset_minutes", req.utc_offset_minutes.unwrap_or(0))?;
    let (from, to) = parse_day("date", &req.date, offset)?;
    if let Some(m) = &req.merchant_id {
        check_id("merchant_id", m)?;
    }
    super::check_entries(&req.entries)?;
    let report = billing::reconcile_day(
        &state.db().pool,
        from,
        to,
        req.merchant_id.as_deref(),
        &req.entries,
    )
    .await?;
    let clean =
        report.missing.is_empty() && report.mismatched.is_empty() && report.unknown.is_empty();
    Ok(Json(StatementCheck {
        date: req.date,
        utc_offset: offset_label(offset),
        balanced: clean,
        matched: report.matched,
        missing: report.missing,
        mismatched: report.mismatched,
        unknown: report.unknown,
    }))
}

/// The outbound gateway's outbox, and the pushes.
#[derive(Serialize, ToSchema)]
pub(crate) struct OutboundStatus {
    pending: i64,
    delivered: i64,
    attempts: i64,
    push: PushStatus,
}

/// The per-device pushes.
#[derive(Serialize, ToSchema)]
pub(crate) struct PushStatus {
    pending: i64,
    delivered: i64,
    dropped: i64,
    attempts: i64,
}

/// `GET /v1/outbound/status`: how many gateway messages wait and how many
/// were delivered, and the same for pushes.
#[utoipa::path(get, path = "/v1/outbound/status", operation_id = "outboundStatus", tag = "billing",
    summary = "Outbound gateway outbox: pending and delivered messages, total attempts; push: per-device pushes pending, delivered, dropped (token refused or removed, message refused, older than a day) and their attempts.",
    security(("adminToken" = [])),
    responses((status = 200, description = "success", body = OutboundStatus), Fails<401>))]
pub(crate) async fn outbound_status(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<OutboundStatus>, ApiError> {
    let (pending, delivered, attempts): (i64, i64, i64) = sqlx::query_as(
        "SELECT \
         CAST(COALESCE(SUM(CASE WHEN delivered_at_ms IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN delivered_at_ms IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM outbound_messages",
    )
    .fetch_one(&state.db().pool)
    .await?;
    // Pushes: sent, or closed without sending (token refused or removed,
    // message refused, too old) with the reason as last_error.
    let (push_pending, push_sent, push_dropped, push_attempts): (i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT \
             CAST(COALESCE(SUM(CASE WHEN delivered_at_ms IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN delivered_at_ms IS NOT NULL AND last_error IS NULL \
                  THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN delivered_at_ms IS NOT NULL AND last_error IS NOT NULL \
                  THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM push_deliveries",
        )
        .fetch_one(&state.db().pool)
        .await?;
    Ok(Json(OutboundStatus {
        pending,
        delivered,
        attempts,
        push: PushStatus {
            pending: push_pending,
            delivered: push_sent,
            dropped: push_dropped,
            attempts: push_attempts,
        },
    }))
}
