//! `wayfare-loadgen streams`: alerts at scale. Registers `--devices`
//! devices and holds one signed event stream (`GET /v1/devices/me/events`)
//! open for each; `--guardians` of them are real wallet cores
//! (`wayfare-core`, [`guardians`]) each bound to one funded rider, the rest
//! raw HTTP clients that only keep their stream open ([`raw`]). Then the
//! bound riders pay at a fixed rate (open loop) and every guardian alert is
//! timed from its payment's commit to the guardian's core handing it out
//! ([`measure`] says how "commit" is observed). Every acknowledged payment
//! must produce exactly one alert at its rider's guardian: a missing,
//! doubled or misrouted alert fails the run.
//!
//! With `--server-pid`, the server's resident memory is read before the
//! streams are opened and once all are open; the difference divided by the
//! number of streams is the memory per connected subscriber.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::json;
use tokio::time::Instant;

use crate::setup::{register_device, Device, Scene};
use crate::Target;

mod guardians;
mod measure;
mod raw;

/// The `streams` mode's options.
#[derive(clap::Args, Debug, Clone)]
pub struct StreamArgs {
    /// The control center.
    #[command(flatten)]
    pub target: Target,
    /// Connected device streams in all (the guardians' included).
    #[arg(long, default_value_t = 10_000)]
    pub devices: usize,
    /// Riders that pay, each bound to its own guardian (a wallet core).
    #[arg(long, default_value_t = 100)]
    pub guardians: usize,
    /// Payments per second by the bound riders (open loop).
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// How long the riders pay, e.g. `20s`.
    #[arg(long, default_value = "20s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// How long to wait for the last alerts after the last payment.
    #[arg(long, default_value = "15s", value_parser = crate::parse_duration)]
    pub settle: Duration,
    /// The server's process id: its VmRSS is read from /proc/<pid>/status.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Registrations and stream handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub setup_concurrency: usize,
    /// Where the guardians' wallets keep their stores (default: a new
    /// directory under the system's temp dir, removed at the end).
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// Amount of each payment, in minor units.
    #[arg(long, default_value_t = 100)]
    pub amount_minor: u64,
    /// Currency of the run.
    #[arg(long, default_value = "CNY")]
    pub currency: String,
    /// A label printed with the results.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print the results as one JSON object on stdout as well.
    #[arg(long)]
    pub json: bool,
    /// Measure at real wallet cores instead of raw clients (see
    /// [`guardians`] for why this is not the default).
    #[arg(long)]
    pub core_receivers: bool,
}

/// Runs the streams bench; `Ok(false)` when an alert was missing, doubled
/// or misrouted (or a payment stayed unanswered).
pub async fn run(args: StreamArgs) -> Result<bool> {
    if args.guardians == 0 || args.devices < args.guardians || args.rate == 0 {
        bail!("need --guardians ≥ 1, --devices ≥ --guardians and --rate ≥ 1");
    }
    let api = args.target.api()?;
    let (dir, scratch) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("wayfare-loadgen-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)?;
    let outcome = run_in(&args, &api, &dir).await;
    if scratch {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}

async fn run_in(
    args: &StreamArgs,
    api: &crate::client::Api,
    dir: &std::path::Path,
) -> Result<bool> {
    let setup_started = Instant::now();
    let scene =
        Arc::new(Scene::build(api, args.guardians, 16, &args.currency, args.amount_minor).await?);
    eprintln!("binding {} guardians…", args.guardians);
    let raw_guardians = if args.core_receivers {
        Vec::new()
    } else {
        guardians::bind_raw(api, &scene, &args.currency).await?
    };
    let core_count = if args.core_receivers {
        args.guardians
    } else {
        0
    };
    let guardians = guardians::bind_all(
        api,
        &args.target.server,
        dir,
        &scene,
        core_count,
        // One at a time: concurrent wallet registrations deadlocked in
        // sled (wayfare-core's store) on this 2-core machine.
        1,
    )
    .await?;
    let background = args.devices - args.guardians;
    eprintln!("registering {background} more devices…");
    let registering = Instant::now();
    let devices = register_many(api, background, &args.currency, args.setup_concurrency).await?;
    let registered_s = registering.elapsed().as_secs_f64();
    eprintln!("\r  registered {background} devices in {registered_s:.1} s");

    let rss_before = read_rss(args.server_pid)?;
    eprintln!("opening {} device streams…", args.devices);
    let opening = Instant::now();
    let raw = raw::RawStreams::open(&args.target.server, devices, args.setup_concurrency).await?;
    let tally = measure::Tally::new()?;
    let (close_raw_guardians, closed) = tokio::sync::watch::channel(false);
    let mut raw_readers = tokio::task::JoinSet::new();
    for (i, device) in raw_guardians.into_iter().enumerate() {
        let (server, closed, tally) = (args.target.server.clone(), closed.clone(), tally.clone());
        let on_alert_tally = tally.clone();
        raw_readers.spawn(async move {
            let on_alert = Arc::new(move |id: String, at: i64| on_alert_tally.on_alert(i, &id, at));
            if let Err(e) = raw::follow_alerts(&server, device, closed, on_alert).await {
                tally.stream_errors.fetch_add(1, Ordering::Relaxed);
                tally.note_error(format!("guardian {i}: {e:#}"));
            }
        });
    }
    let mut readers = Vec::with_capacity(guardians.len());
    for (i, g) in guardians.iter().enumerate() {
        let on_alert_tally = tally.clone();
        let on_error_tally = tally.clone();
        readers.push(guardians::read_alerts(
            i,
            g,
            Arc::new(move |i, alert: wayfare_core::GuardianAlert| {
                on_alert_tally.on_alert(i, &alert.payment_id, alert.at_ms)
            }),
            Arc::new(move |e| {
                on_error_tally.stream_errors.fetch_add(1, Ordering::Relaxed);
                on_error_tally.note_error(e);
            }),
        ));
    }
    let open =
        raw::wait_for_subscribers(api, args.devices as u64, Duration::from_secs(120)).await?;
    let opened_s = opening.elapsed().as_secs_f64();
    if open < args.devices as u64 {
        bail!(
            "only {open} of {} device streams are open after two minutes",
            args.devices
        );
    }
    // Let the server settle (allocator, first keep-alives) before reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = read_rss(args.server_pid)?;
    eprintln!(
        "{} streams open in {opened_s:.1} s (setup {:.1} s); riders pay at {}/s for {:.0} s…",
        args.devices,
        setup_started.elapsed().as_secs_f64(),
        args.rate,
        args.duration.as_secs_f64()
    );

    let progress = tokio::spawn(progress(tally.clone()));
    measure::pay(api, &scene, &tally, args.rate, args.duration).await;
    let settle_until = Instant::now() + args.settle;
    while tally.missing() > 0 && Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    progress.abort();
    eprintln!();
    let rss_end = read_rss(args.server_pid)?;
    let still_open = raw::device_subscribers(api).await.unwrap_or_default();

    for (stream, _) in &readers {
        stream.cancel();
    }
    for (_, task) in readers {
        let _ = task.await;
    }
    let _ = close_raw_guardians.send(true);
    while raw_readers.join_next().await.is_some() {}
    let ended_early = raw.ended_early.load(Ordering::Relaxed);
    raw.close().await;
    for g in &guardians {
        g.wallet.close().await;
    }

    let report = Report {
        args,
        tally: &tally,
        rss: (rss_before, rss_open, rss_end),
        registered_s,
        opened_s,
        still_open,
        ended_early,
    };
    Ok(report.print())
}

async fn register_many(
    api: &crate::client::Api,
    n: usize,
    currency: &str,
    concurrency: usize,
) -> Result<Vec<Device>> {
    let mut devices = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..n {
        let (api, currency) = (api.clone(), currency.to_string());
        pending.spawn(async move { register_device(&api, &format!("Phone {i}"), &currency).await });
        if pending.len() >= concurrency {
            if let Some(done) = pending.join_next().await {
                devices.push(done??);
                if devices.len().is_multiple_of(500) {
                    eprint!("\r  registered {}/{n}   ", devices.len());
                }
            }
        }
    }
    while let Some(done) = pending.join_next().await {
        devices.push(done??);
    }
    Ok(devices)
}

fn read_rss(pid: Option<u32>) -> Result<Option<u64>> {
    pid.map(raw::rss_bytes).transpose()
}

async fn progress(tally: Arc<measure::Tally>) {
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (from_answer, _) = tally.histograms();
        eprint!(
            "\r  {:>4.0}s  paid {:>7}  alerts {:>7}  p99 {:>8.2} ms  stream errors {}   ",
            start.elapsed().as_secs_f64(),
            tally.acked.load(Ordering::Relaxed),
            tally.alerts.load(Ordering::Relaxed),
            from_answer.value_at_quantile(0.99) as f64 / 1000.0,
            tally.stream_errors.load(Ordering::Relaxed),
        );
    }
}

struct Report<'a> {
    args: &'a StreamArgs,
    tally: &'a measure::Tally,
    rss: (Option<u64>, Option<u64>, Option<u64>),
    registered_s: f64,
    opened_s: f64,
    still_open: u64,
    ended_early: usize,
}

impl Report<'_> {
    /// Prints the results; true when every expected alert arrived once.
    fn print(&self) -> bool {
        let a = self.args;
        let t = self.tally;
        let label = if a.label.is_empty() {
            String::new()
        } else {
            format!("[{}] ", a.label)
        };
        let delivery = t.check();
        let acked = t.acked.load(Ordering::Relaxed);
        let unanswered = t.unanswered.load(Ordering::Relaxed);
        let ok = delivery.ok() && unanswered == 0 && acked > 0;
        let (from_answer, from_at) = t.histograms();
        let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let line = |h: &hdrhistogram::Histogram<u64>| {
            format!(
                "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                ms(h, 0.5),
                ms(h, 0.9),
                ms(h, 0.99),
                h.max() as f64 / 1000.0
            )
        };
        println!(
            "{label}{} device streams ({} raw, {} guardians measured at {}); {} riders paid at {}/s for {:.0} s; devices registered in {:.1} s, streams opened in {:.1} s",
            a.devices,
            a.devices - a.guardians,
            a.guardians,
            if a.core_receivers { "wallet cores" } else { "raw SSE clients parsing guardian.alert" },
            a.guardians,
            a.rate,
            a.duration.as_secs_f64(),
            self.registered_s,
            self.opened_s
        );
        println!(
            "{label}alerts: expected {acked}, received {} (missing {}, duplicated {}, unexpected {}, misrouted {}); payments refused {}, unanswered {unanswered} → {}",
            t.alerts.load(Ordering::Relaxed),
            delivery.missing,
            delivery.duplicated,
            delivery.unexpected,
            delivery.misrouted,
            t.refused.load(Ordering::Relaxed),
            if ok { "every alert arrived exactly once" } else { "FAILED" }
        );
        println!(
            "{label}commit → guardian delivery (from the payment's HTTP answer; the server puts no commit timestamp in the event, the commit happened before the answer): {}  ({} alerts arrived before their answer, counted as 0)",
            line(&from_answer),
            t.before_answer.load(Ordering::Relaxed)
        );
        println!(
            "{label}from the event's at_ms (server clock when the payment began, ms resolution; includes the payment's own commit): {}",
            line(&from_at)
        );
        let per_sub = match self.rss {
            (Some(before), Some(open), _) => {
                Some((open.saturating_sub(before)) as f64 / a.devices as f64)
            }
            _ => None,
        };
        let mib = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0));
        match per_sub {
            Some(per) => println!(
                "{label}server memory: VmRSS {} before the streams, {} with {} open, {} after the run → {:.1} KiB per connected subscriber",
                mib(self.rss.0).unwrap_or_default(),
                mib(self.rss.1).unwrap_or_default(),
                a.devices,
                mib(self.rss.2).unwrap_or_default(),
                per / 1024.0
            ),
            None => println!("{label}server memory: not measured (give --server-pid)"),
        }
        println!(
            "{label}streams: {} open at the end by the server's count; raw streams ended early {}; guardian stream errors {}",
            self.still_open,
            self.ended_early,
            t.stream_errors.load(Ordering::Relaxed)
        );
        if let Some(e) = t.first_error() {
            println!("{label}first error: {e}");
        }
        if a.json {
            println!(
                "{}",
                json!({
                    "label": a.label, "devices": a.devices, "guardians": a.guardians,
                    "rate": a.rate, "seconds": a.duration.as_secs_f64(),
                    "expected_alerts": acked, "received_alerts": t.alerts.load(Ordering::Relaxed),
                    "missing": delivery.missing, "duplicated": delivery.duplicated,
                    "unexpected": delivery.unexpected, "misrouted": delivery.misrouted,
                    "unanswered": unanswered,
                    "p50_ms": ms(&from_answer, 0.5), "p90_ms": ms(&from_answer, 0.9),
                    "p99_ms": ms(&from_answer, 0.99), "max_ms": from_answer.max() as f64 / 1000.0,
                    "at_p50_ms": ms(&from_at, 0.5), "at_p99_ms": ms(&from_at, 0.99),
                    "rss_before": self.rss.0, "rss_open": self.rss.1, "rss_end": self.rss.2,
                    "bytes_per_subscriber": per_sub,
                    "registered_s": self.registered_s, "opened_s": self.opened_s,
                    "ok": ok,
                })
            );
        }
        ok
    }
}
