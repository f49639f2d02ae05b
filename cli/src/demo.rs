//! `wayfare demo`: the whole system on one machine, narrated.
//!
//! A control center, a café's POS terminal and a tram's on-board reader run
//! on loopback in temporary directories; a rider's wallet (the same core the
//! phone apps embed) registers, is funded, finds both terminals over mDNS,
//! pays at the POS and boards the tram.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::Notify;
use wayfare_core::{DiscoveredTerminal, DiscoveryListener, ListenerError, TerminalSession};
use wayfare_protocol::money::Currency;
use wayfare_terminal::RunningTerminal;

use crate::local::{LocalSystem, TerminalOptions, TramSetup};

const CURRENCY: &str = "CNY";

/// Prints narrated steps with the time since the demo started and the time
/// the step itself took.
struct Narrator {
    start: Instant,
}

impl Narrator {
    fn say(&self, step_started: Instant, text: &str) {
        println!(
            "[{:>7.1} ms] {text}  ({:.1} ms)",
            self.start.elapsed().as_secs_f64() * 1e3,
            step_started.elapsed().as_secs_f64() * 1e3
        );
    }

    fn note(&self, text: &str) {
        println!("             {text}");
    }
}

fn money(amount_minor: i64) -> String {
    Currency::parse(CURRENCY)
        .map(|c| c.format(amount_minor))
        .unwrap_or_else(|_| format!("{amount_minor} {CURRENCY} minor units"))
}

/// Collects terminals reported by mDNS discovery and wakes the waiter.
#[derive(Default)]
struct Found {
    terminals: Mutex<HashMap<String, DiscoveredTerminal>>,
    changed: Notify,
}

impl DiscoveryListener for Found {
    fn on_terminal_found(&self, terminal: DiscoveredTerminal) -> Result<(), ListenerError> {
        if let Ok(mut map) = self.terminals.lock() {
            map.insert(terminal.terminal_id.clone(), terminal);
        }
        self.changed.notify_waiters();
        Ok(())
    }

    fn on_terminal_lost(&self, terminal_id: String) -> Result<(), ListenerError> {
        if let Ok(mut map) = self.terminals.lock() {
            map.remove(&terminal_id);
        }
        Ok(())
    }
}

impl Found {
    fn get(&self, ids: &[&str]) -> Option<Vec<DiscoveredTerminal>> {
        let map = self.terminals.lock().ok()?;
        ids.iter().map(|id| map.get(*id).cloned()).collect()
    }

    /// Waits until every id in `ids` was found, or the deadline passes.
    async fn wait_for(&self, ids: &[&str], within: Duration) -> Result<Vec<DiscoveredTerminal>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            if let Some(found) = self.get(ids) {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("the terminals were not discovered over mDNS on loopback within {within:?}");
            }
        }
    }
}

/// Runs the demo and prints the transcript.
pub async fn run() -> Result<()> {
    let n = Narrator {
        start: Instant::now(),
    };
    println!("Wayfare demo: a control center, two access terminals and a rider's wallet, all on this machine (loopback only).\n");

    let t = Instant::now();
    // Riders may also top up over the air, through the sandbox provider.
    let funding = wayfare_server::FundingConfig::default().with_sandbox(&[CURRENCY]);
    let system = LocalSystem::start_with_funding(None, funding).await?;
    n.say(
        t,
        &format!(
            "Control center up at {} (SQLite in {})",
            system.base_url(),
            system.root().display()
        ),
    );

    let t = Instant::now();
    let cafe = system.merchant("Corner Café", CURRENCY).await?;
    let tram_operator = system.merchant("City Tram", CURRENCY).await?;
    n.say(
        t,
        "Operator created two merchants: \"Corner Café\" and the transit operator \"City Tram\"",
    );

    let t = Instant::now();
    let advertised = TerminalOptions {
        advertise: true,
        ..TerminalOptions::default()
    };
    let pos = system
        .pos_terminal(&cafe, CURRENCY, advertised.clone())
        .await?;
    n.say(t, &format!("POS terminal {} enrolled: key generated on the terminal, certificate signed by the operator; advertising _wayfare._tcp", short(pos.terminal_id())));
    let t = Instant::now();
    let setup = TramSetup::default();
    let tram = system
        .tram_terminal(&tram_operator, CURRENCY, &setup, advertised)
        .await?;
    n.say(
        t,
        &format!(
            "Tram reader {} enrolled: line {}, {}, at {} heading from {} towards {}; flat fare {}",
            short(tram.terminal_id()),
            setup.line,
            setup.vehicle,
            setup.station,
            setup.direction_from,
            setup.direction_towards,
            money(setup.fare_minor as i64)
        ),
    );

    let t = Instant::now();
    let rider = system.rider("Mei", Some("+8613800001234")).await?;
    let info = rider
        .wallet
        .account()
        .info()
        .context("wallet not registered")?;
    n.say(t, &format!("Rider's wallet registered: device key made and sealed by the key store; terminals learn nothing about the rider unless the rider takes the identity step, and then only the rider's pseudonym for that merchant (the handle {} stays for people)", info.handle));

    let t = Instant::now();
    system.fund(&rider, 5_000).await?;
    let balance = rider.wallet.account().balance().await?;
    n.say(
        t,
        &format!(
            "Sandbox top-up of {}: balance {}",
            money(5_000),
            balance.formatted
        ),
    );

    println!("\n— Finding terminals");
    let t = Instant::now();
    let found = Arc::new(Found::default());
    let handle = rider.wallet.terminals().start_discovery(found.clone());
    let terminals = found
        .wait_for(
            &[pos.terminal_id(), tram.terminal_id()],
            Duration::from_secs(10),
        )
        .await?;
    handle.cancel();
    n.say(
        t,
        "The wallet discovered both terminals over mDNS on loopback:",
    );
    for term in &terminals {
        n.note(&format!(
            "{} ({:?}) at {}:{}",
            term.merchant_name, term.kind, term.host, term.port
        ));
    }

    println!("\n— Paying at the café's POS");
    let t = Instant::now();
    let order = pos.new_sale(1_250, "Flat white and croissant").await?;
    n.say(
        t,
        &format!(
            "Cashier entered {} for \"Flat white and croissant\" (order {})",
            money(1_250),
            short(&order)
        ),
    );
    pay(&n, &rider.wallet, terminals[0].clone(), &pos).await?;

    println!("\n— Boarding the tram");
    pay(&n, &rider.wallet, terminals[1].clone(), &tram).await?;

    println!("\n— Where the money is");
    let t = Instant::now();
    let rider_balance = rider.wallet.account().balance().await?;
    let cafe_balance = system.admin().account(&cafe.account_id).await?;
    let tram_balance = system.admin().account(&tram_operator.account_id).await?;
    let ledger = system.admin().ledger_sum().await?;
    let receipts = rider.wallet.payments().receipts(10)?;
    n.say(t, "Balances read back from the control center:");
    n.note(&format!(
        "rider {}  ·  Corner Café {}  ·  City Tram {}",
        rider_balance.formatted,
        money(cafe_balance.balance_minor),
        money(tram_balance.balance_minor)
    ));
    n.note(&format!(
        "ledger entries sum to {} (double entry: money is conserved)",
        ledger
    ));
    n.note(&format!("the wallet holds {} server-signed receipts; linkage device switched on {}× at the POS, {}× on the tram", receipts.len(), pos.status().linkage_activations, tram.status().linkage_activations));

    crate::demo_guardian::demo_guardian_and_tap_ride(&system).await?;
    crate::demo_merchant::shop_with_owner_and_staff(&system).await?;
    crate::demo_tram::demo_moving_tram(&system).await?;
    crate::demo_top_up::demo_top_ups(&system).await?;

    rider.wallet.close().await;
    pos.shutdown().await;
    tram.shutdown().await;
    let mut system = system;
    system.stop_server().await;
    println!("\nDone in {:.0} ms.", n.start.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

async fn pay(
    n: &Narrator,
    wallet: &Arc<wayfare_core::Wallet>,
    target: DiscoveredTerminal,
    terminal: &RunningTerminal,
) -> Result<()> {
    let t = Instant::now();
    let session: Arc<TerminalSession> = wallet.terminals().connect(target).await?;
    let info = session.terminal();
    n.say(t, &format!("Secure session with {}: certificate verified against the pinned operator key (terminal key {})", info.merchant_name, info.key_id));

    let t = Instant::now();
    let request = session.next_payment_request().await?;
    let mut what = format!(
        "{} asks {} for \"{}\"",
        request.merchant_name, request.formatted_amount, request.description
    );
    if let Some(fare) = &request.fare {
        what.push_str(&format!(
            " — line {}, {}, at {}, from {} towards {}",
            fare.line, fare.vehicle, fare.station, fare.direction_from, fare.direction_towards
        ));
    }
    n.say(t, &what);

    let t = Instant::now();
    let outcome = session.confirm().await?;
    n.say(t, &format!("Rider confirmed. {}", outcome.summary()));
    n.note(&format!("receipt {} signed by the payment server and verified by the wallet and the terminal; terminal says: {}",
        short(&outcome.payment_id),
        outcome.terminal_done.as_ref().map(|d| d.message.as_str()).unwrap_or("-")));
    n.note(&format!(
        "linkage device activations at this terminal: {}",
        terminal.status().linkage_activations
    ));
    Ok(())
}

fn short(id: &str) -> String {
    wayfare_protocol::ids::redact(id)
}
