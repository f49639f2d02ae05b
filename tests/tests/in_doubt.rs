//! An unknown outcome is never a decline (issue 8.1, Stripe Terminal's
//! confirm rule): when the phone cannot learn whether the payment server
//! committed, it retries with the same instruction, then tells the terminal
//! the payment is pending; the terminal keeps the sale in doubt and settles
//! it with the platform (paid: the linkage device switches on once; unpaid
//! after the expiry); a rider who taps again gets the same order, so the
//! same instruction settles it. Never charged twice, at a till or a gate.
//!
//! Faults come from two loopback proxies: one between the rider's wallet
//! and the control center, one between the terminal and the control center.

use std::sync::Arc;
use std::time::Duration;

use wayfare_cli::admin::Merchant;
use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions, TramSetup};
use wayfare_cli::local_transit::GateSetup;
use wayfare_core::{DoneKind, PaymentRequestInfo, TapOutcome, TerminalSession, WalletError};
use wayfare_e2e::fault_proxy::{FaultMode, FaultProxy};
use wayfare_e2e::{connect, payments_in_history, tap};
use wayfare_terminal::config::TapRole;
use wayfare_terminal::{RunningTerminal, SaleState};
use wayfare_testkit::wait_until;

const CNY: &str = "CNY";

/// The control center, a rider reaching it through `rider_proxy`, and the
/// options for a terminal reaching it through `terminal_proxy`.
struct Scene {
    system: LocalSystem,
    rider: RiderWallet,
    rider_proxy: FaultProxy,
    terminal_proxy: FaultProxy,
}

async fn scene(funds: u64) -> Scene {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.expect("control center");
    let mut rider = system.rider("Mei", None).await.expect("rider");
    system.fund(&rider, funds).await.expect("top-up");
    let rider_proxy = FaultProxy::start(system.server_addr()).await.unwrap();
    let terminal_proxy = FaultProxy::start(system.server_addr()).await.unwrap();
    rider.reopen(Some(&rider_proxy.url())).await.unwrap();
    Scene {
        system,
        rider,
        rider_proxy,
        terminal_proxy,
    }
}

impl Scene {
    fn terminal_options(&self, request_ttl_ms: u64) -> TerminalOptions {
        TerminalOptions {
            request_ttl_ms,
            server_url: Some(self.terminal_proxy.url()),
            in_doubt_grace_ms: Some(300),
            ..TerminalOptions::default()
        }
    }

    /// A café and its till, reaching the control center through the
    /// terminal proxy; its requests live `request_ttl_ms`.
    async fn till(&self, request_ttl_ms: u64) -> (Merchant, RunningTerminal) {
        let cafe = self.system.merchant("Corner Café", CNY).await.unwrap();
        let options = self.terminal_options(request_ttl_ms);
        let pos = self.system.pos_terminal(&cafe, CNY, options).await.unwrap();
        (cafe, pos)
    }
}

fn in_doubt_orders(t: &RunningTerminal) -> Vec<String> {
    t.status()
        .in_doubt
        .into_iter()
        .map(|o| o.order_id)
        .collect()
}

async fn state_of(t: &RunningTerminal, order_id: &str) -> Option<SaleState> {
    t.sale_outcome(order_id).await.map(|o| o.state)
}

/// Waits until the terminal's sale `order_id` is in `state`.
async fn wait_for_state(t: &RunningTerminal, order_id: &str, state: SaleState, within: Duration) {
    let what = format!("sale {order_id} is {state:?}");
    wait_until(within, &what, || async {
        state_of(t, order_id).await == Some(state)
    })
    .await;
}

/// Taps at `gate`, which must ask for a fare: the request, and the session
/// to confirm it in.
async fn fare_at(s: &Scene, gate: &RunningTerminal) -> (PaymentRequestInfo, Arc<TerminalSession>) {
    let (outcome, session) = tap(&s.rider, gate).await;
    let TapOutcome::PaymentRequested { request } = outcome else {
        panic!("expected a fare, got {outcome:?}");
    };
    (request, session)
}

/// Confirms in `session` while the rider's link to the control center
/// does `fault`: the phone cannot learn the outcome, so the payment is
/// left pending.
async fn confirm_left_pending(s: &Scene, session: &TerminalSession, fault: FaultMode) {
    s.rider_proxy.set_mode(fault);
    assert!(matches!(
        session.confirm().await,
        Err(WalletError::PaymentPending { .. })
    ));
}

/// Waits until a request made now with a 2 s lifetime has expired.
async fn wait_past_expiry() {
    let request_expired = std::time::SystemTime::now() + Duration::from_millis(2_500);
    wait_until(Duration::from_secs(10), "the request expired", || async {
        std::time::SystemTime::now() > request_expired
    })
    .await;
}

/// The rider paid `amount_minor` exactly once, and the ledger balances.
async fn assert_charged_once(s: &Scene, amount_minor: u64) {
    assert_eq!(
        s.rider.balance().await.unwrap(),
        5_000 - amount_minor as i64,
        "charged once"
    );
    assert_eq!(payments_in_history(&s.rider).await, 1);
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test]
async fn a_lost_answer_at_the_till_then_a_second_tap_is_one_charge_and_one_receipt_printed() {
    let s = scene(5_000).await;
    let (cafe, pos) = s.till(60_000).await;
    // The till cannot reach the control center either, so nothing settles
    // the sale behind the rider's back.
    s.terminal_proxy.set_mode(FaultMode::Refuse);

    let order = pos.new_sale(1_250, "Lunch").await.unwrap();
    let session = connect(&s.rider, &pos).await;
    assert_eq!(
        session.next_payment_request().await.unwrap().order_id,
        order
    );
    s.rider_proxy.set_mode(FaultMode::LoseResponses);
    let err = session.confirm().await.unwrap_err();
    assert!(
        matches!(err, WalletError::PaymentPending { .. }),
        "got {err:?}"
    );
    assert!(err.to_string().contains("not be charged twice"), "{err}");
    assert!(
        s.rider_proxy.lost_responses() >= 2,
        "the core retried the same instruction"
    );
    // The server committed once; the till shows the sale in doubt, never
    // declined, and will not let the cashier ring it up again.
    assert_eq!(s.system.balance_of(&cafe.account_id).await, 1_250);
    assert_eq!(state_of(&pos, &order).await, Some(SaleState::InDoubt));
    assert_eq!(in_doubt_orders(&pos), vec![order.clone()]);
    assert!(pos.new_sale(1_250, "Lunch again").await.is_err());
    assert_eq!(pos.status().linkage_activations, 0);

    // The rider taps again at the same till: the same order comes back, the
    // same instruction is re-sent, the server answers the original payment.
    s.rider_proxy.set_mode(FaultMode::Forward);
    let session = connect(&s.rider, &pos).await;
    assert_eq!(
        session.next_payment_request().await.unwrap().order_id,
        order
    );
    let confirming = tokio::spawn(async move { session.confirm().await });
    // The till's link to the control center comes back while it confirms.
    s.terminal_proxy.set_mode(FaultMode::Forward);
    let outcome = confirming.await.unwrap().expect("paid");
    assert_eq!(
        outcome.terminal_done.as_ref().map(|d| d.outcome),
        Some(DoneKind::Accepted)
    );

    wait_for_state(&pos, &order, SaleState::Accepted, Duration::from_secs(10)).await;
    assert_eq!(pos.status().linkage_activations, 1, "printed once");
    assert!(in_doubt_orders(&pos).is_empty());
    assert_charged_once(&s, 1_250).await;
    assert_eq!(s.system.balance_of(&cafe.account_id).await, 1_250);
    assert_eq!(s.rider.wallet.payments().pending_count().unwrap(), 0);
}

#[tokio::test]
async fn a_lost_answer_settles_as_paid_from_the_platform_without_a_second_tap() {
    let s = scene(5_000).await;
    let (_cafe, pos) = s.till(60_000).await;
    let order = pos.new_sale(900, "Tea").await.unwrap();
    let session = connect(&s.rider, &pos).await;
    session.next_payment_request().await.unwrap();
    confirm_left_pending(&s, &session, FaultMode::LoseResponses).await;
    // The till hears from the platform (push or confirmation by order).
    wait_for_state(&pos, &order, SaleState::Accepted, Duration::from_secs(10)).await;
    assert_eq!(pos.status().linkage_activations, 1);
    // The phone's outbox settles its side once the network is back.
    s.rider_proxy.set_mode(FaultMode::Forward);
    let settled = s.rider.wallet.payments().settle_pending().await.unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(s.rider.balance().await.unwrap(), 4_100);
    assert_eq!(payments_in_history(&s.rider).await, 1);
}

#[tokio::test]
async fn the_control_center_down_for_the_whole_expiry_leaves_the_sale_unpaid_and_nothing_charged() {
    let s = scene(5_000).await;
    let (cafe, pos) = s.till(2_000).await;
    s.terminal_proxy.set_mode(FaultMode::Refuse);
    let order = pos.new_sale(1_250, "Lunch").await.unwrap();
    let session = connect(&s.rider, &pos).await;
    session.next_payment_request().await.unwrap();
    confirm_left_pending(&s, &session, FaultMode::Refuse).await;
    assert_eq!(state_of(&pos, &order).await, Some(SaleState::InDoubt));

    // The control center comes back only after the request expired.
    wait_past_expiry().await;
    s.terminal_proxy.set_mode(FaultMode::Forward);
    wait_for_state(&pos, &order, SaleState::Unpaid, Duration::from_secs(15)).await;
    assert!(in_doubt_orders(&pos).is_empty());
    assert_eq!(pos.status().linkage_activations, 0);

    // The phone's recorded intent is refused as expired: nothing charged.
    s.rider_proxy.set_mode(FaultMode::Forward);
    let settled = s.rider.wallet.payments().settle_pending().await.unwrap();
    assert!(settled.is_empty());
    assert_eq!(s.rider.wallet.payments().pending_count().unwrap(), 0);
    assert_eq!(s.rider.balance().await.unwrap(), 5_000);
    assert_eq!(s.system.balance_of(&cafe.account_id).await, 0);
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
}

/// A metro with an entry gate and an exit gate behind the terminal proxy.
async fn metro(s: &Scene, ttl_ms: u64) -> (RunningTerminal, RunningTerminal) {
    let operator = s.system.merchant("City Metro", CNY).await.unwrap();
    metro_of(s, &operator, ttl_ms).await
}

async fn metro_of(
    s: &Scene,
    operator: &wayfare_cli::admin::Merchant,
    ttl_ms: u64,
) -> (RunningTerminal, RunningTerminal) {
    let entry = s
        .system
        .tap_gate(
            operator,
            CNY,
            &GateSetup::new(TapRole::Entry, "Harbour", 0),
            TerminalOptions::default(),
        )
        .await
        .unwrap();
    let exit = s
        .system
        .tap_gate(
            operator,
            CNY,
            &GateSetup::new(TapRole::Exit, "Central", 4),
            s.terminal_options(ttl_ms),
        )
        .await
        .unwrap();
    (entry, exit)
}

#[tokio::test]
async fn a_lost_answer_at_a_tap_out_gate_then_a_second_tap_opens_the_gate_once_for_one_fare() {
    let s = scene(5_000).await;
    let (entry, exit) = metro(&s, 60_000).await;
    let (entered, _) = tap(&s.rider, &entry).await;
    assert!(matches!(entered, TapOutcome::Entered { .. }), "{entered:?}");

    s.terminal_proxy.set_mode(FaultMode::Refuse);
    let (request, session) = fare_at(&s, &exit).await;
    confirm_left_pending(&s, &session, FaultMode::LoseResponses).await;
    assert_eq!(in_doubt_orders(&exit), vec![request.order_id.clone()]);
    assert_eq!(exit.status().linkage_activations, 0);

    // Tapping again with the same token gets the same order: no
    // `tap_in_token_used`, no second fare.
    s.rider_proxy.set_mode(FaultMode::Forward);
    let (again, session) = fare_at(&s, &exit).await;
    assert_eq!(again.order_id, request.order_id);
    assert_eq!(again.amount_minor, request.amount_minor);
    let confirming = tokio::spawn(async move { session.confirm().await });
    s.terminal_proxy.set_mode(FaultMode::Forward);
    let paid = confirming.await.unwrap().expect("paid");
    assert_eq!(
        paid.terminal_done.as_ref().map(|d| d.outcome),
        Some(DoneKind::Accepted)
    );
    wait_for_state(
        &exit,
        &request.order_id,
        SaleState::Accepted,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(exit.status().linkage_activations, 1, "the gate opened once");
    assert_charged_once(&s, request.amount_minor).await;
}

#[tokio::test]
async fn the_control_center_down_for_the_whole_expiry_at_a_tap_out_gate_charges_nothing() {
    let s = scene(5_000).await;
    let (entry, exit) = metro(&s, 2_000).await;
    tap(&s.rider, &entry).await;
    s.terminal_proxy.set_mode(FaultMode::Refuse);
    let (request, session) = fare_at(&s, &exit).await;
    confirm_left_pending(&s, &session, FaultMode::Refuse).await;
    wait_past_expiry().await;
    s.terminal_proxy.set_mode(FaultMode::Forward);
    wait_for_state(
        &exit,
        &request.order_id,
        SaleState::Unpaid,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(exit.status().linkage_activations, 0);
    s.rider_proxy.set_mode(FaultMode::Forward);
    assert!(s
        .rider
        .wallet
        .payments()
        .settle_pending()
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.rider.balance().await.unwrap(), 5_000);
    assert_eq!(payments_in_history(&s.rider).await, 0);
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
}

/// A tram charges a flat fare with a new order per boarding, so it cannot
/// recognise a rider who taps again — except that the phone names the
/// payment it left pending there, and gets that order back.
#[tokio::test]
async fn a_lost_answer_on_a_tram_then_a_second_tap_is_one_fare() {
    let s = scene(5_000).await;
    let operator = s.system.merchant("City Tram", CNY).await.unwrap();
    let tram = s
        .system
        .tram_terminal(
            &operator,
            CNY,
            &TramSetup::default(),
            s.terminal_options(60_000),
        )
        .await
        .unwrap();
    s.terminal_proxy.set_mode(FaultMode::Refuse);
    let (request, session) = fare_at(&s, &tram).await;
    confirm_left_pending(&s, &session, FaultMode::LoseResponses).await;
    assert_eq!(in_doubt_orders(&tram), vec![request.order_id.clone()]);

    s.rider_proxy.set_mode(FaultMode::Forward);
    let (again, session) = fare_at(&s, &tram).await;
    assert_eq!(
        again.order_id, request.order_id,
        "the same order comes back"
    );
    let confirming = tokio::spawn(async move { session.confirm().await });
    s.terminal_proxy.set_mode(FaultMode::Forward);
    confirming.await.unwrap().expect("paid");
    wait_for_state(
        &tram,
        &request.order_id,
        SaleState::Accepted,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(tram.status().linkage_activations, 1);
    assert_charged_once(&s, request.amount_minor).await;
}

/// The answer is lost at one exit gate (the server did charge the trip),
/// and the rider walks to another exit gate of the same metro: the token
/// cannot pay twice (`tap_in_token_used`), so the phone shows that gate
/// the payment that already paid the trip, which the platform confirms for
/// the operator; the gate opens and nothing more is charged.
#[tokio::test]
async fn a_lost_answer_at_one_exit_then_another_exit_gate_opens_for_the_one_fare() {
    let s = scene(5_000).await;
    let operator = s.system.merchant("City Metro", CNY).await.unwrap();
    let (entry, exit_a) = metro_of(&s, &operator, 60_000).await;
    let exit_b = s
        .system
        .tap_gate(
            &operator,
            CNY,
            &GateSetup::new(TapRole::Exit, "Central east", 4),
            TerminalOptions::default(),
        )
        .await
        .unwrap();
    tap(&s.rider, &entry).await;

    s.terminal_proxy.set_mode(FaultMode::Refuse);
    let (request, session) = fare_at(&s, &exit_a).await;
    confirm_left_pending(&s, &session, FaultMode::LoseResponses).await;

    // At the other gate: a new order, the same token.
    s.rider_proxy.set_mode(FaultMode::Forward);
    let (at_b, session) = fare_at(&s, &exit_b).await;
    assert_ne!(at_b.order_id, request.order_id);
    let paid = session.confirm().await.expect("the gate opens");
    assert_eq!(
        paid.terminal_done.as_ref().map(|d| d.outcome),
        Some(DoneKind::Accepted)
    );
    assert_eq!(exit_b.status().linkage_activations, 1);
    assert_charged_once(&s, request.amount_minor).await;
    assert_eq!(s.rider.wallet.payments().pending_count().unwrap(), 0);
}
