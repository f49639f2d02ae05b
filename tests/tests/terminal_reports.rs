//! P1: a vehicle uploads whenever it can. Reports made while the control
//! center is unreachable wait in the terminal's durable queue and arrive,
//! once each, when it is back.

use std::time::Duration;

use wayfare_cli::local::TerminalOptions;
use wayfare_e2e::{connect, shop, Shop};

#[tokio::test]
async fn reports_made_during_an_outage_arrive_when_the_server_returns() {
    let Shop {
        mut system,
        cafe: _,
        pos,
        rider,
    } = shop(TerminalOptions::default(), 0).await;

    // The control center goes away; a rider declines at the POS meanwhile
    // (the session itself needs no server).
    system.stop_server().await;
    let order = pos.new_sale(450, "Muffin").await.unwrap();
    let session = connect(&rider, &pos).await;
    session.next_payment_request().await.unwrap();
    session.decline("not today".into()).await.unwrap();
    assert_eq!(
        pos.status().queued_reports,
        1,
        "the report waits in the durable queue"
    );

    system.restart_server().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let reports = loop {
        let reports = system
            .admin()
            .terminal_reports(pos.terminal_id())
            .await
            .unwrap();
        if !reports.is_empty() && pos.status().queued_reports == 0 {
            break reports;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queued report never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["order_id"], order.as_str());
    assert_eq!(reports[0]["kind"], "payment_declined");
    pos.shutdown().await;
}
