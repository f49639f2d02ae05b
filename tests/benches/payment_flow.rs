//! Whole-flow benchmark on loopback: POS payments through the real wallet
//! core, access terminal and control center, with a bare HTTP round trip to
//! the same server measured in the same run for scale, then throughput under
//! a concurrent load. Bounded in count and time; loopback only.
//!
//! `cargo bench -p wayfare-e2e` (add `-- --quick` for a short run).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions};
use wayfare_e2e::connect;
use wayfare_terminal::RunningTerminal;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<5} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
}

async fn one_payment(rider: &RiderWallet, pos: &RunningTerminal) {
    pos.new_sale(100, "bench").await.unwrap();
    let session = connect(rider, pos).await;
    session.next_payment_request().await.unwrap();
    session.confirm().await.unwrap();
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 50 } else { 300 };
    let lanes = 8;
    let load_for = Duration::from_secs(if quick { 3 } else { 10 });

    wayfare_cli::install_crypto_provider();
    let system = LocalSystem::start().await.unwrap();
    let cafe = system.merchant("Bench Café", "CNY").await.unwrap();
    let mut terminals = Vec::new();
    let mut riders = Vec::new();
    for i in 0..lanes {
        terminals.push(
            system
                .pos_terminal(&cafe, "CNY", TerminalOptions::default())
                .await
                .unwrap(),
        );
        let rider = system.rider(&format!("bench-{i}"), None).await.unwrap();
        system.fund(&rider, 100_000_000).await.unwrap();
        riders.push(rider);
    }

    // Warm-up.
    for _ in 0..10 {
        one_payment(&riders[0], &terminals[0]).await;
    }

    let http = reqwest::Client::new();
    let health = format!("{}/v1/health", system.base_url());
    let mut bare = Vec::with_capacity(rounds);
    let mut flow = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        http.get(&health)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bare.push(t.elapsed());
        let t = Instant::now();
        one_payment(&riders[0], &terminals[0]).await;
        flow.push(t.elapsed());
    }
    println!(
        "\nWayfare whole-flow benchmark (loopback, SQLite, {} CPUs)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    report("bare HTTP round trip (GET /v1/health)", bare);
    report("POS payment (sale→handshake→pay→receipt→Done)", flow);

    // Concurrent load: each lane is one rider paying at its own terminal in
    // a loop (a terminal serves one phone at a time), for a fixed duration.
    let deadline = Instant::now() + load_for;
    let started = Instant::now();
    let mut handles = Vec::new();
    for (rider, pos) in riders.into_iter().zip(terminals.into_iter()) {
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                one_payment(&rider, &pos).await;
                n += 1;
            }
            pos.shutdown().await;
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{:<44} {total} payments in {secs:.1} s = {:.0} payments/s ({lanes} concurrent lanes)",
        "concurrent load",
        total as f64 / secs
    );
    assert_eq!(
        system.admin().ledger_sum().await.unwrap(),
        0,
        "ledger must balance after the load"
    );
    println!("ledger check after load: sum of entries = 0");
}
