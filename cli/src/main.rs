//! `wayfare`: desktop wallet commands and the whole-system demo.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use wayfare_cli::{admin_cmd, demo, wallet_cmd};

#[derive(Parser)]
#[command(
    name = "wayfare",
    version,
    about = "Wayfare: pay at access terminals from your phone (desktop wallet and demo)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a control center, a POS terminal, a tram terminal and a rider's
    /// wallet on loopback and narrate a payment at each.
    Demo,
    /// Wallet commands against a running control center.
    Wallet {
        /// Where the wallet keeps its data (identity, outbox, receipts).
        #[arg(long, default_value = "wayfare-wallet")]
        data_dir: PathBuf,
        /// The control center's URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[command(subcommand)]
        action: wallet_cmd::Action,
    },
    /// Operator commands against a running control center (billing exchange).
    Admin {
        /// The control center's URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// The control center's admin token (its data dir's `admin-token`).
        #[arg(long, env = "WAYFARE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
        #[command(subcommand)]
        action: admin_cmd::AdminAction,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    wayfare_cli::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => demo::run().await,
        Command::Wallet {
            data_dir,
            server,
            action,
        } => wallet_cmd::run(&data_dir, &server, action).await,
        Command::Admin {
            server,
            admin_token,
            action,
        } => admin_cmd::run(&server, &admin_token, action).await,
    }
}
