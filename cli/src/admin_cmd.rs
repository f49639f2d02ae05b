//! `wayfare admin …`: operator commands against a running control center
//! (the billing exchange with the external billing system, over-the-air
//! top-ups).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::AdminClient;

/// Operator commands.
#[derive(Subcommand)]
pub enum AdminAction {
    /// Billing out (closed days to the billing system) and reconciliation back.
    Billing {
        /// What to do.
        #[command(subcommand)]
        action: BillingAction,
    },
    /// Set what a loyalty point pays at a merchant (0 stops it taking
    /// points) and the largest share of a payment points may pay.
    PointsRate(PointsRateArgs),
    /// Over-the-air top-ups, newest first (e.g. the pending ones a provider
    /// never answered).
    TopUps {
        /// Only pending, confirmed or failed ones.
        #[arg(long)]
        status: Option<String>,
    },
}

/// What a loyalty point pays at a merchant.
#[derive(Args)]
pub struct PointsRateArgs {
    /// The merchant id.
    merchant: String,
    /// Minor units one point pays there (0: the merchant takes no points).
    #[arg(long)]
    minor_per_point: u64,
    /// The largest share of a payment points may pay, in basis points
    /// (1 to 10000; default 10000, all of it).
    #[arg(long)]
    max_share_bps: Option<u64>,
}

/// Sets a merchant's points rate and prints it as the server applies it.
async fn points_rate(client: &AdminClient, args: PointsRateArgs) -> Result<()> {
    let rate = client
        .set_points_rate(&args.merchant, args.minor_per_point, args.max_share_bps)
        .await?;
    if rate["accepts_points"] == Value::Bool(true) {
        println!(
            "{}: 1 point = {} minor units of {}, at most {} basis points of a payment",
            text(&rate["merchant_id"]),
            text(&rate["minor_per_point"]),
            text(&rate["currency"]),
            text(&rate["max_share_bps"])
        );
    } else {
        println!("{}: takes no points", text(&rate["merchant_id"]));
    }
    Ok(())
}

/// The billing exchange.
#[derive(Subcommand)]
pub enum BillingAction {
    /// Close a day that has ended: its billing records are frozen and sent
    /// to the billing endpoint until it acknowledges (again: the same export).
    Export {
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The day at this offset, minutes east of UTC (480 = UTC+8).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        utc_offset_minutes: i64,
    },
    /// The exports and their delivery state (pending, attempts, last error).
    Status {
        /// Only this day's exports.
        #[arg(long)]
        date: Option<String>,
    },
    /// Upload the billing system's reconciliation file (CSV with a header
    /// row payment_id,amount_minor,currency, or JSON entries) and show the
    /// stored result.
    Reconcile {
        /// The day the file reconciles, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The day at this offset, minutes east of UTC.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        utc_offset_minutes: i64,
        /// Only this merchant's payments are expected in the file.
        #[arg(long)]
        merchant: Option<String>,
        /// The file (CSV or JSON).
        file: PathBuf,
    },
    /// The stored reconciliations of a day, or one in full with --id.
    Reconciliations {
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
        /// Show this reconciliation with every difference named.
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs an admin command against `server` with the operator's token.
pub async fn run(server: &str, admin_token: &str, action: AdminAction) -> Result<()> {
    let client = AdminClient::new(server, admin_token)?;
    match action {
        AdminAction::Billing { action } => billing(&client, action).await,
        AdminAction::PointsRate(args) => points_rate(&client, args).await,
        AdminAction::TopUps { status } => {
            let top_ups = client.top_ups(status.as_deref()).await?;
            if top_ups.is_empty() {
                println!("no top-ups");
            }
            for t in &top_ups {
                println!(
                    "{}  {:<9}  {} {}  via {}  account {}  provider ref {}",
                    text(&t["reference"]),
                    text(&t["status"]),
                    text(&t["amount_minor"]),
                    text(&t["currency"]),
                    text(&t["provider"]),
                    text(&t["account_id"]),
                    text(&t["provider_reference"])
                );
            }
            Ok(())
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_export(e: &Value) {
    println!(
        "{}  {} UTC{}  {}  attempts {}  records {}  payments {}  delivery {}{}",
        text(&e["export_id"]),
        text(&e["date"]),
        text(&e["utc_offset"]),
        text(&e["state"]),
        text(&e["attempts"]),
        text(&e["record_count"]),
        text(&e["payment_count"]),
        text(&e["delivery_id"]),
        match e["last_error"].as_str() {
            Some(err) => format!("  last error: {err}"),
            None => String::new(),
        }
    );
}

fn print_reconciliation(r: &Value) {
    println!(
        "{}  {} UTC{}  {}  {} lines: {} matched, {} missing, {} mismatched, {} unknown{}",
        text(&r["reconciliation_id"]),
        text(&r["date"]),
        text(&r["utc_offset"]),
        text(&r["source_format"]),
        text(&r["lines"]),
        text(&r["matched"]),
        text(&r["missing_count"]),
        text(&r["mismatched_count"]),
        text(&r["unknown_count"]),
        if r["balanced"] == true {
            "  (balanced)"
        } else {
            ""
        }
    );
}

fn print_differences(r: &Value) {
    let list = |key: &str| r[key].as_array().cloned().unwrap_or_default();
    for p in list("missing") {
        println!(
            "  missing     {}  {} {}  (merchant {})",
            text(&p["payment_id"]),
            text(&p["amount_minor"]),
            text(&p["currency"]),
            text(&p["merchant_id"])
        );
    }
    for m in list("mismatched") {
        println!(
            "  mismatched  {}  {}: ledger {} {}, file {} {}",
            text(&m["payment_id"]),
            text(&m["reason"]),
            text(&m["ledger"]["amount_minor"]),
            text(&m["ledger"]["currency"]),
            text(&m["statement"]["amount_minor"]),
            text(&m["statement"]["currency"])
        );
    }
    for u in list("unknown") {
        println!(
            "  unknown     {}  {} {}",
            text(&u["payment_id"]),
            text(&u["amount_minor"]),
            text(&u["currency"])
        );
    }
}

async fn billing(client: &AdminClient, action: BillingAction) -> Result<()> {
    match action {
        BillingAction::Export {
            date,
            utc_offset_minutes,
        } => {
            let export = client.billing_export(&date, utc_offset_minutes).await?;
            print_export(&export);
        }
        BillingAction::Status { date } => {
            let v = client.billing_exports(date.as_deref()).await?;
            if v["endpoint_configured"] != true {
                println!("no billing endpoint configured: exports stay pending");
            }
            let exports = v["exports"].as_array().cloned().unwrap_or_default();
            println!("{} exports, {} pending", exports.len(), text(&v["pending"]));
            for e in &exports {
                print_export(e);
            }
        }
        BillingAction::Reconcile {
            date,
            utc_offset_minutes,
            merchant,
            file,
        } => {
            let contents = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let stored = client
                .billing_reconcile(&date, utc_offset_minutes, merchant.as_deref(), &contents)
                .await?;
            print_reconciliation(&stored);
            print_differences(&stored);
        }
        BillingAction::Reconciliations { date, id } => match id {
            Some(id) => {
                let r = client.billing_reconciliation(&id).await?;
                print_reconciliation(&r);
                print_differences(&r);
            }
            None => {
                for r in client.billing_reconciliations(date.as_deref()).await? {
                    print_reconciliation(&r);
                }
            }
        },
    }
    Ok(())
}
