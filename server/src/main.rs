//! `wayfare-server`: runs the control center until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

use wayfare_server::{
    start_with, BillingEndpoint, ConfigFile, LogFormat, ServerConfig, ServerOptions, ServerSection,
    TlsConfig, WebhookGateway,
};

/// Wayfare control center, payment server and platform API.
///
/// Every setting comes, in this order of precedence, from its flag, its
/// `WAYFARE_*` environment variable, the `[server]` section of the
/// `--config` file (the same name with underscores), or its default.
#[derive(Parser, Debug)]
#[command(name = "wayfare-server", version)]
struct Args {
    /// Directory for keys, the admin token and the default SQLite database
    /// (created if missing). Required here, in the environment or in the
    /// file.
    #[arg(long, env = "WAYFARE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free
    /// port (printed on start).
    #[arg(long, env = "WAYFARE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Database URL (sqlite://... or postgres://...); default DATA_DIR/wayfare.db.
    #[arg(
        long,
        env = "WAYFARE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Where guardian alerts are POSTed for SMS/push (JSON, retried with
    /// backoff until a 2xx answer); without it they are only logged.
    #[arg(long, env = "WAYFARE_ALERT_WEBHOOK_URL", value_name = "URL")]
    alert_webhook_url: Option<String>,
    /// Where closed days' billing records are POSTed for the external
    /// billing system (signed JSON, retried with backoff until a 2xx
    /// answer); without it exports are stored and stay pending. Needs
    /// --billing-secret-file.
    #[arg(long, env = "WAYFARE_BILLING_URL", value_name = "URL")]
    billing_url: Option<String>,
    /// File holding the shared secret (at least 16 bytes; surrounding
    /// whitespace ignored) that signs each billing delivery with
    /// HMAC-SHA256. Kept in a file so it is not in the process list.
    #[arg(long, env = "WAYFARE_BILLING_SECRET_FILE", value_name = "PATH")]
    billing_secret_file: Option<PathBuf>,
    /// Close each day automatically once it has ended at this UTC offset
    /// (minutes east of UTC, the operator's zone); on start, the last 7
    /// ended days not yet closed too. Without it, days are closed by
    /// `POST /v1/billing/exports`. Needs --billing-url.
    #[arg(
        long,
        env = "WAYFARE_BILLING_CLOSE_UTC_OFFSET_MINUTES",
        value_name = "MINUTES",
        allow_hyphen_values = true
    )]
    billing_close_utc_offset_minutes: Option<i64>,
    /// PEM certificate chain (server certificate first): serve only HTTPS.
    /// Needs --tls-key.
    #[arg(long, env = "WAYFARE_TLS_CERT", value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert certificate. Needs --tls-cert.
    #[arg(long, env = "WAYFARE_TLS_KEY", value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// The server's TOML file (see server/wayfare-server.example.toml):
    /// `[server]`, these settings; `[[funding.providers]]`, the
    /// over-the-air top-up providers (without them riders cannot top up
    /// over the air); `[push.fcm]` / `[push.apns]`, the push services that
    /// wake closed apps for guardian alerts and merchant prompts (without
    /// them only open apps hear them).
    #[arg(long, env = "WAYFARE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Also serve `GET /metrics` (Prometheus text) on this address, plain
    /// HTTP and without the admin token: bind it to a private address only
    /// a Prometheus reaches. Without it, `/metrics` is served on the main
    /// listener behind the admin token.
    #[arg(long, env = "WAYFARE_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log lines as text (default) or as one JSON object per line for a log
    /// collector. Levels per target come from RUST_LOG (default
    /// `info,sqlx=warn`).
    #[arg(long, env = "WAYFARE_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<LogFormat>,
}

/// The settings after layering flags and environment over the file.
struct Settings {
    config: ServerConfig,
    metrics_listen: Option<SocketAddr>,
    alert_webhook_url: Option<String>,
    billing: Option<(String, PathBuf, Option<i64>)>,
    log_format: LogFormat,
}

/// Flags (and their environment variables) over the `[server]` section
/// over defaults; pairs that need each other are checked here, after
/// layering, so a flag may complete a setting from the file.
fn layer(args: Args, file: ServerSection) -> Result<Settings, String> {
    let data_dir = args.data_dir.or(file.data_dir).ok_or(
        "no data directory: give --data-dir, WAYFARE_DATA_DIR or data_dir in [server] of --config",
    )?;
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsConfig::new(cert, key)),
        (Some(_), None) => {
            return Err(
                "--tls-cert needs --tls-key (or WAYFARE_TLS_KEY, or tls_key in [server])".into(),
            )
        }
        (None, Some(_)) => {
            return Err(
                "--tls-key needs --tls-cert (or WAYFARE_TLS_CERT, or tls_cert in [server])".into(),
            )
        }
        (None, None) => None,
    };
    let close = args
        .billing_close_utc_offset_minutes
        .or(file.billing_close_utc_offset_minutes);
    let billing = match (
        args.billing_url.or(file.billing_url),
        args.billing_secret_file.or(file.billing_secret_file),
    ) {
        (Some(url), Some(secret)) => Some((url, secret, close)),
        (Some(_), None) => return Err("--billing-url needs --billing-secret-file (or WAYFARE_BILLING_SECRET_FILE, or billing_secret_file in [server])".into()),
        (None, Some(_)) => return Err("--billing-secret-file needs --billing-url (or WAYFARE_BILLING_URL, or billing_url in [server])".into()),
        (None, None) if close.is_some() => return Err("--billing-close-utc-offset-minutes needs --billing-url".into()),
        (None, None) => None,
    };
    Ok(Settings {
        config: ServerConfig {
            data_dir,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url: args.database_url.or(file.database_url),
            tls,
        },
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        alert_webhook_url: args.alert_webhook_url.or(file.alert_webhook_url),
        billing,
        log_format: args.log_format.or(file.log_format).unwrap_or_default(),
    })
}

/// Logs to stderr in the chosen format, levels from RUST_LOG.
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        // Each line carries the span it was logged in ("span": the
        // request's id, method and route), not the list of its parents.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn fail(message: impl std::fmt::Display) -> std::process::ExitCode {
    eprintln!("wayfare-server: {message}");
    std::process::ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = Args::parse();
    let file = match args.config.take().map(|path| ConfigFile::load(&path)) {
        None => ConfigFile::default(),
        Some(Ok(file)) => file,
        Some(Err(e)) => return fail(e),
    };
    let settings = match layer(args, file.server.clone()) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    init_logging(settings.log_format);
    let mut options = ServerOptions {
        metrics_listen: settings.metrics_listen,
        ..ServerOptions::default()
    };
    match file.push.resolve() {
        Ok(push) => options.push = push,
        Err(e) => return fail(e),
    }
    options.funding = file.funding;
    if let Some(url) = &settings.alert_webhook_url {
        match WebhookGateway::new(url, Duration::from_secs(10)) {
            Ok(gateway) => options.gateway = Arc::new(gateway),
            Err(e) => return fail(e),
        }
    }
    if let Some((url, secret_file, close)) = &settings.billing {
        match billing_endpoint(url, secret_file, *close) {
            Ok(endpoint) => options.billing = Some(endpoint),
            Err(e) => return fail(e),
        }
    }
    let stop = stop_signal();
    let server = match start_with(settings.config, options).await {
        Ok(server) => server,
        Err(e) => return fail(e),
    };
    println!("wayfare-server listening on {}", server.base_url());
    if let Some(addr) = server.metrics_addr() {
        println!("wayfare-server metrics on http://{addr}/metrics");
    }
    stop.await;
    tracing::info!(
        "stopping: refusing new connections, ending event streams, finishing requests in flight"
    );
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

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when it is awaited: call it before announcing that the server listens,
/// so a SIGTERM sent right after the announcement stops it gracefully
/// instead of killing it.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Some(mut term), Some(mut int)) = signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
