//! The durable report queue.

use crate::common;

use common::*;
use tokio::sync::watch;
use wayfare_protocol::messages::TerminalKind;
use wayfare_terminal::platform::PlatformClient;
use wayfare_terminal::reports::{Report, ReportQueue};

fn report(n: u32) -> Report {
    Report {
        report_id: format!("rep_{n:024}"),
        kind: "payment_accepted".into(),
        order_id: format!("ord_{n:024}"),
        payment_id: Some("pay_1".into()),
        amount_minor: Some(200),
        currency: Some("CNY".into()),
        fare: None,
        at_ms: 1,
        detail: "test".into(),
        entry_consent: None,
    }
}

#[tokio::test]
async fn reports_survive_a_reopen_and_drain_when_the_server_answers() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let path = f.data_dir().join("queue.sled");
    {
        let queue = ReportQueue::open(&path).await.unwrap();
        queue.push(&report(1)).await.unwrap();
        queue.push(&report(2)).await.unwrap();
        assert_eq!(queue.len(), 2);
    }
    let queue = ReportQueue::open(&path).await.unwrap();
    assert_eq!(queue.len(), 2);

    // The server fails twice, then accepts: the uploader retries and drains.
    let stub = f.stub().await;
    stub.state.lock().unwrap().report_failures_left = 2;
    let key = wayfare_terminal::keys::load_or_create_key(&f.data_dir().join("terminal.key"))
        .await
        .unwrap();
    let client = PlatformClient::new(&stub.url, TERMINAL_ID, std::sync::Arc::new(key)).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let uploader = tokio::spawn(queue.clone().run_uploader(client, stop_rx));
    eventually("queue drained", || queue.is_empty()).await;
    let ids: Vec<String> = stub
        .reports()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [report(1).report_id, report(2).report_id]);
    assert!(stub.reports()[0].get("fare").is_none());

    // A report pushed later is uploaded too.
    queue.push(&report(3)).await.unwrap();
    eventually("third report", || stub.reports().len() == 3).await;
    eventually("queue drained", || queue.is_empty()).await;
    stop.send(true).unwrap();
    uploader.await.unwrap();
    drop(queue);
    let reopened = ReportQueue::open(&path).await.unwrap();
    assert!(reopened.is_empty());
}

#[tokio::test]
async fn a_report_the_server_refuses_for_good_is_set_aside() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let queue = ReportQueue::open(&f.data_dir().join("q.sled"))
        .await
        .unwrap();
    queue.push(&report(1)).await.unwrap();
    // A server signed for another terminal key answers 401 (retryable) —
    // so use a server with no such route: 404 is a refusal for good.
    let app = axum::Router::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let key = wayfare_protocol::keys::SigningKey::generate().unwrap();
    let client = PlatformClient::new(&url, TERMINAL_ID, std::sync::Arc::new(key)).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let uploader = tokio::spawn(queue.clone().run_uploader(client, stop_rx));
    eventually("report set aside", || {
        queue.is_empty() && queue.rejected_len() == 1
    })
    .await;
    stop.send(true).unwrap();
    uploader.await.unwrap();
}
