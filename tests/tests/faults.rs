//! Crashes and network faults around the payment server call: whatever
//! happens after the intent is recorded, reopening the wallet settles it,
//! and the rider is charged exactly once.

use wayfare_cli::local::{LocalSystem, TerminalOptions};
use wayfare_core::WalletError;
use wayfare_e2e::fault_proxy::{FaultMode, FaultProxy};
use wayfare_e2e::{payments_in_history, ring_up, shop, Shop};

struct Setup {
    system: LocalSystem,
    cafe: wayfare_cli::admin::Merchant,
    pos: wayfare_terminal::RunningTerminal,
    rider: wayfare_cli::local::RiderWallet,
    proxy: FaultProxy,
}

/// A rider whose wallet reaches the control center through a fault proxy.
async fn setup() -> Setup {
    let Shop {
        system,
        cafe,
        pos,
        mut rider,
    } = shop(TerminalOptions::default(), 5_000).await;
    let proxy = FaultProxy::start(system.server_addr()).await.unwrap();
    rider.reopen(Some(&proxy.url())).await.unwrap();
    Setup {
        system,
        cafe,
        pos,
        rider,
        proxy,
    }
}

async fn pay_into_fault(s: &Setup, mode: FaultMode) -> WalletError {
    let (session, _) = ring_up(&s.rider, &s.pos, 1_250, "Lunch").await;
    s.proxy.set_mode(mode);
    session.confirm().await.unwrap_err()
}

#[tokio::test]
async fn server_unreachable_after_the_intent_is_recorded_settles_on_reopen() {
    let mut s = setup().await;
    let err = pay_into_fault(&s, FaultMode::Refuse).await;
    assert!(
        matches!(err, WalletError::PaymentPending { .. }),
        "got {err:?}"
    );
    assert_eq!(s.rider.wallet.payments().pending_count().unwrap(), 1);
    // Nothing reached the server.
    assert_eq!(s.system.balance_of(&s.cafe.account_id).await, 0);

    // The app is killed and restarted while the network is still down: the
    // intent survives and stays pending.
    let report = s.rider.reopen(None).await.unwrap();
    assert_eq!((report.settled.len(), report.still_pending), (0, 1));

    // Network back: the next start settles it, once.
    s.proxy.set_mode(FaultMode::Forward);
    let report = s.rider.reopen(None).await.unwrap();
    assert_eq!((report.settled.len(), report.still_pending), (1, 0));
    assert_eq!(report.settled[0].amount_minor, 1_250);
    assert_eq!(s.rider.balance().await.unwrap(), 3_750);
    assert_eq!(s.system.balance_of(&s.cafe.account_id).await, 1_250);

    // Reopening again settles nothing more: charged exactly once.
    let report = s.rider.reopen(None).await.unwrap();
    assert_eq!((report.settled.len(), report.still_pending), (0, 0));
    assert_eq!(payments_in_history(&s.rider).await, 1);
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test]
async fn server_committed_but_the_response_was_lost_is_charged_once() {
    let mut s = setup().await;
    let err = pay_into_fault(&s, FaultMode::LoseResponses).await;
    assert!(
        matches!(err, WalletError::PaymentPending { .. }),
        "got {err:?}"
    );
    assert!(
        s.proxy.lost_responses() >= 1,
        "the proxy swallowed the server's answer"
    );
    // The server did commit.
    assert_eq!(s.system.balance_of(&s.cafe.account_id).await, 1_250);

    s.proxy.set_mode(FaultMode::Forward);
    let report = s.rider.reopen(None).await.unwrap();
    assert_eq!((report.settled.len(), report.still_pending), (1, 0));
    assert_eq!(s.rider.balance().await.unwrap(), 3_750);
    assert_eq!(s.system.balance_of(&s.cafe.account_id).await, 1_250);
    assert_eq!(payments_in_history(&s.rider).await, 1);
    assert_eq!(s.rider.wallet.payments().receipts(10).unwrap().len(), 1);
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
}

#[tokio::test]
async fn the_control_center_restarting_loses_nothing() {
    let mut s = setup().await;
    s.system.stop_server().await;
    let err = pay_into_fault(&s, FaultMode::Forward).await;
    assert!(
        matches!(err, WalletError::PaymentPending { .. }),
        "got {err:?}"
    );
    s.system.restart_server().await.unwrap();
    let settled = s.rider.wallet.payments().settle_pending().await.unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(s.rider.balance().await.unwrap(), 3_750);
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
}
