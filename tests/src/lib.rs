//! Shared fixtures of the whole-system tests: a real control center,
//! real access terminals and real wallets on loopback (see
//! `wayfare_cli::local`, the demo's own), plus fault injection; the
//! hand-made phone, clock, polling and signed client are the test kit's
//! (`wayfare_testkit`).

pub mod fault_proxy;
pub mod nfc;

/// Installs the ring provider for rustls (once per process) and a test
/// log subscriber honouring `RUST_LOG`.
pub fn init() {
    wayfare_cli::install_crypto_provider();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

use std::sync::Arc;

use wayfare_cli::admin::Merchant;
use wayfare_cli::local::{manual_terminal, LocalSystem, RiderWallet, TerminalOptions};
use wayfare_core::{PaymentRequestInfo, TerminalSession};
use wayfare_terminal::RunningTerminal;

/// The common scene: a control center, a café with a POS terminal, and a
/// registered rider holding `funds` (CNY minor units). Keep `system`
/// bound while the scene is used: dropping it stops the control center.
pub struct Shop {
    /// The control center and operator console.
    pub system: LocalSystem,
    /// The café.
    pub cafe: Merchant,
    /// Its POS terminal.
    pub pos: RunningTerminal,
    /// A registered, funded rider.
    pub rider: RiderWallet,
}

/// Builds a [`Shop`].
pub async fn shop(options: TerminalOptions, funds: u64) -> Shop {
    init();
    let system = LocalSystem::start().await.expect("control center");
    let cafe = system
        .merchant("Corner Café", "CNY")
        .await
        .expect("merchant");
    let pos = system
        .pos_terminal(&cafe, "CNY", options)
        .await
        .expect("POS terminal");
    let rider = system.rider("Mei", None).await.expect("rider");
    if funds > 0 {
        system.fund(&rider, funds).await.expect("top-up");
    }
    Shop {
        system,
        cafe,
        pos,
        rider,
    }
}

/// Connects `rider`'s wallet to `terminal`, picked by hand (no discovery).
pub async fn connect(rider: &RiderWallet, terminal: &RunningTerminal) -> Arc<TerminalSession> {
    rider
        .wallet
        .terminals()
        .connect(manual_terminal(terminal))
        .await
        .expect("session")
}

/// Rings up a sale at `pos`, connects `rider` and waits for the request.
pub async fn ring_up(
    rider: &RiderWallet,
    pos: &RunningTerminal,
    amount_minor: u64,
    description: &str,
) -> (Arc<TerminalSession>, PaymentRequestInfo) {
    pos.new_sale(amount_minor, description).await.expect("sale");
    let session = connect(rider, pos).await;
    let request = session.next_payment_request().await.expect("request");
    (session, request)
}

/// Taps `rider` at a tram or gate terminal: presents the held tap-in token
/// and returns what the terminal did, with the session to confirm in.
pub async fn tap(
    rider: &RiderWallet,
    gate: &RunningTerminal,
) -> (wayfare_core::TapOutcome, Arc<TerminalSession>) {
    let session = connect(rider, gate).await;
    (session.tap().await.expect("tap"), session)
}

/// Pays the fare `session` asks for at an exit gate, which must name
/// `entry_station` as where the trip began: the request and the payment.
pub async fn pay_exit_fare(
    session: &TerminalSession,
    entry_station: &str,
) -> (PaymentRequestInfo, wayfare_core::PaymentOutcome) {
    let wayfare_core::TapOutcome::PaymentRequested { request } = session.tap().await.expect("tap")
    else {
        panic!("expected the fare at the exit");
    };
    let fare = request.fare.clone().expect("fare details");
    assert_eq!(fare.entry_station.as_deref(), Some(entry_station));
    let paid = session.confirm().await.expect("paid");
    (request, paid)
}

/// How many payments the rider's wallet history shows.
pub async fn payments_in_history(rider: &RiderWallet) -> usize {
    rider
        .wallet
        .account()
        .history(50)
        .await
        .expect("history")
        .iter()
        .filter(|e| e.kind == wayfare_core::HistoryKind::Payment)
        .count()
}

/// A metro with two gates: tap in at "Harbour" (station 0), tap out at
/// "Central" (station 4). The options pick each gate's radios.
pub async fn metro_gates(
    system: &wayfare_cli::local::LocalSystem,
    entry: TerminalOptions,
    exit: TerminalOptions,
) -> (RunningTerminal, RunningTerminal) {
    use wayfare_cli::local_transit::GateSetup;
    use wayfare_terminal::config::TapRole;
    let metro = system
        .merchant("City Metro", "CNY")
        .await
        .expect("merchant");
    let mut gates = Vec::new();
    for (setup, options) in [
        (GateSetup::new(TapRole::Entry, "Harbour", 0), entry),
        (GateSetup::new(TapRole::Exit, "Central", 4), exit),
    ] {
        let gate = system
            .tap_gate(&metro, "CNY", &setup, options)
            .await
            .expect("gate");
        gates.push(gate);
    }
    let exit = gates.pop().expect("exit gate");
    let entry = gates.pop().expect("entry gate");
    (entry, exit)
}

/// Pays the sale `session` offers, which must be `amount_minor` CNY, from
/// a wallet holding `balance_before`; checks that the terminal recorded
/// the payment as accepted.
pub async fn pay_sale(
    session: &TerminalSession,
    pos: &RunningTerminal,
    order: &str,
    amount_minor: u64,
    balance_before: i64,
) -> wayfare_core::PaymentOutcome {
    let request = session.next_payment_request().await.expect("request");
    assert_eq!(
        (request.amount_minor, request.currency.as_str()),
        (amount_minor, "CNY")
    );
    let paid = session.confirm().await.expect("paid");
    assert_eq!(
        paid.balance_after_minor,
        balance_before - amount_minor as i64
    );
    let outcome = pos.sale_outcome(order).await.expect("sale settled");
    assert_eq!(outcome.state, wayfare_terminal::SaleState::Accepted);
    assert_eq!(
        outcome.payment_id.as_deref(),
        Some(paid.payment_id.as_str())
    );
    paid
}

/// The tram of the guardian scenes: a "City Tram" operator with one tram
/// terminal in its default setup.
pub async fn city_tram(system: &LocalSystem) -> RunningTerminal {
    let operator = system.merchant("City Tram", "CNY").await.expect("merchant");
    system
        .tram_terminal(
            &operator,
            "CNY",
            &wayfare_cli::local::TramSetup::default(),
            TerminalOptions::default(),
        )
        .await
        .expect("tram terminal")
}

/// A rider "Mei" holding 10 000 CNY and her guardian "Dad", bound for her
/// transit rides (named by her phone number's tail).
pub async fn guarded_rider(system: &LocalSystem) -> (RiderWallet, RiderWallet) {
    use wayfare_core::{GuardianScope, RiderName};
    let rider = system
        .rider("Mei", Some("+8613800131234"))
        .await
        .expect("rider");
    let guardian = system.rider("Dad", None).await.expect("guardian");
    system.fund(&rider, 10_000).await.expect("top-up");
    let inv = rider
        .wallet
        .guardians()
        .create_invitation(GuardianScope::TransitOnly, RiderName::PhoneTail, None)
        .await
        .expect("invitation");
    guardian
        .wallet
        .guardians()
        .accept_invitation(inv.code)
        .await
        .expect("accepted");
    (rider, guardian)
}
