//! The results, for a person (a table on stderr/stdout) and for scripts
//! (`--json`).

use serde_json::json;

use crate::drive::Results;
use crate::verify::Verdict;
use crate::Args;

/// Prints the run's numbers and the ledger verdict.
pub fn print(args: &Args, results: &Results, verdict: &Verdict) {
    let secs = results.window.as_secs_f64();
    let throughput = results.measured_ok as f64 / secs;
    let ms = |q: f64| results.latency_us.value_at_quantile(q) as f64 / 1000.0;
    let mode = match args.rate {
        Some(rate) => format!("open loop at {rate}/s"),
        None => format!("closed loop, {} clients", args.concurrency),
    };
    let label = if args.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", args.label)
    };
    println!(
        "{label}{mode}, {} riders, {:.0} s measured: {throughput:.0} payments/s  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        args.riders,
        secs,
        ms(0.50),
        ms(0.90),
        ms(0.99),
        ms(0.999),
        results.latency_us.max() as f64 / 1000.0,
    );
    println!(
        "{label}refused {}  failed {}  dropped {}  acknowledged in all {}",
        results.refused, results.failed, results.dropped, verdict.acknowledged
    );
    if let Some(e) = &results.first_error {
        println!("{label}first error: {e}");
    }
    println!(
        "{label}ledger: sum {} · balance mismatches {} · riders off {} · merchant {} of {} expected → {}",
        verdict.ledger_sum,
        verdict.balance_mismatches,
        verdict.rider_mismatches.len(),
        verdict.merchant.0,
        verdict.merchant.1,
        if verdict.ok() { "every acknowledged payment is there exactly once" } else { "MISMATCH" }
    );
    for m in verdict.rider_mismatches.iter().take(5) {
        println!("{label}  {m}");
    }
    if args.json {
        println!(
            "{}",
            json!({
                "label": args.label,
                "mode": if args.rate.is_some() { "open" } else { "closed" },
                "rate": args.rate,
                "concurrency": args.concurrency,
                "riders": args.riders,
                "seconds": secs,
                "payments_per_second": throughput,
                "p50_ms": ms(0.50), "p90_ms": ms(0.90), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
                "max_ms": results.latency_us.max() as f64 / 1000.0,
                "refused": results.refused, "failed": results.failed, "dropped": results.dropped,
                "acknowledged": verdict.acknowledged,
                "ledger_ok": verdict.ok(),
            })
        );
    }
}
