//! Reconciliation back: the billing system's statement (JSON or CSV)
//! compared with the ledger, and each result stored and listed.

use serde::Serialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use super::*;
use crate::billing::{LedgerPayment, Mismatch};
use crate::openapi::constraints;

/// Splits one CSV record into fields (RFC 4180 quoting; a record does not
/// span lines). `None` when a quote is unbalanced or misplaced.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return None;
                    }
                }
                _ => field.push(c),
            }
        } else {
            match c {
                '"' if at_start => {
                    quoted = true;
                    at_start = false;
                    continue;
                }
                '"' => return None,
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_start = true;
                    continue;
                }
                _ => field.push(c),
            }
        }
        at_start = false;
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// Parses a reconciliation file in CSV: a header row naming at least
/// `payment_id`, `amount_minor` and `currency` (in any order; other columns
/// are ignored), then one line per payment; blank lines are skipped.
pub fn parse_statement_csv(text: &str, max_lines: usize) -> Result<Vec<StatementEntry>, ApiError> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(ApiError::MalformedCsv(
            "the file is empty; expected a header row payment_id,amount_minor,currency".into(),
        ));
    };
    let header = csv_fields(header.trim_start_matches('\u{feff}'))
        .ok_or_else(|| ApiError::MalformedCsv("line 1: unbalanced quote in the header".into()))?;
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            ApiError::MalformedCsv(format!("line 1: the header has no {name} column"))
        })
    };
    let (id_col, amount_col, currency_col) = (
        column("payment_id")?,
        column("amount_minor")?,
        column("currency")?,
    );
    let mut entries = Vec::new();
    for (index, line) in lines {
        let n = index + 1;
        if entries.len() == max_lines {
            return Err(ApiError::field(
                "file",
                format!("at most {max_lines} lines per statement; split it by merchant"),
            ));
        }
        let fields = csv_fields(line)
            .ok_or_else(|| ApiError::MalformedCsv(format!("line {n}: unbalanced quote")))?;
        if fields.len() != header.len() {
            return Err(ApiError::MalformedCsv(format!(
                "line {n}: {} fields where the header has {}",
                fields.len(),
                header.len()
            )));
        }
        let amount = fields[amount_col].trim();
        let amount_minor = amount.parse::<i64>().map_err(|_| {
            ApiError::MalformedCsv(format!(
                "line {n}: amount_minor {amount:?} is not an integer"
            ))
        })?;
        entries.push(StatementEntry {
            payment_id: fields[id_col].trim().to_string(),
            amount_minor,
            currency: fields[currency_col].trim().to_string(),
        });
    }
    Ok(entries)
}

/// A reconciliation to store: what was compared and how it came.
pub struct ReconciliationInput<'a> {
    /// `YYYY-MM-DD`.
    pub date: &'a str,
    /// Minutes east of UTC.
    pub offset: i64,
    /// Only this merchant's payments, when given.
    pub merchant_id: Option<&'a str>,
    /// `json` or `csv`.
    pub source_format: &'static str,
    /// The statement's lines (already validated).
    pub entries: &'a [StatementEntry],
}

/// Compares the statement with the ledger and stores the result; answers
/// the stored result.
pub async fn store_reconciliation(
    state: &AppState,
    input: ReconciliationInput<'_>,
) -> Result<StoredReconciliation, ApiError> {
    let (from, to) = parse_day("date", input.date, input.offset)?;
    let report =
        billing::reconcile_day(&state.db().pool, from, to, input.merchant_id, input.entries)
            .await?;
    let id = new_id("brc").map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = to_i64(now_ms());
    let result = json!({
        "matched": report.matched,
        "missing": report.missing,
        "mismatched": report.mismatched,
        "unknown": report.unknown,
    });
    let row = RecoRow {
        id: id.clone(),
        date: input.date.to_string(),
        utc_offset_minutes: input.offset,
        merchant_id: input.merchant_id.map(str::to_string),
        source_format: input.source_format.to_string(),
        line_count: input.entries.len() as i64,
        matched: report.matched as i64,
        missing_count: report.missing.len() as i64,
        mismatched_count: report.mismatched.len() as i64,
        unknown_count: report.unknown.len() as i64,
        result: result.to_string(),
        created_at_ms: now,
    };
    state
        .db()
        .write_tx(move |conn| {
            let r = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO billing_reconciliations (id, date, utc_offset_minutes, \
                     merchant_id, source_format, line_count, matched, missing_count, \
                     mismatched_count, unknown_count, result, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(r.id)
                .bind(r.date)
                .bind(r.utc_offset_minutes)
                .bind(r.merchant_id)
                .bind(r.source_format)
                .bind(r.line_count)
                .bind(r.matched)
                .bind(r.missing_count)
                .bind(r.mismatched_count)
                .bind(r.unknown_count)
                .bind(r.result)
                .bind(r.created_at_ms)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(
        reconciliation = %redact(&id),
        date = input.date,
        matched = report.matched,
        missing = report.missing.len(),
        mismatched = report.mismatched.len(),
        unknown = report.unknown.len(),
        "reconciliation stored"
    );
    get_reconciliation(state, &id).await
}

/// A stored reconciliation (`RECO_COLUMNS`); `result` holds its lists as
/// JSON.
#[derive(Clone, sqlx::FromRow)]
struct RecoRow {
    id: String,
    date: String,
    utc_offset_minutes: i64,
    merchant_id: Option<String>,
    source_format: String,
    line_count: i64,
    matched: i64,
    missing_count: i64,
    mismatched_count: i64,
    unknown_count: i64,
    result: String,
    created_at_ms: i64,
}

const RECO_COLUMNS: &str = "id, date, utc_offset_minutes, merchant_id, source_format, line_count, \
    matched, missing_count, mismatched_count, unknown_count, result, created_at_ms";

/// A stored reconciliation without its lists
/// (`GET /v1/billing/reconciliations`).
#[derive(Serialize, ToSchema)]
pub struct ReconciliationSummary {
    reconciliation_id: String,
    date: String,
    utc_offset: String,
    merchant_id: Option<String>,
    #[schema(schema_with = source_format_schema)]
    source_format: String,
    lines: i64,
    /// No line missing, mismatched or unknown.
    balanced: bool,
    matched: i64,
    missing_count: i64,
    mismatched_count: i64,
    unknown_count: i64,
    created_at_ms: i64,
}

/// How a reconciliation file came.
fn source_format_schema() -> RefOr<Schema> {
    constraints::one_of(&["json", "csv"])
}

fn reco_summary(r: &RecoRow) -> ReconciliationSummary {
    ReconciliationSummary {
        reconciliation_id: r.id.clone(),
        date: r.date.clone(),
        utc_offset: offset_label(r.utc_offset_minutes),
        merchant_id: r.merchant_id.clone(),
        source_format: r.source_format.clone(),
        lines: r.line_count,
        balanced: r.missing_count == 0 && r.mismatched_count == 0 && r.unknown_count == 0,
        matched: r.matched,
        missing_count: r.missing_count,
        mismatched_count: r.mismatched_count,
        unknown_count: r.unknown_count,
        created_at_ms: r.created_at_ms,
    }
}

/// The stored reconciliations (of `date` when given), newest first, at
/// most 100, without their lists.
pub async fn list_reconciliations(
    state: &AppState,
    date: Option<&str>,
) -> Result<Vec<ReconciliationSummary>, ApiError> {
    let rows: Vec<RecoRow> = match date {
        Some(d) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RECO_COLUMNS} FROM billing_reconciliations WHERE date = $1 \
             ORDER BY created_at_ms DESC, id LIMIT 100"
        )))
        .bind(d.to_string()),
        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RECO_COLUMNS} FROM billing_reconciliations \
             ORDER BY created_at_ms DESC, id LIMIT 100"
        ))),
    }
    .fetch_all(&state.db().pool)
    .await?;
    Ok(rows.iter().map(reco_summary).collect())
}

/// A stored reconciliation with every missing, mismatched and unknown
/// payment named.
// The lists are served as stored (`result`, written from the typed
// report), so they stay `Value`s here.
#[derive(Serialize, ToSchema)]
pub struct StoredReconciliation {
    #[serde(flatten)]
    #[schema(inline)]
    summary: ReconciliationSummary,
    #[schema(value_type = Vec<LedgerPayment>)]
    missing: Value,
    #[schema(value_type = Vec<Mismatch>)]
    mismatched: Value,
    #[schema(value_type = Vec<StatementEntry>)]
    unknown: Value,
}

/// One stored reconciliation with every missing, mismatched and unknown
/// payment named.
pub async fn get_reconciliation(
    state: &AppState,
    id: &str,
) -> Result<StoredReconciliation, ApiError> {
    let row: Option<RecoRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECO_COLUMNS} FROM billing_reconciliations WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&state.db().pool)
    .await?;
    let Some(r) = row else {
        return Err(ApiError::NotFound("no such reconciliation".into()));
    };
    let mut result: Value =
        serde_json::from_str(&r.result).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut list = |key: &str| result.get_mut(key).map(Value::take).unwrap_or(Value::Null);
    Ok(StoredReconciliation {
        summary: reco_summary(&r),
        missing: list("missing"),
        mismatched: list("mismatched"),
        unknown: list("unknown"),
    })
}
