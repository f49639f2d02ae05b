//! `wayfare-server`: runs the control center until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

use wayfare_server::{
    start_with, BillingEndpoint, ConfigFile, ServerConfig, ServerOptions, TlsConfig, WebhookGateway,
};

/// Wayfare control center, payment server and platform API.
#[derive(Parser, Debug)]
#[command(name = "wayfare-server", version)]
struct Args {
    /// Directory for keys, the admin token and the default SQLite database.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database URL (sqlite://... or postgres://...); default DATA_DIR/wayfare.db.
    #[arg(long)]
    database_url: Option<String>,
    /// Where guardian alerts are POSTed for SMS/push (JSON, retried with
    /// backoff until a 2xx answer); without it they are only logged.
    #[arg(long)]
    alert_webhook_url: Option<String>,
    /// Where closed days' billing records are POSTed for the external
    /// billing system (signed JSON, retried with backoff until a 2xx
    /// answer); without it exports are stored and stay pending.
    #[arg(long, requires = "billing_secret_file")]
    billing_url: Option<String>,
    /// File holding the shared secret (at least 16 bytes; surrounding
    /// whitespace ignored) that signs each billing delivery with
    /// HMAC-SHA256. Kept in a file so it is not in the process list.
    #[arg(long, value_name = "PATH", requires = "billing_url")]
    billing_secret_file: Option<PathBuf>,
    /// Close each day automatically once it has ended at this UTC offset
    /// (minutes east of UTC, the operator's zone); on start, the last 7
    /// ended days not yet closed too. Without it, days are closed by
    /// `POST /v1/billing/exports`.
    #[arg(
        long,
        value_name = "MINUTES",
        requires = "billing_url",
        allow_hyphen_values = true
    )]
    billing_close_utc_offset_minutes: Option<i64>,
    /// PEM certificate chain (server certificate first): serve only HTTPS.
    /// Needs --tls-key.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert certificate. Needs --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The server's TOML file (see server/wayfare-server.example.toml):
    /// `[[funding.providers]]`, the over-the-air top-up providers (without
    /// them riders cannot top up over the air), and `[push.fcm]` /
    /// `[push.apns]`, the push services that wake closed apps for guardian
    /// alerts and merchant prompts (without them only open apps hear them).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Also serve `GET /metrics` (Prometheus text) on this address, plain
    /// HTTP and without the admin token: bind it to a private address only
    /// a Prometheus reaches. Without it, `/metrics` is served on the main
    /// listener behind the admin token.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        database_url: args.database_url.clone(),
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig::new(cert, key)),
            _ => None,
        },
    };
    let mut options = ServerOptions {
        metrics_listen: args.metrics_listen,
        ..ServerOptions::default()
    };
    if let Some(path) = &args.config {
        let file = match ConfigFile::load(path) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("wayfare-server: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        match file.push.resolve() {
            Ok(push) => options.push = push,
            Err(e) => {
                eprintln!("wayfare-server: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        options.funding = file.funding;
    }
    if let Some(url) = &args.alert_webhook_url {
        match WebhookGateway::new(url, Duration::from_secs(10)) {
            Ok(gateway) => options.gateway = Arc::new(gateway),
            Err(e) => {
                eprintln!("wayfare-server: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if let (Some(url), Some(secret_file)) = (&args.billing_url, &args.billing_secret_file) {
        match billing_endpoint(url, secret_file, args.billing_close_utc_offset_minutes) {
            Ok(endpoint) => options.billing = Some(endpoint),
            Err(e) => {
                eprintln!("wayfare-server: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let server = match start_with(config, options).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("wayfare-server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("wayfare-server listening on {}", server.base_url());
    if let Some(addr) = server.metrics_addr() {
        println!("wayfare-server metrics on http://{addr}/metrics");
    }
    wait_for_stop_signal().await;
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// The billing endpoint of the command line: the secret is read from its
/// file, never taken from argv.
fn billing_endpoint(
    url: &str,
    secret_file: &std::path::Path,
    close_offset: Option<i64>,
) -> Result<BillingEndpoint, String> {
    let secret = std::fs::read_to_string(secret_file)
        .map_err(|e| format!("reading {}: {e}", secret_file.display()))?;
    let endpoint = BillingEndpoint::new(url, secret.trim().as_bytes(), Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    match close_offset {
        Some(offset) => endpoint.with_daily_close(offset).map_err(|e| e.to_string()),
        None => Ok(endpoint),
    }
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
