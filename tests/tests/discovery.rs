//! Discovery over real mDNS on the loopback interface: terminals advertise
//! `_wayfare._tcp`, the wallet's browser finds them and pays.

use std::time::Duration;

use wayfare_cli::local::{LocalSystem, TerminalOptions, TramSetup};

#[tokio::test]
async fn the_wallet_finds_terminals_over_mdns_and_pays() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let operator = system.merchant("City Tram", "CNY").await.unwrap();
    let options = TerminalOptions {
        advertise: true,
        ..TerminalOptions::default()
    };
    let tram = system
        .tram_terminal(&operator, "CNY", &TramSetup::default(), options)
        .await
        .unwrap();
    let rider = system.rider("Lin", None).await.unwrap();
    system.fund(&rider, 1_000).await.unwrap();

    // Browse until our terminal shows up (other terminals from parallel
    // tests may be advertised on loopback too).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let found = loop {
        let all = rider.wallet.terminals().discover(500).await.unwrap();
        if let Some(t) = all
            .into_iter()
            .find(|t| t.terminal_id == tram.terminal_id())
        {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "terminal not discovered over mDNS"
        );
    };
    assert_eq!(found.merchant_name, "City Tram");
    assert_eq!(found.kind, wayfare_core::TerminalKind::Tram);
    assert!(
        found.host.starts_with("127.") || found.host == "::1",
        "loopback only, got {}",
        found.host
    );

    let session = rider.wallet.terminals().connect(found).await.unwrap();
    session.next_payment_request().await.unwrap();
    let outcome = session.confirm().await.unwrap();
    assert_eq!(outcome.balance_after_minor, 800);
    assert_eq!(tram.status().linkage_activations, 1);
    tram.shutdown().await;
}
