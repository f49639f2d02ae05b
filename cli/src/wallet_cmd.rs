//! `wayfare wallet …`: the desktop wallet against a running control center.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use wayfare_core::{
    DiscoveredTerminal, DiscoverySource, MdnsScope, TapOutcome, TerminalKind, Wallet, WalletConfig,
};

use crate::admin::AdminClient;

/// What to do with the wallet.
#[derive(Subcommand)]
pub enum Action {
    /// Create an account and register this device's key.
    Register {
        /// The name shown in history and to guardians.
        #[arg(long)]
        name: String,
        /// Optional phone number; kept by the control center, never sent to terminals.
        #[arg(long)]
        phone: Option<String>,
    },
    /// Show the balance and points.
    Balance,
    /// Show recent payments and top-ups.
    History {
        /// How many entries.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Add money: over the air through a funding provider (`--provider`,
    /// see `top-up-providers`; prints the checkout link), or SANDBOX money
    /// with the operator's `--admin-token` (test funds only).
    TopUp {
        /// Amount in minor units (e.g. 1000 = ¥10.00).
        #[arg(long)]
        amount: u64,
        /// A funding provider the server offers (e.g. `card`, `sandbox`).
        #[arg(long)]
        provider: Option<String>,
        /// With --provider: wait until the provider confirms or fails it.
        #[arg(long, requires = "provider")]
        wait: bool,
        /// Without --provider: the control center's admin token (its data
        /// dir's `admin-token`) for the operator's sandbox top-up.
        #[arg(long, env = "WAYFARE_ADMIN_TOKEN")]
        admin_token: Option<String>,
    },
    /// Show a top-up started with `top-up --provider`.
    TopUpStatus {
        /// The top-up's reference (`fi_…`).
        reference: String,
    },
    /// List the funding providers the server offers.
    TopUpProviders,
    /// List access terminals advertised on the LAN (mDNS).
    Discover {
        /// How long to listen, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        /// Browse all interfaces instead of loopback only.
        #[arg(long)]
        all_interfaces: bool,
    },
    /// Pay at a terminal: discover it (or give its address), review, confirm.
    Pay {
        /// Terminal id to pay at (from `discover`); the first one found if omitted.
        #[arg(long)]
        terminal: Option<String>,
        /// Connect to host:port directly instead of discovering.
        #[arg(long)]
        address: Option<String>,
        /// Confirm without asking.
        #[arg(long)]
        yes: bool,
        /// Browse all interfaces instead of loopback only.
        #[arg(long)]
        all_interfaces: bool,
    },
    /// Guardian bindings (rider and guardian side), limits and alerts.
    Guardian {
        /// What to do.
        #[command(subcommand)]
        action: crate::guardian_cmd::GuardianAction,
    },
    /// Merchant owner and staff commands (prompts, staff, refunds).
    Merchant {
        /// What to do.
        #[command(subcommand)]
        action: crate::merchant_cmd::MerchantAction,
    },
}

async fn open_wallet(data_dir: &Path, server: &str, scope: MdnsScope) -> Result<Arc<Wallet>> {
    let key_store = crate::keystore_file::load_or_create(data_dir)?;
    let config = WalletConfig {
        data_dir: data_dir.display().to_string(),
        server_url: server.to_string(),
        operator_key: None,
        receipt_key: None,
        mdns_scope: scope,
    };
    let wallet = Wallet::new(config, key_store)?;
    let report = wallet.open().await?;
    for outcome in &report.settled {
        println!("settled an unfinished payment: {}", outcome.summary());
    }
    Ok(wallet)
}

/// Runs one wallet action.
pub async fn run(data_dir: &Path, server: &str, action: Action) -> Result<()> {
    let scope = match &action {
        Action::Discover {
            all_interfaces: true,
            ..
        }
        | Action::Pay {
            all_interfaces: true,
            ..
        } => MdnsScope::AllInterfaces,
        _ => MdnsScope::Loopback,
    };
    let wallet = open_wallet(data_dir, server, scope).await?;
    let result = run_action(&wallet, server, action).await;
    wallet.close().await;
    result
}

async fn run_action(wallet: &Arc<Wallet>, server: &str, action: Action) -> Result<()> {
    match action {
        Action::Register { name, phone } => {
            let info = wallet.account().register(name, phone).await?;
            println!(
                "registered account {} (handle {})",
                info.account_id, info.handle
            );
        }
        Action::Balance => {
            let b = wallet.account().balance().await?;
            println!("{} ({} points)", b.formatted, b.points);
        }
        Action::History { limit } => {
            for e in wallet.account().history(limit).await? {
                println!(
                    "{}  {:>12}  {}",
                    when(e.at_ms),
                    e.formatted_amount,
                    e.description
                );
            }
        }
        Action::TopUp {
            amount,
            provider: Some(provider),
            wait,
            ..
        } => crate::top_up_cmd::start(wallet, provider, amount, wait).await?,
        Action::TopUpStatus { reference } => crate::top_up_cmd::status(wallet, reference).await?,
        Action::TopUpProviders => crate::top_up_cmd::providers(wallet).await?,
        Action::TopUp {
            amount,
            admin_token,
            ..
        } => {
            let admin_token = admin_token.context(
                "give --provider <id> (over-the-air top-up) or --admin-token (sandbox money)",
            )?;
            let info = wallet
                .account()
                .info()
                .context("register this wallet first")?;
            let admin = AdminClient::new(server, &admin_token)?;
            let balance = admin
                .sandbox_top_up(&info.account_id, amount, &info.currency)
                .await?;
            println!("sandbox top-up done; balance {balance} minor units");
        }
        Action::Discover { timeout_ms, .. } => {
            let found = wallet.terminals().discover(timeout_ms).await?;
            if found.is_empty() {
                println!("no terminals found");
            }
            for t in found {
                println!(
                    "{}  {:<5} {}  at {}:{}",
                    t.terminal_id,
                    kind_name(t.kind),
                    t.merchant_name,
                    t.host,
                    t.port
                );
            }
        }
        Action::Pay {
            terminal,
            address,
            yes,
            ..
        } => {
            let target = pick_terminal(wallet, terminal, address).await?;
            let session = wallet.terminals().connect(target).await?;
            let info = session.terminal();
            println!(
                "connected to {} ({}), certified by the operator",
                info.merchant_name,
                kind_name(info.kind)
            );
            // `tap` presents a held tap-in token at tram and gate terminals;
            // an entry terminal answers with a token instead of a request.
            let request = match session.tap().await? {
                TapOutcome::PaymentRequested { request } => request,
                TapOutcome::Entered { message, .. } => {
                    println!("{message} (tap-in token kept for the exit)");
                    return Ok(());
                }
                // A counter or kiosk offers the cash the cashier took.
                TapOutcome::TopUpOffered { offer } => {
                    println!(
                        "{} offers a top-up of {} (order {})",
                        offer.merchant_name, offer.formatted_amount, offer.order_id
                    );
                    if !yes && !ask("Accept? [y/N] ")? {
                        session
                            .decline_top_up("declined by the user".into())
                            .await?;
                        println!("declined");
                        return Ok(());
                    }
                    let done = session.accept_top_up().await?;
                    println!(
                        "topped up {} {} (top-up {}); balance {}",
                        done.amount_minor, done.currency, done.top_up_id, done.balance_minor
                    );
                    return Ok(());
                }
            };
            println!(
                "{} asks {} for {}",
                request.merchant_name, request.formatted_amount, request.description
            );
            if !yes && !ask("Pay? [y/N] ")? {
                session.decline("declined by the user".into()).await?;
                println!("declined");
                return Ok(());
            }
            let outcome = session.confirm().await?;
            println!("{}", outcome.summary());
        }
        Action::Merchant { action } => crate::merchant_cmd::run(wallet, server, action).await?,
        Action::Guardian { action } => crate::guardian_cmd::run(wallet, action).await?,
    }
    Ok(())
}

async fn pick_terminal(
    wallet: &Arc<Wallet>,
    id: Option<String>,
    address: Option<String>,
) -> Result<DiscoveredTerminal> {
    if let Some(address) = address {
        let (host, port) = address
            .rsplit_once(':')
            .context("--address must be host:port")?;
        return Ok(DiscoveredTerminal {
            terminal_id: id.unwrap_or_default(),
            merchant_name: String::new(),
            kind: TerminalKind::Pos,
            host: host.to_string(),
            port: port.parse().context("--address port is not a number")?,
            source: DiscoverySource::Manual,
            rssi: None,
            ble_id: None,
        });
    }
    let found = wallet.terminals().discover(2000).await?;
    let chosen = match id {
        Some(id) => found.into_iter().find(|t| t.terminal_id == id),
        None => found.into_iter().next(),
    };
    match chosen {
        Some(t) => Ok(t),
        None => bail!("no matching terminal found on the network; try `wayfare wallet discover`"),
    }
}

/// A Unix-ms timestamp as an HTTP date (UTC), e.g. `Sun, 22 Nov 2026 08:12:00 GMT`.
fn when(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    httpdate::fmt_http_date(at)
}

fn kind_name(kind: TerminalKind) -> &'static str {
    match kind {
        TerminalKind::Pos => "POS",
        TerminalKind::Tram => "tram",
        TerminalKind::Gate => "gate",
        TerminalKind::TopUp => "top-up kiosk",
    }
}

fn ask(prompt: &str) -> Result<bool> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
