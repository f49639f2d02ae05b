//! Terminal reports: what a terminal did (gate opened, payment verified...),
//! uploaded once or re-sent after an outage, stored once per `report_id`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::fare::FareContext;
use wayfare_protocol::ids::redact;

use crate::auth::{Admin, Signed, Terminal};
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, parse_amount, parse_currency, ApiPath};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// A terminal's report.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReportRequest {
    #[schema(schema_with = constraints::id)]
    report_id: String,
    #[schema(schema_with = constraints::text::<64>)]
    kind: String,
    #[schema(schema_with = constraints::id)]
    order_id: String,
    #[schema(schema_with = constraints::id_or_null)]
    payment_id: Option<String>,
    #[schema(schema_with = constraints::amount_or_null)]
    amount_minor: Option<serde_json::Number>,
    #[schema(schema_with = constraints::currency_or_null)]
    currency: Option<String>,
    #[schema(schema_with = constraints::fare_context_or_null)]
    fare: Option<FareContext>,
    #[schema(schema_with = constraints::unsigned)]
    at_ms: u64,
    #[schema(schema_with = detail)]
    detail: String,
    /// For `tap_in`: the rider's device-signed entry consent.
    #[serde(default)]
    #[schema(schema_with = entry_consent_or_null)]
    entry_consent: Option<String>,
}

/// A report's detail: at most 2000 characters.
fn detail() -> RefOr<Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(2000))
        .into()
}

/// A tap-in's entry consent: at most 4096 bytes, or `null`.
fn entry_consent_or_null() -> RefOr<Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::String,
            utoipa::openapi::schema::Type::Null,
        ]))
        .max_length(Some(4096))
        .description(Some("at most 4096 bytes"))
        .into()
}

/// The answer to a stored (or already stored) report.
#[derive(Serialize, ToSchema)]
pub(crate) struct Accepted {
    /// Always `true`.
    accepted: bool,
}

/// A validated report row.
#[derive(Clone)]
struct Row {
    terminal_id: String,
    report_id: String,
    kind: String,
    order_id: String,
    payment_id: Option<String>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    fare_json: Option<String>,
    at_ms: i64,
    detail: String,
}

/// `POST /v1/terminals/me/reports` (terminal).
#[utoipa::path(post, path = "/v1/terminals/me/reports", operation_id = "submitReport", tag = "terminals",
    summary = "Stores a terminal report once per report_id.",
    security(("terminalSignature" = [])),
    request_body = ReportRequest,
    responses((status = 200, description = "success", body = Accepted), Fails<400, 401, 422>))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    request: Signed<Terminal>,
) -> Result<Json<Accepted>, ApiError> {
    let req: ReportRequest = request.json()?;
    check_id("report_id", &req.report_id)?;
    check_text("kind", &req.kind, 64)?;
    check_id("order_id", &req.order_id)?;
    if let Some(p) = &req.payment_id {
        check_id("payment_id", p)?;
    }
    let amount_minor = match &req.amount_minor {
        Some(n) => Some(to_i64(parse_amount("amount_minor", n)?)),
        None => None,
    };
    let currency = match &req.currency {
        Some(c) => Some(parse_currency("currency", c)?.code().to_string()),
        None => None,
    };
    if req.detail.chars().count() > 2000 {
        return Err(ApiError::field("detail", "must be at most 2000 characters"));
    }
    let fare_json = match &req.fare {
        Some(f) => Some(serde_json::to_string(f).map_err(|e| ApiError::Internal(e.to_string()))?),
        None => None,
    };
    if let Some(c) = &req.entry_consent {
        if c.len() > 4096 {
            return Err(ApiError::field("entry_consent", "is too long"));
        }
    }
    let entry = (req.kind == "tap_in")
        .then(|| req.entry_consent.clone())
        .flatten()
        .map(|c| (req.order_id.clone(), req.fare.clone(), c));
    let row = Row {
        terminal_id: request.signer.terminal_id.clone(),
        report_id: req.report_id,
        kind: req.kind,
        order_id: req.order_id,
        payment_id: req.payment_id,
        amount_minor,
        currency,
        fare_json,
        at_ms: to_i64(req.at_ms),
        detail: req.detail,
    };
    let received = to_i64(now_ms());
    let stored = state
        .db()
        .write_tx(move |conn| {
            let row = row.clone();
            Box::pin(async move {
                let exists: Option<(String,)> = sqlx::query_as(
                    "SELECT report_id FROM terminal_reports WHERE terminal_id = $1 AND report_id = $2",
                )
                .bind(row.terminal_id.clone())
                .bind(row.report_id.clone())
                .fetch_optional(&mut *conn)
                .await?;
                if exists.is_some() {
                    return Ok(false);
                }
                sqlx::query("UPDATE terminals SET report_seq = report_seq + 1 WHERE id = $1")
                    .bind(row.terminal_id.clone())
                    .execute(&mut *conn)
                    .await?;
                let (seq,): (i64,) =
                    sqlx::query_as("SELECT report_seq FROM terminals WHERE id = $1")
                        .bind(row.terminal_id.clone())
                        .fetch_one(&mut *conn)
                        .await?;
                sqlx::query(
                    "INSERT INTO terminal_reports (terminal_id, report_id, seq, kind, order_id, \
                     payment_id, amount_minor, currency, fare_json, at_ms, detail, received_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(row.terminal_id)
                .bind(row.report_id)
                .bind(seq)
                .bind(row.kind)
                .bind(row.order_id)
                .bind(row.payment_id)
                .bind(row.amount_minor)
                .bind(row.currency)
                .bind(row.fare_json)
                .bind(row.at_ms)
                .bind(row.detail)
                .bind(received)
                .execute(&mut *conn)
                .await?;
                Ok(true)
            })
        })
        .await?;
    tracing::debug!(terminal = %redact(&request.signer.terminal_id), stored, "report received");
    if let Some((token_id, fare, consent)) = entry {
        // The gate opened already: a consent that does not verify is kept
        // as an unattributed entry in the report log, not refused.
        if let Err(e) = crate::journeys::record_entry(
            &state,
            &request.signer.terminal_id,
            &token_id,
            fare.as_ref(),
            &consent,
        )
        .await
        {
            tracing::warn!(terminal = %redact(&request.signer.terminal_id), error = %e, "a tap-in's entry consent does not verify: unattributed entry");
        }
    }
    Ok(Json(Accepted { accepted: true }))
}

/// One stored report.
#[derive(Serialize, ToSchema)]
#[schema(as = Report)]
struct ReportView {
    report_id: String,
    kind: String,
    order_id: String,
    payment_id: Option<String>,
    amount_minor: Option<u64>,
    currency: Option<String>,
    #[schema(value_type = Option<Object>)]
    fare: Option<Value>,
    at_ms: u64,
    detail: String,
    received_at_ms: u64,
}

/// A terminal's reports, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct Reports {
    reports: Vec<ReportView>,
}

/// A stored report, as listed.
#[derive(sqlx::FromRow)]
struct ReportRow {
    report_id: String,
    kind: String,
    order_id: String,
    payment_id: Option<String>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    fare_json: Option<String>,
    at_ms: i64,
    detail: String,
    received_at_ms: i64,
}

/// `GET /v1/terminals/{terminal_id}/reports` (admin), oldest first.
#[utoipa::path(get, path = "/v1/terminals/{terminal_id}/reports", operation_id = "listReports", tag = "terminals",
    summary = "A terminal's reports, oldest first.",
    security(("adminToken" = [])),
    params(("terminal_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = Reports), Fails<401, 404>))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(terminal_id): ApiPath<String>,
) -> Result<Json<Reports>, ApiError> {
    let pool = &state.db().pool;
    let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM terminals WHERE id = $1")
        .bind(terminal_id.clone())
        .fetch_optional(pool)
        .await?;
    if exists.is_none() {
        return Err(ApiError::UnknownTerminal(format!(
            "terminal {} does not exist",
            redact(&terminal_id)
        )));
    }
    let rows: Vec<ReportRow> = sqlx::query_as(
        "SELECT report_id, kind, order_id, payment_id, amount_minor, currency, fare_json, at_ms, \
         detail, received_at_ms FROM terminal_reports WHERE terminal_id = $1 ORDER BY seq",
    )
    .bind(terminal_id)
    .fetch_all(pool)
    .await?;
    let reports: Vec<ReportView> = rows
        .into_iter()
        .map(|r| ReportView {
            report_id: r.report_id,
            kind: r.kind,
            order_id: r.order_id,
            payment_id: r.payment_id,
            amount_minor: r.amount_minor.map(to_u64),
            currency: r.currency,
            fare: r.fare_json.and_then(|f| serde_json::from_str(&f).ok()),
            at_ms: to_u64(r.at_ms),
            detail: r.detail,
            received_at_ms: to_u64(r.received_at_ms),
        })
        .collect();
    Ok(Json(Reports { reports }))
}
