//! Billing out, reconciliation back (issue 12.4). A closed day's billing
//! records (the settlement records and the day's payments) are frozen into
//! a `billing_exports` row, one per (day, UTC offset), and a worker posts
//! that exact body to the external billing system, signed with HMAC-SHA256,
//! retrying with backoff until a 2xx answer; rows survive restarts, as the
//! alert outbox does. The billing system's reconciliation file (JSON or
//! CSV) is compared with the ledger and the result kept in
//! `billing_reconciliations`.
//!
//! A delivery carries the headers `wayfare-delivery-id` (also
//! `idempotency-key`; the same on every retry, so the billing system
//! dedupes on it), `wayfare-timestamp` (Unix seconds of this attempt) and
//! `wayfare-signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.

use std::time::Duration;

use ring::hmac;
use serde_json::{json, Value};
use thiserror::Error;
use wayfare_protocol::ids::{new_id, redact};

use crate::billing::{self, LedgerPayment, StatementEntry};
use crate::civil::{civil_from_days, local_day_start, offset_label, parse_day};
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::outbox::RetryPolicy;
use crate::state::AppState;

/// Longest sleep between passes of the sender (also picks up exports made
/// by other instances and the daily close).
const MAX_IDLE: Duration = Duration::from_secs(5);
/// How long a claimed export is left alone by other workers.
const LEASE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// Why a billing endpoint cannot be configured.
#[derive(Debug, Error)]
pub enum BillingConfigError {
    /// The URL does not parse or is not http(s).
    #[error("billing endpoint URL: {0}")]
    Url(String),
    /// The signing secret is too short to be a secret.
    #[error("billing signing secret must be at least 16 bytes")]
    WeakSecret,
    /// The HTTP client could not be built.
    #[error("billing HTTP client: {0}")]
    Client(String),
    /// The daily close offset is outside -720..=840 minutes.
    #[error("billing close UTC offset must be within -720..=840 minutes")]
    Offset,
}

/// Where billing exports go: the external billing system's URL, the shared
/// secret that signs each delivery, and optionally the UTC offset at which
/// the server closes each day by itself.
#[derive(Clone)]
pub struct BillingEndpoint {
    url: reqwest::Url,
    key: hmac::Key,
    client: reqwest::Client,
    daily_close_offset: Option<i64>,
}

impl std::fmt::Debug for BillingEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("BillingEndpoint")
            .field("url", &self.url.as_str())
            .field("daily_close_offset", &self.daily_close_offset)
            .finish_non_exhaustive()
    }
}

impl BillingEndpoint {
    /// An endpoint posting to `url` (http or https), signing with `secret`
    /// (at least 16 bytes), each attempt bounded by `timeout`.
    pub fn new(url: &str, secret: &[u8], timeout: Duration) -> Result<Self, BillingConfigError> {
        let url = reqwest::Url::parse(url).map_err(|e| BillingConfigError::Url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BillingConfigError::Url(format!("{url} is not http(s)")));
        }
        if secret.len() < 16 {
            return Err(BillingConfigError::WeakSecret);
        }
        // reqwest is built without a default rustls provider; install ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| BillingConfigError::Client(e.to_string()))?;
        Ok(Self {
            url,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            client,
            daily_close_offset: None,
        })
    }

    /// Also close each day automatically once it has ended at
    /// `offset_minutes` east of UTC (the operator's zone): the sender
    /// creates the export of the previous day if it does not exist yet.
    pub fn with_daily_close(mut self, offset_minutes: i64) -> Result<Self, BillingConfigError> {
        if !(-720..=840).contains(&offset_minutes) {
            return Err(BillingConfigError::Offset);
        }
        self.daily_close_offset = Some(offset_minutes);
        Ok(self)
    }

    /// The `v1=` signature of `body` sent at `timestamp` (Unix seconds).
    fn signature(&self, timestamp: i64, body: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body.as_bytes());
        format!("v1={}", hex::encode(ctx.sign().as_ref()))
    }

    async fn deliver(&self, delivery_id: &str, body: &str) -> Result<(), String> {
        let timestamp = to_i64(now_ms()) / 1000;
        let answer = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("wayfare-delivery-id", delivery_id)
            .header("idempotency-key", delivery_id)
            .header("wayfare-timestamp", timestamp.to_string())
            .header("wayfare-signature", self.signature(timestamp, body))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("unreachable: {}", e.without_url()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", answer.status().as_u16()))
        }
    }
}

type ExportRow = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

const EXPORT_COLUMNS: &str = "id, date, utc_offset_minutes, delivery_id, record_count, \
    payment_count, created_at_ms, attempts, next_attempt_at_ms, delivered_at_ms, last_error";

fn export_view(r: ExportRow) -> Value {
    json!({
        "export_id": r.0,
        "date": r.1,
        "utc_offset": offset_label(r.2),
        "utc_offset_minutes": r.2,
        "delivery_id": r.3,
        "record_count": r.4,
        "payment_count": r.5,
        "created_at_ms": r.6,
        "state": if r.9.is_some() { "delivered" } else { "pending" },
        "attempts": r.7,
        "next_attempt_at_ms": if r.9.is_some() { None } else { Some(r.8) },
        "delivered_at_ms": r.9,
        "last_error": r.10,
    })
}

/// Closes `date` at `offset`: freezes its billing records into an export
/// (once; asking again answers the same export). Returns the export's view
/// and whether this call created it. A day that has not ended yet is
/// refused, since its records could still change.
pub async fn close_day(
    state: &AppState,
    date: &str,
    offset: i64,
) -> Result<(Value, bool), ApiError> {
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
    let payments = day_payments(state, from, to).await?;
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

async fn day_payments(
    state: &AppState,
    from: i64,
    to: i64,
) -> Result<Vec<LedgerPayment>, ApiError> {
    let rows: Vec<(String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT id, merchant_id, amount_minor, currency, completed_at_ms FROM payments \
         WHERE completed_at_ms >= $1 AND completed_at_ms < $2 ORDER BY completed_at_ms, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&state.db().pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LedgerPayment {
            payment_id: r.0,
            merchant_id: r.1,
            amount_minor: r.2,
            currency: r.3,
            completed_at_ms: r.4,
        })
        .collect())
}

async fn find_export(state: &AppState, date: &str, offset: i64) -> Result<Option<Value>, ApiError> {
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
pub async fn list_exports(state: &AppState, date: Option<&str>) -> Result<Vec<Value>, ApiError> {
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
pub async fn get_export(state: &AppState, id: &str) -> Result<Value, ApiError> {
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
    view["body"] = serde_json::from_str(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(view)
}

/// The sender: runs until the server shuts down, delivering pending exports
/// (including those left by a previous run) and closing days when
/// configured to.
pub async fn run(state: AppState, endpoint: BillingEndpoint, policy: RetryPolicy) {
    let mut shutdown = state.shutdown_signal();
    // The last local day (number) closed by this run.
    let mut closed_through: Option<i64> = None;
    loop {
        if let Some(offset) = endpoint.daily_close_offset {
            match close_ended_days(&state, offset, closed_through).await {
                Ok(day) => closed_through = Some(day),
                Err(e) => tracing::warn!(error = %e, "closing ended billing days failed"),
            }
        }
        let idle = match deliver_due(&state, &endpoint, policy).await {
            Ok(Some(next_due)) => {
                let wait = next_due - to_i64(now_ms());
                Duration::from_millis(wait.clamp(5, MAX_IDLE.as_millis() as i64) as u64)
            }
            Ok(None) => MAX_IDLE,
            Err(e) => {
                tracing::warn!(error = %e, "billing delivery pass failed");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.billing_wake().notified() => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

/// How many ended days the daily close looks back on start, so days that
/// ended while the server was down are closed too.
const CATCH_UP_DAYS: i64 = 7;

/// Closes every ended day at `offset` after `closed_through` (on start: the
/// last [`CATCH_UP_DAYS`]); answers the last day number closed.
async fn close_ended_days(
    state: &AppState,
    offset: i64,
    closed_through: Option<i64>,
) -> Result<i64, ApiError> {
    let today_start = local_day_start(to_i64(now_ms()), offset);
    let yesterday = (today_start + offset * 60_000).div_euclid(DAY_MS) - 1;
    let first = closed_through.map_or(yesterday - CATCH_UP_DAYS + 1, |d| d + 1);
    for day in first..=yesterday {
        let (y, m, d) = civil_from_days(day);
        close_day(state, &format!("{y:04}-{m:02}-{d:02}"), offset).await?;
    }
    Ok(yesterday.max(closed_through.unwrap_or(yesterday)))
}

async fn deliver_due(
    state: &AppState,
    endpoint: &BillingEndpoint,
    policy: RetryPolicy,
) -> Result<Option<i64>, ApiError> {
    let pool = &state.db().pool;
    let now = to_i64(now_ms());
    let due: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, delivery_id, body, attempts, next_attempt_at_ms FROM billing_exports \
         WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= $1 \
         ORDER BY created_at_ms, id LIMIT 20",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    for (id, delivery_id, body, attempts, due_at) in due {
        if !claim(state, &id, due_at).await? {
            continue;
        }
        let outcome = endpoint.deliver(&delivery_id, &body).await;
        finish(state, &id, attempts + 1, outcome, policy).await?;
    }
    let next: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT MIN(next_attempt_at_ms) FROM billing_exports WHERE delivered_at_ms IS NULL",
    )
    .fetch_optional(pool)
    .await?;
    Ok(next.and_then(|r| r.0))
}

/// Takes a lease on an export; false when another worker took it first.
async fn claim(state: &AppState, id: &str, due_at: i64) -> Result<bool, ApiError> {
    let id = id.to_string();
    let until = to_i64(now_ms()) + LEASE_MS;
    state
        .db()
        .write_tx(move |conn| {
            let id = id.clone();
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE billing_exports SET next_attempt_at_ms = $1 \
                     WHERE id = $2 AND delivered_at_ms IS NULL AND next_attempt_at_ms = $3",
                )
                .bind(until)
                .bind(id)
                .bind(due_at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(n == 1)
            })
        })
        .await
}

async fn finish(
    state: &AppState,
    id: &str,
    attempts: i64,
    outcome: Result<(), String>,
    policy: RetryPolicy,
) -> Result<(), ApiError> {
    let now = to_i64(now_ms());
    match &outcome {
        Ok(()) => tracing::info!(export = %redact(id), attempts, "billing export delivered"),
        Err(e) => {
            tracing::warn!(export = %redact(id), attempts, error = %e, "billing delivery failed; will retry")
        }
    }
    let id = id.to_string();
    let next = now + policy.delay_ms(attempts);
    state
        .db()
        .write_tx(move |conn| {
            let (id, outcome) = (id.clone(), outcome.clone());
            Box::pin(async move {
                match outcome {
                    Ok(()) => sqlx::query(
                        "UPDATE billing_exports SET delivered_at_ms = $1, attempts = $2, \
                         last_error = NULL WHERE id = $3",
                    )
                    .bind(now)
                    .bind(attempts)
                    .bind(id),
                    Err(e) => sqlx::query(
                        "UPDATE billing_exports SET next_attempt_at_ms = $1, attempts = $2, \
                         last_error = $3 WHERE id = $4",
                    )
                    .bind(next)
                    .bind(attempts)
                    .bind(e.chars().take(300).collect::<String>())
                    .bind(id),
                }
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
}

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
) -> Result<Value, ApiError> {
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
    let row = (
        id.clone(),
        input.date.to_string(),
        input.offset,
        input.merchant_id.map(str::to_string),
        input.source_format.to_string(),
        input.entries.len() as i64,
        report.matched as i64,
        report.missing.len() as i64,
        report.mismatched.len() as i64,
        report.unknown.len() as i64,
        result.to_string(),
    );
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
                .bind(r.0)
                .bind(r.1)
                .bind(r.2)
                .bind(r.3)
                .bind(r.4)
                .bind(r.5)
                .bind(r.6)
                .bind(r.7)
                .bind(r.8)
                .bind(r.9)
                .bind(r.10)
                .bind(now)
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

type RecoRow = (
    String,
    String,
    i64,
    Option<String>,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    i64,
);

const RECO_COLUMNS: &str = "id, date, utc_offset_minutes, merchant_id, source_format, line_count, \
    matched, missing_count, mismatched_count, unknown_count, result, created_at_ms";

fn reco_summary(r: &RecoRow) -> Value {
    json!({
        "reconciliation_id": r.0,
        "date": r.1,
        "utc_offset": offset_label(r.2),
        "merchant_id": r.3,
        "source_format": r.4,
        "lines": r.5,
        "balanced": r.7 == 0 && r.8 == 0 && r.9 == 0,
        "matched": r.6,
        "missing_count": r.7,
        "mismatched_count": r.8,
        "unknown_count": r.9,
        "created_at_ms": r.11,
    })
}

/// The stored reconciliations (of `date` when given), newest first, at
/// most 100, without their lists.
pub async fn list_reconciliations(
    state: &AppState,
    date: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
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

/// One stored reconciliation with every missing, mismatched and unknown
/// payment named.
pub async fn get_reconciliation(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let row: Option<RecoRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECO_COLUMNS} FROM billing_reconciliations WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&state.db().pool)
    .await?;
    let Some(r) = row else {
        return Err(ApiError::NotFound("no such reconciliation".into()));
    };
    let mut view = reco_summary(&r);
    let result: Value =
        serde_json::from_str(&r.10).map_err(|e| ApiError::Internal(e.to_string()))?;
    for key in ["missing", "mismatched", "unknown"] {
        view[key] = result[key].clone();
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_statements_parse_with_any_column_order() {
        let text = "\u{feff}currency,payment_id,note,amount_minor\r\nCNY,pay_a,\"x, \"\"y\"\"\",250\r\n\r\nCNY,pay_b,,7\n";
        let entries = parse_statement_csv(text, 10).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].payment_id, "pay_a");
        assert_eq!(entries[0].amount_minor, 250);
        assert_eq!(entries[1].amount_minor, 7);
    }

    #[test]
    fn bad_csv_is_typed() {
        let bad = [
            "",
            "payment_id,amount_minor\npay_a,1",
            "payment_id,amount_minor,currency\npay_a,1",
            "payment_id,amount_minor,currency\npay_a,one,CNY",
            "payment_id,amount_minor,currency\n\"pay_a,1,CNY",
            "payment_id,amount_minor,currency\npa\"y,1,CNY",
        ];
        for text in bad {
            assert!(
                matches!(
                    parse_statement_csv(text, 10),
                    Err(ApiError::MalformedCsv(_))
                ),
                "{text:?}"
            );
        }
        let many = "payment_id,amount_minor,currency\npay_a,1,CNY\npay_b,1,CNY\n";
        assert!(matches!(
            parse_statement_csv(many, 1),
            Err(ApiError::InvalidField(_))
        ));
    }

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let e = BillingEndpoint::new(
            "http://127.0.0.1:1/",
            b"0123456789abcdef",
            Duration::from_secs(1),
        )
        .unwrap();
        let a = e.signature(1, "{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64);
        assert_ne!(a, e.signature(2, "{}"));
        assert_ne!(a, e.signature(1, "{ }"));
        assert!(
            BillingEndpoint::new("ftp://x/", b"0123456789abcdef", Duration::from_secs(1)).is_err()
        );
        assert!(matches!(
            BillingEndpoint::new("http://x/", b"short", Duration::from_secs(1)),
            Err(BillingConfigError::WeakSecret)
        ));
    }
}
