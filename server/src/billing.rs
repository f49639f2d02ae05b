//! Billing (P1): per-day settlement records per merchant and per operator,
//! exported as JSON or CSV for the external billing system, and the
//! reconciliation of the statement that system sends back.
//!
//! Settlement records are computed from the payments table, which is
//! append-only, so the record of a past day never changes and needs no
//! separate "close" step. A day is the local day at an explicit UTC offset
//! (default UTC), never the server's zone.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use crate::error::ApiError;

/// One settlement line.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `merchant` or `operator`.
    pub level: &'static str,
    /// The operator the merchant settles under.
    pub operator: String,
    /// The merchant (merchant level only).
    pub merchant_id: Option<String>,
    /// The merchant's name (merchant level only).
    pub merchant_name: Option<String>,
    /// Currency of the amounts.
    pub currency: String,
    /// Number of payments.
    pub payment_count: i64,
    /// Sum of the payments.
    pub total_minor: i64,
    /// Fees at the merchant's `fee_bps` (rounded half up per merchant).
    pub fee_minor: i64,
    /// `total_minor - fee_minor`.
    pub net_minor: i64,
}

/// The fee on `total` at `bps` basis points, rounded half up.
pub fn fee(total: i64, bps: i64) -> i64 {
    let product = i128::from(total) * i128::from(bps);
    i64::try_from((product + 5_000) / 10_000).unwrap_or(i64::MAX)
}

type MerchantDay = (String, String, String, i64, String, i64, i64);

/// The settlement records of the payments completed in `[from_ms, to_ms)`:
/// one per merchant and currency, then one per operator and currency.
pub async fn settlement(
    pool: &AnyPool,
    date: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SettlementRecord>, ApiError> {
    let rows: Vec<MerchantDay> = sqlx::query_as(
        "SELECT p.merchant_id, m.name, m.operator_name, m.fee_bps, p.currency, COUNT(*), \
         CAST(SUM(p.amount_minor) AS BIGINT) FROM payments p \
         JOIN merchants m ON m.id = p.merchant_id \
         WHERE p.completed_at_ms >= $1 AND p.completed_at_ms < $2 \
         GROUP BY p.merchant_id, m.name, m.operator_name, m.fee_bps, p.currency \
         ORDER BY m.operator_name, p.merchant_id, p.currency",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let mut records = Vec::with_capacity(rows.len() * 2);
    let mut operators: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for (merchant_id, name, operator, bps, currency, count, total) in rows {
        let fee_minor = fee(total, bps);
        let sum = operators
            .entry((operator.clone(), currency.clone()))
            .or_default();
        sum.0 += count;
        sum.1 += total;
        sum.2 += fee_minor;
        records.push(SettlementRecord {
            date: date.to_string(),
            level: "merchant",
            operator,
            merchant_id: Some(merchant_id),
            merchant_name: Some(name),
            currency,
            payment_count: count,
            total_minor: total,
            fee_minor,
            net_minor: total - fee_minor,
        });
    }
    for ((operator, currency), (count, total, fee_minor)) in operators {
        records.push(SettlementRecord {
            date: date.to_string(),
            level: "operator",
            operator,
            merchant_id: None,
            merchant_name: None,
            currency,
            payment_count: count,
            total_minor: total,
            fee_minor,
            net_minor: total - fee_minor,
        });
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
        "date,level,operator,merchant_id,merchant_name,currency,payment_count,total_minor,\
         fee_minor,net_minor\r\n",
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
            r.total_minor.to_string(),
            r.fee_minor.to_string(),
            r.net_minor.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One line of an external statement.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatementEntry {
    /// Our payment id, as exported.
    pub payment_id: String,
    /// Amount the external system recorded.
    pub amount_minor: i64,
    /// Currency the external system recorded.
    pub currency: String,
}

/// A payment as the ledger knows it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
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
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Payment id.
    pub payment_id: String,
    /// `amount`, `currency`, `other_day` or `duplicate`.
    pub reason: &'static str,
    /// The ledger's payment, when it exists.
    pub ledger: Option<LedgerPayment>,
    /// The statement's line.
    pub statement: StatementEntry,
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

type PaymentRow = (String, String, i64, String, i64);

fn ledger_payment(r: PaymentRow) -> LedgerPayment {
    LedgerPayment {
        payment_id: r.0,
        merchant_id: r.1,
        amount_minor: r.2,
        currency: r.3,
        completed_at_ms: r.4,
    }
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
    let rows: Vec<PaymentRow> = sqlx::query_as(
        "SELECT id, merchant_id, amount_minor, currency, completed_at_ms FROM payments \
         WHERE completed_at_ms >= $1 AND completed_at_ms < $2 ORDER BY completed_at_ms, id",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let day: Vec<LedgerPayment> = rows
        .into_iter()
        .map(ledger_payment)
        .filter(|p| merchant_id.is_none_or(|m| p.merchant_id == m))
        .collect();
    let in_day: HashSet<&str> = day.iter().map(|p| p.payment_id.as_str()).collect();
    let mut others = HashMap::new();
    for line in statement {
        if in_day.contains(line.payment_id.as_str()) || others.contains_key(&line.payment_id) {
            continue;
        }
        let row: Option<PaymentRow> = sqlx::query_as(
            "SELECT id, merchant_id, amount_minor, currency, completed_at_ms FROM payments \
             WHERE id = $1",
        )
        .bind(line.payment_id.clone())
        .fetch_optional(pool)
        .await?;
        if let Some(r) = row {
            others.insert(line.payment_id.clone(), ledger_payment(r));
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
            total_minor: 400,
            fee_minor: 4,
            net_minor: 396,
        };
        let csv = to_csv(&[r]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with("date,level,operator"));
        assert_eq!(
            lines[1],
            "2026-11-21,merchant,\"Tram, Ltd\",mer_1,\"The \"\"Best\"\" Café\",CNY,2,400,4,396"
        );
    }
}
