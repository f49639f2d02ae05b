//! Closing a day: its billing records frozen into one export row per
//! (day, UTC offset), and the exports listed and shown.

use serde::Serialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use super::*;
use crate::openapi::constraints;

const EXPORT_COLUMNS: &str = "id, date, utc_offset_minutes, delivery_id, record_count, \
    payment_count, created_at_ms, attempts, next_attempt_at_ms, delivered_at_ms, last_error";

/// A billing export and its delivery state (`GET /v1/billing/exports`).
#[derive(Serialize, ToSchema)]
#[schema(as = BillingExport)]
pub struct ExportView {
    export_id: String,
    date: String,
    utc_offset: String,
    utc_offset_minutes: i64,
    delivery_id: String,
    record_count: i64,
    payment_count: i64,
    created_at_ms: i64,
    #[schema(schema_with = state_schema)]
    state: &'static str,
    attempts: i64,
    next_attempt_at_ms: Option<i64>,
    delivered_at_ms: Option<i64>,
    last_error: Option<String>,
    /// Exactly what is delivered (GET one only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, required = false)]
    body: Option<Value>,
}

impl ExportView {
    /// Not delivered yet: what the list counts as `pending`.
    pub fn is_pending(&self) -> bool {
        self.delivered_at_ms.is_none()
    }
}

/// The delivery states of an export.
fn state_schema() -> RefOr<Schema> {
    constraints::one_of(&["pending", "delivered"])
}

fn export_view(r: ExportRow) -> ExportView {
    let delivered = r.delivered_at_ms.is_some();
    ExportView {
        export_id: r.id,
        date: r.date,
        utc_offset: offset_label(r.utc_offset_minutes),
        utc_offset_minutes: r.utc_offset_minutes,
        delivery_id: r.delivery_id,
        record_count: r.record_count,
        payment_count: r.payment_count,
        created_at_ms: r.created_at_ms,
        state: if delivered { "delivered" } else { "pending" },
        attempts: r.attempts,
        next_attempt_at_ms: (!delivered).then_some(r.next_attempt_at_ms),
        delivered_at_ms: r.delivered_at_ms,
        last_error: r.last_error,
        body: None,
    }
}

/// Closes `date` at `offset`: freezes its billing records into an export
/// (once; asking again answers the same export). Returns the export's view
/// and whether this call created it. A day that has not ended yet is
/// refused, since its records could still change.
pub async fn close_day(
    state: &AppState,
    date: &str,
    offset: i64,
) -> Result<(ExportView, bool), ApiError> {
    let (from, to) = parse_day("date", date, offset)?;
    let now = to_i64(now_ms());
    if to > now {
        return Err(ApiError::DayNotEnded(format!(
            "{date} at UTC{} ends at {to} ms; export it after it has ended",
            offset_label(offset)
        )));
    }
    if let Some(existing) = find_export(state, date, offset).await? {
        return Ok((existing, false));
    }
    let pool = &state.db().pool;
    let records = billing::settlement(pool, date, from, to).await?;
    let payments = billing::day_payments(&state.db().pool, from, to).await?;
    let cash_floats = crate::kiosk::settlement::cash_floats(pool, date, from, to).await?;
    let id = new_id("bex").map_err(|e| ApiError::Internal(e.to_string()))?;
    let delivery_id = new_id("bdl").map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = json!({
        "delivery_id": delivery_id,
        "date": date,
        "utc_offset": offset_label(offset),
        "utc_offset_minutes": offset,
        "from_ms": from,
        "to_ms": to,
        "records": records,
        "payments": payments,
        "cash_floats": cash_floats,
    })
    .to_string();
    let (record_count, payment_count) = (records.len() as i64, payments.len() as i64);
    let date_owned = date.to_string();
    let inserted = state
        .db()
        .write_tx(move |conn| {
            let (id, date, delivery_id, body) = (
                id.clone(),
                date_owned.clone(),
                delivery_id.clone(),
                body.clone(),
            );
            Box::pin(async move {
                let n = sqlx::query(
                    "INSERT INTO billing_exports (id, date, utc_offset_minutes, delivery_id, body, \
                     record_count, payment_count, created_at_ms, attempts, next_attempt_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8) \
                     ON CONFLICT (date, utc_offset_minutes) DO NOTHING",
                )
                .bind(id)
                .bind(date)
                .bind(offset)
                .bind(delivery_id)
                .bind(body)
                .bind(record_count)
                .bind(payment_count)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(n == 1)
            })
        })
        .await?;
    if inserted {
        tracing::info!(date, offset, records = record_count, "billing day closed");
        state.notify_billing();
    }
    let view = find_export(state, date, offset)
        .await?
        .ok_or_else(|| ApiError::Internal("billing export vanished".into()))?;
    Ok((view, inserted))
}

async fn find_export(
    state: &AppState,
    date: &str,
    offset: i64,
) -> Result<Option<ExportView>, ApiError> {
    let row: Option<ExportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EXPORT_COLUMNS} FROM billing_exports WHERE date = $1 AND utc_offset_minutes = $2"
    )))
    .bind(date.to_string())
    .bind(offset)
    .fetch_optional(&state.db().pool)
    .await?;
    Ok(row.map(export_view))
}

/// The exports (of `date` when given), newest day first, at most 100.
pub async fn list_exports(
    state: &AppState,
    date: Option<&str>,
) -> Result<Vec<ExportView>, ApiError> {
    let rows: Vec<ExportRow> = match date {
        Some(d) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EXPORT_COLUMNS} FROM billing_exports WHERE date = $1 \
             ORDER BY utc_offset_minutes, id"
        )))
        .bind(d.to_string()),
        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EXPORT_COLUMNS} FROM billing_exports ORDER BY date DESC, created_at_ms DESC, id \
             LIMIT 100"
        ))),
    }
    .fetch_all(&state.db().pool)
    .await?;
    Ok(rows.into_iter().map(export_view).collect())
}

/// One export with the exact body delivered.
pub async fn get_export(state: &AppState, id: &str) -> Result<ExportView, ApiError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT body FROM billing_exports WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&state.db().pool)
        .await?;
    let Some((body,)) = row else {
        return Err(ApiError::NotFound("no such billing export".into()));
    };
    let r: ExportRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EXPORT_COLUMNS} FROM billing_exports WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_one(&state.db().pool)
    .await?;
    let mut view = export_view(r);
    view.body = Some(serde_json::from_str(&body).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(view)
}
