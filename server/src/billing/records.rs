//! Billing (P1): per-day settlement records per merchant and per operator,
//! exported as JSON or CSV for the external billing system, and the
//! reconciliation of the statement that system sends back.
//!
//! Settlement records are computed from the payments and refunds tables,
//! which are append-only, so the record of a past day never changes and
//! needs no separate "close" step. A day settles net: the payments completed
//! that day minus the refunds made that day (a refund settles on the day it
//! is made, whichever day its payment was), and the fee is taken on that
//! net amount. A day is the local day at an explicit UTC offset (default
//! UTC), never the server's zone.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, AssertSqlSafe};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi::constraints;

/// One settlement line.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, ToSchema)]
pub struct SettlementRecord {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `merchant` or `operator`.
    #[schema(schema_with = level_schema)]
    pub level: &'static str,
    /// The operator the merchant settles under.
    pub operator: String,
    /// The merchant (merchant level only).
    pub merchant_id: Option<String>,
    /// The merchant's name (merchant level only).
    pub merchant_name: Option<String>,
    /// Currency of the amounts.
    pub currency: String,
    /// Number of payments completed that day.
    pub payment_count: i64,
    /// Sum of those payments, before refunds.
    pub gross_minor: i64,
    /// Number of refunds made that day.
    pub refund_count: i64,
    /// Sum of those refunds.
    pub refund_minor: i64,
    /// What settles: `gross_minor - refund_minor` (negative when the day's
    /// refunds exceed its payments).
    pub total_minor: i64,
    /// Fee on `total_minor` at the merchant's `fee_bps`, rounded half away
    /// from zero per merchant (negative, a fee credit, when the total is).
    pub fee_minor: i64,
    /// `total_minor - fee_minor`: the payout.
    pub net_minor: i64,
}

/// The levels a settlement record is of.
fn level_schema() -> RefOr<Schema> {
    constraints::one_of(&["merchant", "operator"])
}

/// The fee on `total` at `bps` basis points, rounded half away from zero
/// (so a negative net total earns back the fee its refunds cancel).
pub fn fee(total: i64, bps: i64) -> i64 {
    let product = i128::from(total) * i128::from(bps);
    let rounded = if product < 0 {
        -((-product + 5_000) / 10_000)
    } else {
        (product + 5_000) / 10_000
    };
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

/// Per merchant and currency: payments or refunds of the day.
/// One merchant's payments (or refunds) of a day, summed.
#[derive(sqlx::FromRow)]
struct MerchantDay {
    merchant_id: String,
    name: String,
    operator_name: String,
    fee_bps: i64,
    currency: String,
    count: i64,
    sum_minor: i64,
}

/// The sums of one settlement line.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    payment_count: i64,
    gross_minor: i64,
    refund_count: i64,
    refund_minor: i64,
    fee_minor: i64,
}

impl Sums {
    fn total(&self) -> i64 {
        self.gross_minor - self.refund_minor
    }

    fn record(
        &self,
        date: &str,
        level: &'static str,
        operator: String,
        merchant: Option<(String, String)>,
        currency: String,
    ) -> SettlementRecord {
        let (merchant_id, merchant_name) = merchant.unzip();
        SettlementRecord {
            date: date.to_string(),
            level,
            operator,
            merchant_id,
            merchant_name,
            currency,
            payment_count: self.payment_count,
            gross_minor: self.gross_minor,
            refund_count: self.refund_count,
            refund_minor: self.refund_minor,
            total_minor: self.total(),
            fee_minor: self.fee_minor,
            net_minor: self.total() - self.fee_minor,
        }
    }
}

/// The settlement records of `[from_ms, to_ms)`: the payments completed
/// and the refunds made in it, netted, one record per merchant and
/// currency, then one per operator and currency.
pub async fn settlement(
    pool: &AnyPool,
    date: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SettlementRecord>, ApiError> {
    let payments: Vec<MerchantDay> = sqlx::query_as(
        "SELECT p.merchant_id, m.name, m.operator_name, m.fee_bps, p.currency, \
         COUNT(*) AS count, CAST(SUM(p.amount_minor) AS BIGINT) AS sum_minor FROM payments p \
         JOIN merchants m ON m.id = p.merchant_id \
         WHERE p.completed_at_ms >= $1 AND p.completed_at_ms < $2 \
         GROUP BY p.merchant_id, m.name, m.operator_name, m.fee_bps, p.currency",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let refunds: Vec<MerchantDay> = sqlx::query_as(
        "SELECT r.merchant_id, m.name, m.operator_name, m.fee_bps, r.currency, \
         COUNT(*) AS count, CAST(SUM(r.amount_minor) AS BIGINT) AS sum_minor \
         FROM merchant_refunds r \
         JOIN merchants m ON m.id = r.merchant_id \
         WHERE r.created_at_ms >= $1 AND r.created_at_ms < $2 \
         GROUP BY r.merchant_id, m.name, m.operator_name, m.fee_bps, r.currency",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    // Ordered by operator, merchant, currency (as the records are listed).
    type MerchantKey = (String, String, String, String);
    let mut merchants: BTreeMap<MerchantKey, (i64, Sums)> = BTreeMap::new();
    for (rows, is_refund) in [(payments, false), (refunds, true)] {
        for day in rows {
            let entry = merchants
                .entry((day.operator_name, day.merchant_id, day.currency, day.name))
                .or_insert((day.fee_bps, Sums::default()));
            if is_refund {
                entry.1.refund_count += day.count;
                entry.1.refund_minor += day.sum_minor;
            } else {
                entry.1.payment_count += day.count;
                entry.1.gross_minor += day.sum_minor;
            }
        }
    }
    let mut records = Vec::with_capacity(merchants.len() * 2);
    let mut operators: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for ((operator, merchant_id, currency, name), (bps, mut sums)) in merchants {
        sums.fee_minor = fee(sums.total(), bps);
        let op = operators
            .entry((operator.clone(), currency.clone()))
            .or_default();
        op.payment_count += sums.payment_count;
        op.gross_minor += sums.gross_minor;
        op.refund_count += sums.refund_count;
        op.refund_minor += sums.refund_minor;
        op.fee_minor += sums.fee_minor;
        records.push(sums.record(
            date,
            "merchant",
            operator,
            Some((merchant_id, name)),
            currency,
        ));
    }
    for ((operator, currency), sums) in operators {
        records.push(sums.record(date, "operator", operator, None, currency));
    }
    Ok(records)
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The records as CSV with a header line (RFC 4180 quoting).
pub fn to_csv(records: &[SettlementRecord]) -> String {
    let mut out = String::from(
        "date,level,operator,merchant_id,merchant_name,currency,payment_count,gross_minor,\
         refund_count,refund_minor,total_minor,fee_minor,net_minor\r\n",
    );
    for r in records {
        let fields = [
            csv_field(&r.date),
            r.level.to_string(),
            csv_field(&r.operator),
            csv_field(r.merchant_id.as_deref().unwrap_or_default()),
            csv_field(r.merchant_name.as_deref().unwrap_or_default()),
            r.currency.clone(),
            r.payment_count.to_string(),
            r.gross_minor.to_string(),
            r.refund_count.to_string(),
            r.refund_minor.to_string(),
            r.total_minor.to_string(),
            r.fee_minor.to_string(),
            r.net_minor.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One line of an external statement (`check_entries` checks its id and
/// currency).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementEntry {
    /// Our payment id, as exported.
    #[schema(schema_with = constraints::id)]
    pub payment_id: String,
    /// Amount the external system recorded.
    #[schema(schema_with = constraints::signed)]
    pub amount_minor: i64,
    /// Currency the external system recorded.
    #[schema(schema_with = constraints::currency)]
    pub currency: String,
}

/// A payment as the ledger knows it (read straight from its row).
#[derive(Serialize, Clone, Debug, PartialEq, Eq, sqlx::FromRow, ToSchema)]
pub struct LedgerPayment {
    /// Payment id.
    pub payment_id: String,
    /// Merchant credited.
    pub merchant_id: String,
    /// Amount.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Commit time (Unix ms).
    pub completed_at_ms: i64,
}

/// A statement line that disagrees with the ledger.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, ToSchema)]
pub struct Mismatch {
    /// Payment id.
    pub payment_id: String,
    /// `amount`, `currency`, `other_day` or `duplicate`.
    #[schema(schema_with = reason_schema)]
    pub reason: &'static str,
    /// The ledger's payment, when it exists.
    pub ledger: Option<LedgerPayment>,
    /// The statement's line.
    pub statement: StatementEntry,
}

/// Why a statement line disagrees with the ledger.
fn reason_schema() -> RefOr<Schema> {
    constraints::one_of(&["amount", "currency", "other_day", "duplicate"])
}

/// The outcome of a reconciliation.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Reconciliation {
    /// Lines that agree with the ledger.
    pub matched: usize,
    /// Ledger payments of the day absent from the statement.
    pub missing: Vec<LedgerPayment>,
    /// Lines that disagree with the ledger.
    pub mismatched: Vec<Mismatch>,
    /// Lines naming a payment the ledger does not have at all.
    pub unknown: Vec<StatementEntry>,
}

/// Compares `statement` with the ledger's payments of `day` (`others`
/// holds ledger payments named by the statement but made on other days).
pub fn reconcile(
    day: &[LedgerPayment],
    others: &HashMap<String, LedgerPayment>,
    statement: &[StatementEntry],
) -> Reconciliation {
    let ours: HashMap<&str, &LedgerPayment> =
        day.iter().map(|p| (p.payment_id.as_str(), p)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Reconciliation::default();
    for line in statement {
        let mismatch = |reason, ledger: Option<&LedgerPayment>| Mismatch {
            payment_id: line.payment_id.clone(),
            reason,
            ledger: ledger.cloned(),
            statement: line.clone(),
        };
        match ours.get(line.payment_id.as_str()) {
            Some(p) if !seen.insert(p.payment_id.as_str()) => {
                out.mismatched.push(mismatch("duplicate", Some(p)))
            }
            Some(p) if p.currency != line.currency => {
                out.mismatched.push(mismatch("currency", Some(p)))
            }
            Some(p) if p.amount_minor != line.amount_minor => {
                out.mismatched.push(mismatch("amount", Some(p)))
            }
            Some(_) => out.matched += 1,
            None => match others.get(&line.payment_id) {
                Some(p) => out.mismatched.push(mismatch("other_day", Some(p))),
                None => out.unknown.push(line.clone()),
            },
        }
    }
    out.missing = day
        .iter()
        .filter(|p| !seen.contains(p.payment_id.as_str()))
        .cloned()
        .collect();
    out
}

/// The columns of a [`LedgerPayment`], from `payments`.
const SELECT_LEDGER_PAYMENT: &str = "SELECT id AS payment_id, merchant_id, amount_minor, \
    currency, completed_at_ms FROM payments";

/// Every payment completed in `[from_ms, to_ms)`, in commit order.
pub async fn day_payments(
    pool: &AnyPool,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<LedgerPayment>, ApiError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT_LEDGER_PAYMENT} WHERE completed_at_ms >= $1 AND completed_at_ms < $2 \
         ORDER BY completed_at_ms, id"
    )))
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?)
}

/// Loads the day's payments (optionally of one merchant) and the other
/// payments the statement names, then reconciles.
pub async fn reconcile_day(
    pool: &AnyPool,
    from_ms: i64,
    to_ms: i64,
    merchant_id: Option<&str>,
    statement: &[StatementEntry],
) -> Result<Reconciliation, ApiError> {
    let day: Vec<LedgerPayment> = day_payments(pool, from_ms, to_ms)
        .await?
        .into_iter()
        .filter(|p| merchant_id.is_none_or(|m| p.merchant_id == m))
        .collect();
    let in_day: HashSet<&str> = day.iter().map(|p| p.payment_id.as_str()).collect();
    let mut others = HashMap::new();
    for line in statement {
        if in_day.contains(line.payment_id.as_str()) || others.contains_key(&line.payment_id) {
            continue;
        }
        let row: Option<LedgerPayment> = sqlx::query_as(AssertSqlSafe(format!(
            "{SELECT_LEDGER_PAYMENT} WHERE id = $1"
        )))
        .bind(line.payment_id.clone())
        .fetch_optional(pool)
        .await?;
        if let Some(payment) = row {
            others.insert(line.payment_id.clone(), payment);
        }
    }
    Ok(reconcile(&day, &others, statement))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(id: &str, amount: i64) -> LedgerPayment {
        LedgerPayment {
            payment_id: id.into(),
            merchant_id: "mer_1".into(),
            amount_minor: amount,
            currency: "CNY".into(),
            completed_at_ms: 1,
        }
    }

    fn line(id: &str, amount: i64) -> StatementEntry {
        StatementEntry {
            payment_id: id.into(),
            amount_minor: amount,
            currency: "CNY".into(),
        }
    }

    #[test]
    fn fees_round_half_up() {
        assert_eq!(fee(10_000, 250), 250);
        assert_eq!(fee(199, 50), 1);
        assert_eq!(fee(99, 50), 0);
        assert_eq!(fee(0, 10_000), 0);
        // A net refund day earns the fee back, rounded the same way.
        assert_eq!(fee(-199, 50), -1);
        assert_eq!(fee(-99, 50), 0);
    }

    #[test]
    fn reconciliation_sorts_every_line() {
        let day = vec![pay("pay_a", 200), pay("pay_b", 300), pay("pay_c", 400)];
        let others = HashMap::from([("pay_old".to_string(), pay("pay_old", 100))]);
        let mut wrong_currency = line("pay_c", 400);
        wrong_currency.currency = "EUR".into();
        let statement = vec![
            line("pay_a", 200),
            line("pay_a", 200),
            line("pay_b", 301),
            wrong_currency,
            line("pay_old", 100),
            line("pay_ghost", 5),
        ];
        let r = reconcile(&day, &others, &statement);
        assert_eq!(r.matched, 1);
        let reasons: Vec<_> = r.mismatched.iter().map(|m| m.reason).collect();
        assert_eq!(reasons, ["duplicate", "amount", "currency", "other_day"]);
        assert!(r.missing.is_empty());
        assert_eq!(r.unknown, vec![line("pay_ghost", 5)]);

        let r = reconcile(&day, &HashMap::new(), &[line("pay_a", 200)]);
        let missing: Vec<_> = r.missing.iter().map(|p| p.payment_id.as_str()).collect();
        assert_eq!(missing, ["pay_b", "pay_c"]);
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let r = SettlementRecord {
            date: "2026-11-21".into(),
            level: "merchant",
            operator: "Tram, Ltd".into(),
            merchant_id: Some("mer_1".into()),
            merchant_name: Some("The \"Best\" Café".into()),
            currency: "CNY".into(),
            payment_count: 2,
            gross_minor: 500,
            refund_count: 1,
            refund_minor: 100,
            total_minor: 400,
            fee_minor: 4,
            net_minor: 396,
        };
        let csv = to_csv(&[r]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with("date,level,operator"));
        assert_eq!(
            lines[1],
            "2026-11-21,merchant,\"Tram, Ltd\",mer_1,\"The \"\"Best\"\" Café\",CNY,2,500,1,100,400,4,396"
        );
    }
}
