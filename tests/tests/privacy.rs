//! Privacy (P2, P3.5): a terminal learns nothing about the rider unless
//! the rider takes the identity step, and then only the rider's pseudonym
//! for that terminal's merchant (other merchants see another); receipts
//! name the payer by the same pseudonym; with the rider's consent the
//! terminal registers the rider with its platform, and the rider lists and
//! revokes that registration.

use std::time::Duration;

use serde_json::Value;
use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions};
use wayfare_core::{DoneKind, PlatformRegistration};
use wayfare_e2e::{connect, shop, Shop};
use wayfare_protocol::consent::is_pseudonym;
use wayfare_protocol::receipt::Receipt;
use wayfare_terminal::RunningTerminal;

/// The terminal's report of `order_id`, once it reached the control center.
async fn report_of(system: &LocalSystem, terminal: &RunningTerminal, order_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reports = system
            .admin()
            .terminal_reports(terminal.terminal_id())
            .await
            .unwrap();
        if let Some(r) = reports.into_iter().find(|r| r["order_id"] == order_id) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the report of {order_id} never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pays a sale at `pos`, taking the identity step first when `identify`;
/// returns the pseudonym shown (if any), the receipt's payer and the
/// terminal's report detail.
async fn pay(
    system: &LocalSystem,
    rider: &RiderWallet,
    pos: &RunningTerminal,
    identify: bool,
) -> (Option<String>, String, String) {
    let order = pos.new_sale(300, "Tea").await.unwrap();
    let session = connect(rider, pos).await;
    let shown = if identify {
        let shared = session.identify(false).await.unwrap();
        assert!(!shared.registration_requested);
        assert_eq!(shared.merchant_id, session.terminal().merchant_id);
        Some(shared.pseudonym)
    } else {
        None
    };
    let request = session.next_payment_request().await.unwrap();
    assert_eq!(request.order_id, order);
    let outcome = session.confirm().await.unwrap();
    assert_eq!(outcome.terminal_done.unwrap().outcome, DoneKind::Accepted);
    let receipt = Receipt::from_base64(&outcome.receipt.receipt_base64)
        .unwrap()
        .verify(&system.server().unwrap().receipt_key())
        .unwrap();
    assert_eq!(outcome.receipt.payer_handle, receipt.payer);
    let report = report_of(system, pos, &order).await;
    let detail = report["detail"].as_str().unwrap().to_string();
    (shown, receipt.payer, detail)
}

#[tokio::test]
async fn terminals_see_a_per_merchant_pseudonym_and_only_in_the_identity_step() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let cafe = system.merchant("Corner Café", "CNY").await.unwrap();
    let bakery = system.merchant("Bakery", "CNY").await.unwrap();
    let cafe_pos = system
        .pos_terminal(&cafe, "CNY", TerminalOptions::default())
        .await
        .unwrap();
    let bakery_pos = system
        .pos_terminal(&bakery, "CNY", TerminalOptions::default())
        .await
        .unwrap();
    let rider = system.rider("Mei", Some("+8613800001234")).await.unwrap();
    system.fund(&rider, 5_000).await.unwrap();
    let info = rider.wallet.account().info().unwrap();

    // No identity step: the terminal hears nothing about the rider.
    let (_, anonymous_payer, anonymous) = pay(&system, &rider, &cafe_pos, false).await;
    assert!(!anonymous.contains("payer"), "{anonymous}");

    // The identity step at the café shows the café's pseudonym only.
    let (shown, cafe_payer, detail) = pay(&system, &rider, &cafe_pos, true).await;
    let cafe_pn = shown.unwrap();
    assert!(is_pseudonym(&cafe_pn), "{cafe_pn}");
    assert!(detail.contains(&cafe_pn), "{detail}");
    // Receipts name the payer by the same pseudonym, identified or not.
    assert_eq!(cafe_payer, cafe_pn);
    assert_eq!(anonymous_payer, cafe_pn);

    // The bakery sees another pseudonym for the same rider.
    let (shown, bakery_payer, detail) = pay(&system, &rider, &bakery_pos, true).await;
    let bakery_pn = shown.unwrap();
    assert!(is_pseudonym(&bakery_pn));
    assert_ne!(bakery_pn, cafe_pn);
    assert_eq!(bakery_payer, bakery_pn);
    assert!(
        detail.contains(&bakery_pn) && !detail.contains(&cafe_pn),
        "{detail}"
    );

    // Nothing a terminal reported names the account, its handle or phone.
    for pos in [&cafe_pos, &bakery_pos] {
        for r in system
            .admin()
            .terminal_reports(pos.terminal_id())
            .await
            .unwrap()
        {
            let text = r.to_string();
            for secret in [&info.account_id, &info.handle, &"1234".to_string()] {
                assert!(!text.contains(secret.as_str()), "{text}");
            }
        }
    }
    // No registration without consent.
    assert!(rider
        .wallet
        .registrations()
        .list()
        .await
        .unwrap()
        .is_empty());
    cafe_pos.shutdown().await;
    bakery_pos.shutdown().await;
}

async fn registrations_until(
    rider: &RiderWallet,
    done: impl Fn(&[PlatformRegistration]) -> bool,
) -> Vec<PlatformRegistration> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = rider.wallet.registrations().list().await.unwrap();
        if done(&listed) {
            return listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "registrations never became as expected: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rider_registers_with_consent_then_revokes() {
    let Shop {
        system: _system,
        cafe,
        pos,
        rider,
    } = shop(TerminalOptions::default(), 1_000).await;

    pos.new_sale(200, "Scone").await.unwrap();
    let session = connect(&rider, &pos).await;
    let shared = session.identify(true).await.unwrap();
    assert!(shared.registration_requested);
    // Once per session.
    assert!(session.identify(true).await.is_err());
    session.next_payment_request().await.unwrap();
    session.confirm().await.unwrap();

    let listed = registrations_until(&rider, |l| !l.is_empty()).await;
    assert_eq!(listed.len(), 1);
    let registration = &listed[0];
    assert_eq!(registration.merchant_id, cafe.merchant_id);
    assert_eq!(registration.merchant_name, "Corner Café");
    assert_eq!(registration.terminal_id, pos.terminal_id());
    assert_eq!(registration.pseudonym, shared.pseudonym);
    assert_eq!(registration.revoked_at_ms, None);

    let revoked = rider
        .wallet
        .registrations()
        .revoke(registration.registration_id.clone())
        .await
        .unwrap();
    assert!(revoked.revoked_at_ms.is_some());
    assert!(rider
        .wallet
        .registrations()
        .list()
        .await
        .unwrap()
        .is_empty());
    pos.shutdown().await;
}

#[tokio::test]
async fn at_a_tram_registration_comes_after_the_tap() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let tram = wayfare_e2e::city_tram(&system).await;
    let rider = system.rider("Lin", None).await.unwrap();
    system.fund(&rider, 1_000).await.unwrap();
    let session = connect(&rider, &tram).await;

    // Before the tap a transit terminal expects the tap-in: registering
    // then is refused on the phone, nothing is sent.
    let early = session.identify(true).await.unwrap_err();
    assert!(
        matches!(early, wayfare_core::WalletError::InvalidInput { .. }),
        "{early:?}"
    );
    assert!(matches!(
        session.tap().await.unwrap(),
        wayfare_core::TapOutcome::PaymentRequested { .. }
    ));
    let shared = session.identify(true).await.unwrap();
    session.confirm().await.unwrap();

    let listed = registrations_until(&rider, |l| !l.is_empty()).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].pseudonym, shared.pseudonym);
    assert_eq!(listed[0].terminal_id, tram.terminal_id());
    tram.shutdown().await;
}
