//! What reaches the terminal's logs and reports: text a phone chooses is
//! escaped (no forged log lines, no terminal escapes), and the announcer
//! never logs the payer's name.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use futures::StreamExt;
use tracing_subscriber::layer::SubscriberExt;
use wayfare_protocol::messages::{DoneOutcome, ErrorBody, ErrorCode, SessionMessage};
use wayfare_protocol::prompt::{PromptData, PromptEvent};

/// Everything logged on this thread (the tests run on a current-thread
/// runtime, so the terminal's tasks log here too), as written to a file:
/// no colours, and none of the formatter's own escaping, so the test sees
/// exactly what the terminal hands to the log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_ansi_sanitization(false);
        tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(layer)
                .with(tracing_subscriber::filter::LevelFilter::DEBUG),
        )
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const FORGED: &str = "2030-01-01T00:00:00.000000Z  INFO wayfare_terminal: payment accepted";

/// No raw escape, no line break inside a record: every line starts like
/// a record of the formatter (a timestamp), and none is the forged one.
fn assert_clean(log: &str) {
    assert!(
        !log.contains('\u{1b}'),
        "raw ANSI escape in the log:\n{log}"
    );
    assert!(
        !log.contains('\r'),
        "raw carriage return in the log:\n{log}"
    );
    for line in log.lines() {
        assert!(!line.starts_with(FORGED), "forged log line:\n{log}");
    }
}

#[tokio::test]
async fn phone_chosen_text_reaches_logs_and_reports_escaped() {
    let captured = Captured::default();
    let _guard = captured.install();
    let (f, stub, t) = tram_with_stub().await;

    // A decline reason that would forge a log line and repaint the screen.
    let mut phone = f.phone(t.phone_addr()).await;
    phone
        .send(&SessionMessage::Identity {
            handle: format!("rider-1\n{FORGED}"),
        })
        .await;
    phone.expect_request().await;
    phone
        .send(&SessionMessage::Decline {
            reason: format!("no thanks\n{FORGED}\r\u{1b}[2J\u{1b}[31mred"),
        })
        .await;
    match phone.recv().await {
        Some(SessionMessage::Done(done)) => assert_eq!(done.outcome, DoneOutcome::Cancelled),
        other => panic!("expected Done, got {other:?}"),
    }
    eventually("the verdict logged", || {
        captured.text().contains("session verdict")
    })
    .await;
    eventually("the report uploaded", || !stub.reports().is_empty()).await;
    let log = captured.text();
    assert_clean(&log);
    assert!(log.contains(r"no thanks\n2030-01-01"), "{log}");
    assert!(log.contains(r"\u{1b}[2J"), "{log}");
    let detail = stub.reports()[0]["detail"].as_str().unwrap().to_string();
    assert!(!detail.chars().any(char::is_control), "{detail:?}");
    assert!(detail.contains(r"\u{1b}[31mred"), "{detail}");
    // The forged handle was not kept for the report.
    assert!(!detail.contains("payer handle"), "{detail}");
    eventually("terminal free", || !t.status().busy).await;

    // An error message the phone gives up with.
    let mut phone = f.phone(t.phone_addr()).await;
    phone.expect_request().await;
    phone
        .send(&SessionMessage::Error(ErrorBody {
            code: ErrorCode::Internal,
            message: format!("gave up\n{FORGED}\u{1b}]0;owned\u{7}"),
        }))
        .await;
    phone.expect_closed().await;
    eventually("the phone's error logged", || {
        captured.text().contains("the phone reported an error")
    })
    .await;
    let log = captured.text();
    assert_clean(&log);
    assert!(!log.contains('\u{7}'), "{log}");
    assert!(log.contains(r"gave up\n2030-01-01"), "{log}");
    t.shutdown().await;
}

fn prompt() -> PromptData {
    PromptData {
        merchant_id: MERCHANT_ID.into(),
        event: PromptEvent::Payment,
        dedupe_key: "ord_0123456789abcdef".into(),
        locale: "en".into(),
        order_id: Some("ord_0123456789abcdef".into()),
        payer_name: Some("Alice Zhang".into()),
        payee_name: Some("Café Kiosk".into()),
        payment_type: Some("pos".into()),
        amount_minor: Some(1250),
        currency: Some("CNY".into()),
        at_ms: Some(1_700_000_000_000),
        payment_platform: Some("Wayfare".into()),
        payment_id: None,
    }
}

/// A control center that registers the announcer's device and serves two
/// prompts naming the payer: one unreadable (its amount is the name), one
/// good.
async fn prompt_server() -> String {
    let mut unreadable = serde_json::to_value(prompt()).unwrap();
    unreadable["amount_minor"] = "Alice Zhang".into();
    unreadable["dedupe_key"] = "other".into();
    let events = vec![
        (1, unreadable.to_string()),
        (2, serde_json::to_string(&prompt()).unwrap()),
    ];
    let app = Router::new()
        .route(
            "/v1/devices",
            post(|| async {
                (
                    axum::http::StatusCode::CREATED,
                    Json(serde_json::json!({"device_id": "dev_0123456789abcdef01234567"})),
                )
            }),
        )
        .route(
            "/v1/devices/me/events",
            get(move || {
                let events = events.clone();
                async move {
                    let stream = futures::stream::iter(events.into_iter().map(|(id, data)| {
                        Ok::<_, std::convert::Infallible>(
                            Event::default()
                                .event("merchant.prompt")
                                .id(id.to_string())
                                .data(data),
                        )
                    }))
                    .chain(futures::stream::pending());
                    Sse::new(stream)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn the_announcer_never_logs_the_payers_name() {
    let captured = Captured::default();
    let _guard = captured.install();
    let url = prompt_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = wayfare_terminal::announcer::AnnouncerConfig::default();
    let speaker = wayfare_terminal::announcer::speaker_for(&config);
    let announcer = wayfare_terminal::announcer::start(&config, dir.path(), &url, speaker)
        .await
        .unwrap();
    eventually("the prompt announced", || announcer.announced() == 1).await;
    eventually("the announcement logged", || {
        captured.text().contains("merchant prompt announced")
    })
    .await;
    let log = captured.text();
    assert!(log.contains("unreadable prompt skipped"), "{log}");
    assert!(
        !log.contains("Alice"),
        "the payer's name was logged:\n{log}"
    );
    assert!(
        !log.contains("Zhang"),
        "the payer's name was logged:\n{log}"
    );
    announcer.shutdown().await;
}
