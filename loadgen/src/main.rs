//! `wayfare-loadgen`: puts a Wayfare control center under payment load the
//! way phones do — each payment a device-signed instruction posted to
//! `POST /v1/payments` with a signed request — and reports throughput and
//! latency percentiles, then checks that nothing acknowledged was lost:
//! the ledger sums to zero, every balance equals its entries, and every
//! rider's balance is exactly its funding minus its acknowledged payments.
//!
//! Closed loop (`--concurrency N`): N clients, each sending its next payment
//! when the last is answered. Open loop (`--rate R`): payments are due at a
//! fixed rate whatever the server does, and each latency is measured from
//! when the payment was due, so queueing delay is not hidden.
//!
//! Two modes: `payments` (the default when no subcommand is given, so
//! `wayfare-loadgen --rate 500` still works) and `streams`: thousands of
//! connected device event streams while bound riders pay, measuring how
//! long each guardian alert takes to reach the guardian's wallet core
//! (see [`streams`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

mod client;
mod drive;
mod report;
mod setup;
mod streams;
mod verify;

/// Load generator for the Wayfare control center.
#[derive(Parser, Debug)]
#[command(
    name = "wayfare-loadgen",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// The mode; without one, `payments` with the options given here.
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The `payments` mode's options (when no subcommand is given).
    #[command(flatten)]
    payments: Args,
}

/// What to load the control center with.
#[derive(clap::Subcommand, Debug)]
enum Mode {
    /// Device-signed payments, closed or open loop, then a ledger check
    /// (the default).
    Payments(Args),
    /// Connected device event streams (SSE) while bound riders pay:
    /// commit → guardian core delivery latency and server memory per
    /// connected subscriber.
    Streams(streams::StreamArgs),
}

/// Where the control center is and how to be its operator.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The control center's base URL (loopback only in tests and benches).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The operator's admin token, or `--admin-token-file`.
    #[arg(long, env = "WAYFARE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// File holding the admin token (the server's DATA_DIR/admin-token).
    #[arg(long, value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
}

/// The `payments` mode's options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The control center.
    #[command(flatten)]
    pub target: Target,
    /// Riders (registered devices) paying; payments go round-robin.
    #[arg(long, default_value_t = 256)]
    pub riders: usize,
    /// Terminals of the one merchant the riders pay at, each payment at
    /// the next one in turn. A real reader serves one rider at a time, and
    /// each has its own event sequence; `--terminals 1` pushes every
    /// payment through one reader.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub terminals: u16,
    /// Closed loop: this many clients, each waiting for its answer.
    #[arg(long, default_value_t = 16, conflicts_with = "rate")]
    pub concurrency: usize,
    /// Open loop: payments due per second, whatever the latency.
    #[arg(long)]
    pub rate: Option<u64>,
    /// How long to measure, e.g. `20s`, `500ms`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured load before the measurement, to warm caches and pools.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Amount of each payment, in minor units.
    #[arg(long, default_value_t = 100)]
    pub amount_minor: u64,
    /// Currency of the run.
    #[arg(long, default_value = "CNY")]
    pub currency: String,
    /// A label printed with the results (e.g. `sqlite`, `postgres`).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print the results as one JSON object on stdout as well.
    #[arg(long)]
    pub json: bool,
    /// Open loop: the most payments in flight before new ones count as
    /// dropped (the server is not keeping up).
    #[arg(long, default_value_t = 4096)]
    pub max_in_flight: usize,
}

/// Parses `20s`, `500ms`, `2m`.
pub(crate) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|at| text.split_at(at))
        .ok_or_else(|| format!("{text:?} has no unit; write e.g. 20s or 500ms"))?;
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        other => Err(format!("unknown unit {other:?}; use ms, s or m")),
    }
}

impl Target {
    /// The admin token, from the option, the environment or the file.
    pub fn token(&self) -> Result<String> {
        match (&self.admin_token, &self.admin_token_file) {
            (Some(t), _) => Ok(t.trim().to_string()),
            (None, Some(path)) => Ok(std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin token from {}", path.display()))?
                .trim()
                .to_string()),
            (None, None) => bail!(
                "give the admin token: --admin-token, WAYFARE_ADMIN_TOKEN or --admin-token-file"
            ),
        }
    }

    /// A client of the control center.
    pub fn api(&self) -> Result<client::Api> {
        client::Api::new(&self.server, self.token()?)
    }
}

impl Args {
    fn check(&self) -> Result<()> {
        if self.riders == 0 || self.concurrency == 0 || self.rate == Some(0) {
            bail!("--riders, --concurrency and --rate must be positive");
        }
        if self.amount_minor == 0 {
            bail!("--amount-minor must be at least 1");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let outcome = match cli.mode {
        None => run(cli.payments).await,
        Some(Mode::Payments(args)) => run(args).await,
        Some(Mode::Streams(args)) => streams::run(args).await,
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("wayfare-loadgen: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Sets up, drives, reports and verifies; `Ok(false)` when the ledger
/// check found a lost or doubled payment.
async fn run(args: Args) -> Result<bool> {
    args.check()?;
    let api = args.target.api()?;
    let scene = setup::Scene::build(
        &api,
        args.riders,
        usize::from(args.terminals),
        &args.currency,
        args.amount_minor,
    )
    .await?;
    let scene = std::sync::Arc::new(scene);
    let results = drive::drive(&api, &scene, &args).await?;
    let verdict = verify::verify(&api, &scene, &results).await?;
    report::print(&args, &results, &verdict);
    Ok(verdict.ok())
}
