//! `wayfare-terminal`: the access-terminal daemon.
//!
//! - `wayfare-terminal --config FILE` runs the terminal until Ctrl-C/SIGTERM.
//! - `wayfare-terminal enroll ...` creates a key, enrolls it with the control
//!   center and writes the certificate and a configuration file.
//! - `wayfare-terminal public-key --config FILE` prints the terminal's public key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use wayfare_protocol::messages::TerminalKind;
use wayfare_terminal::config::{TapRole, TerminalConfig};
use wayfare_terminal::keys::{load_or_create_key, save_certificate};
use wayfare_terminal::{enroll, EnrollRequest, TerminalError, TerminalLocation};

#[derive(Parser)]
#[command(
    name = "wayfare-terminal",
    version,
    about = "The Wayfare access-terminal daemon"
)]
struct Cli {
    /// Configuration file (TOML) of the terminal to run.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the terminal (the default).
    Run,
    /// Enroll a new terminal with the control center.
    Enroll(Box<EnrollArgs>),
    /// Print the terminal's public key (creating the key file if needed).
    PublicKey {
        /// Key file to use instead of the one named by --config.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

#[derive(Args)]
struct EnrollArgs {
    /// Control-center URL.
    #[arg(long)]
    server_url: String,
    /// Admin token (or set WAYFARE_ADMIN_TOKEN, or use --admin-token-file).
    #[arg(long)]
    admin_token: Option<String>,
    /// File holding the admin token (e.g. the server's DATA_DIR/admin-token).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Merchant the terminal collects for.
    #[arg(long)]
    merchant_id: String,
    /// pos, tram or gate.
    #[arg(long, default_value = "pos")]
    kind: String,
    /// Label for operators.
    #[arg(long)]
    label: Option<String>,
    /// Data directory for the key, certificate and queue.
    #[arg(long)]
    data_dir: PathBuf,
    /// Where to write the configuration file (default: DATA_DIR/terminal.toml).
    #[arg(long)]
    config_out: Option<PathBuf>,
    /// Currency of sales or fares.
    #[arg(long, default_value = "CNY")]
    currency: String,
    /// Tram: flat fare in minor units.
    #[arg(long, default_value_t = 200)]
    fare_minor: u64,
    /// Tram: line.
    #[arg(long, default_value = "T1")]
    line: String,
    /// Tram: vehicle.
    #[arg(long, default_value = "tram 1")]
    vehicle: String,
    /// Tram: station.
    #[arg(long, default_value = "Central")]
    station: String,
    /// Tram: station index on the line.
    #[arg(long, default_value_t = 0)]
    station_index: u32,
    /// Gate: which taps it handles (entry, exit or both); with it the
    /// certificate binds line, station and station index so that only this
    /// gate's entries at this station are honoured.
    #[arg(long)]
    tap_role: Option<String>,
    /// Tram: terminus the vehicle comes from.
    #[arg(long, default_value = "A")]
    direction_from: String,
    /// Tram: terminus the vehicle heads to.
    #[arg(long, default_value = "B")]
    direction_towards: String,
    /// Tram: local time zone in minutes east of UTC (480 = China), for the
    /// times in guardian alerts. Default: UTC.
    #[arg(long, allow_hyphen_values = true)]
    utc_offset_minutes: Option<i64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => match cli.config {
            Some(path) => run(&path).await,
            None => Err(TerminalError::Config("--config FILE is required".into())),
        },
        Command::Enroll(args) => enroll_cmd(*args).await,
        Command::PublicKey { key_file } => public_key(cli.config, key_file).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wayfare-terminal: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: &Path) -> Result<(), TerminalError> {
    let (config, announcer) = wayfare_terminal::announcer::load_config(path).await?;
    let (data_dir, server_url) = (config.data_dir.clone(), config.server_url.clone());
    let terminal = wayfare_terminal::start(config).await?;
    println!(
        "terminal {} listening for phones on {}, control interface on http://{}",
        terminal.terminal_id(),
        terminal.phone_addr(),
        terminal.control_addr()
    );
    println!(
        "control interface token (Authorization: Bearer ...) in {}",
        terminal.control_token_path().display()
    );
    // The on-site prompt device (P4), when configured.
    let announcer = match announcer {
        Some(a) => {
            let speaker = wayfare_terminal::announcer::speaker_for(&a);
            let running =
                wayfare_terminal::announcer::start(&a, &data_dir, &server_url, speaker).await?;
            println!("announcing the merchant's payment prompts");
            Some(running)
        }
        None => None,
    };
    wait_for_signal().await;
    if let Some(a) = announcer {
        a.shutdown().await;
    }
    terminal.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() {
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
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn public_key(
    config: Option<PathBuf>,
    key_file: Option<PathBuf>,
) -> Result<(), TerminalError> {
    let path = match (key_file, config) {
        (Some(k), _) => k,
        (None, Some(c)) => TerminalConfig::from_file(&c).await?.key_path(),
        (None, None) => {
            return Err(TerminalError::Config(
                "give --config FILE or --key-file FILE".into(),
            ))
        }
    };
    let key = load_or_create_key(&path).await?;
    println!("{}", key.public_key());
    Ok(())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

async fn enroll_cmd(args: EnrollArgs) -> Result<(), TerminalError> {
    let from_env = std::env::var("WAYFARE_ADMIN_TOKEN").ok();
    let token = match (
        args.admin_token.as_ref().or(from_env.as_ref()),
        &args.admin_token_file,
    ) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => tokio::fs::read_to_string(f)
            .await
            .map_err(TerminalError::file("cannot read admin token file", f))?
            .trim()
            .to_string(),
        (None, None) => {
            return Err(TerminalError::Config(
                "give --admin-token, WAYFARE_ADMIN_TOKEN or --admin-token-file".into(),
            ))
        }
    };
    let kind = TerminalKind::parse(&args.kind)?;
    wayfare_protocol::money::Currency::parse(&args.currency)?;
    let key = load_or_create_key(&args.data_dir.join("terminal.key")).await?;
    let tap_role = match args.tap_role.as_deref() {
        None => None,
        Some("entry") => Some(TapRole::Entry),
        Some("exit") => Some(TapRole::Exit),
        Some("both") => Some(TapRole::Both),
        Some(other) => {
            return Err(TerminalError::Config(format!(
                "--tap-role {other:?} is not one of entry, exit, both"
            )))
        }
    };
    let location = (kind != TerminalKind::Pos).then(|| TerminalLocation {
        line: args.line.clone(),
        vehicle: args.vehicle.clone(),
        station: args.station.clone(),
        station_index: Some(args.station_index),
        tap_role,
        direction_from: args.direction_from.clone(),
        direction_towards: args.direction_towards.clone(),
        utc_offset_minutes: args.utc_offset_minutes,
    });
    let enrollment = enroll(
        &args.server_url,
        &token,
        EnrollRequest {
            merchant_id: args.merchant_id.clone(),
            kind,
            label: args.label.clone(),
            location,
            valid_for_days: None,
        },
        &key,
    )
    .await?;
    save_certificate(
        &args.data_dir.join("terminal.cert"),
        &enrollment.certificate,
    )
    .await?;
    let mode = if kind == TerminalKind::Pos {
        format!(
            "[mode]\nkind = \"pos\"\ncurrency = {}\n",
            toml_str(&args.currency)
        )
    } else {
        format!(
            "[mode]\nkind = \"tram\"\nfare_minor = {}\ncurrency = {}\nline = {}\nvehicle = {}\ndirection_from = {}\ndirection_towards = {}\nstation = {}\nstation_index = {}\n",
            args.fare_minor,
            toml_str(&args.currency),
            toml_str(&args.line),
            toml_str(&args.vehicle),
            toml_str(&args.direction_from),
            toml_str(&args.direction_towards),
            toml_str(&args.station),
            args.station_index
        )
    };
    let data_dir = std::path::absolute(&args.data_dir).unwrap_or(args.data_dir.clone());
    let text = format!(
        "server_url = {}\ndata_dir = {}\nlisten = \"127.0.0.1:0\"\ncontrol_listen = \"127.0.0.1:0\"\noperator_key = \"{}\"\nreceipt_key = \"{}\"\nterminal_id = {}\n\n{mode}\n[linkage]\nkind = \"log\"\n\n[mdns]\nenabled = true\ninterfaces = \"loopback\"\n",
        toml_str(&args.server_url),
        toml_str(&data_dir.to_string_lossy()),
        enrollment.operator_key,
        enrollment.receipt_key,
        toml_str(&enrollment.terminal_id),
    );
    TerminalConfig::from_toml_str(&text)?;
    let out = args
        .config_out
        .clone()
        .unwrap_or_else(|| args.data_dir.join("terminal.toml"));
    tokio::fs::write(&out, text)
        .await
        .map_err(TerminalError::file("cannot write configuration file", &out))?;
    println!(
        "enrolled terminal {}; configuration written to {}",
        enrollment.terminal_id,
        out.display()
    );
    Ok(())
}
