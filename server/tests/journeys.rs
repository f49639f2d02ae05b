//! Incomplete journeys (issue 8.2, P3.6): the control center learns a
//! rider's open entry from the gate's `tap_in` report (the rider's
//! device-signed entry consent) and charges the maximum fare exactly once
//! for a journey never completed: a token withheld at a two-way gate (the
//! gate records a new entry), a second entry without an exit, or a token
//! that expires unused. A completed journey is never charged again.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{now_ms, shop, Phone, Terminal, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::entry_consent::{EntryConsent, EntryConsentBody};
use wayfare_protocol::fare::{FareContext, FareDirection, FareMode, TripEntry};

const MAX_FARE: u64 = 500;

fn fare(mode: FareMode, station: &str, entry: Option<TripEntry>) -> FareContext {
    FareContext {
        mode,
        line: "T1".into(),
        vehicle: "gate".into(),
        direction: FareDirection {
            from: "Harbour".into(),
            towards: "University".into(),
        },
        station: station.into(),
        station_index: 0,
        entry,
    }
}

fn entry(token_id: &str, station: &str) -> TripEntry {
    TripEntry {
        station: station.into(),
        station_index: 0,
        at_ms: now_ms(),
        token_id: token_id.into(),
    }
}

/// The gate's `tap_in` report for `phone` entering with `token_id` now,
/// carrying the consent `sign_with` signed (the phone's own key, normally).
async fn report_entry(
    s: &TestServer,
    gate: &Terminal,
    phone: &Phone,
    token_id: &str,
    expires_at_ms: u64,
    sign_with: &wayfare_protocol::keys::SigningKey,
) -> (StatusCode, Value) {
    let at = Entered {
        token_id,
        station: "Harbour",
        expires_at_ms,
        at_ms: now_ms(),
    };
    post_entry(s, gate, phone, at, sign_with).await
}

/// When and with which token a rider entered.
struct Entered<'a> {
    token_id: &'a str,
    station: &'a str,
    expires_at_ms: u64,
    at_ms: u64,
}

/// The `tap_in` report of an entry at `entered.at_ms` (a report may arrive
/// long after the tap: the gate's queue retries through outages).
async fn post_entry(
    s: &TestServer,
    gate: &Terminal,
    phone: &Phone,
    entered: Entered<'_>,
    sign_with: &wayfare_protocol::keys::SigningKey,
) -> (StatusCode, Value) {
    let Entered {
        token_id,
        station,
        expires_at_ms,
        at_ms,
    } = entered;
    let consent = EntryConsent::sign(
        sign_with,
        &EntryConsentBody {
            version: 1,
            token_id: token_id.into(),
            terminal_id: gate.terminal_id.clone(),
            account_id: phone.account_id.clone(),
            device_id: phone.device_id.clone(),
            maximum_fare_minor: MAX_FARE,
            currency: "CNY".into(),
            expires_at_ms,
            signed_at_ms: now_ms(),
        },
    )
    .unwrap();
    let body = json!({
        "report_id": format!("rep-{token_id}"),
        "kind": "tap_in",
        "order_id": token_id,
        "fare": fare(FareMode::TapIn, station, Some(TripEntry { at_ms, ..entry(token_id, station) })),
        "at_ms": now_ms(),
        "detail": "tap-in",
        "entry_consent": consent.to_base64(),
    })
    .to_string();
    s.terminal_post(gate, "/v1/terminals/me/reports", &body)
        .await
}

async fn sweep(s: &TestServer, grace_ms: u64) -> u64 {
    let (status, body) = s
        .admin(
            Method::POST,
            &format!("/v1/transit/sweep?grace_ms={grace_ms}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["charged"].as_u64().unwrap()
}

async fn maximum_fares(s: &TestServer, phone: &Phone) -> Vec<Value> {
    let (status, body) = s
        .device(phone, Method::GET, "/v1/wallet/history?limit=50", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"]
        .as_array()
        .or_else(|| body["history"].as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e["description"]
                .as_str()
                .is_some_and(|d| d.contains("never tapped out"))
        })
        .collect()
}

fn token() -> String {
    wayfare_protocol::ids::new_id("tap").unwrap()
}

#[tokio::test]
async fn a_withheld_token_then_a_new_entry_charges_the_open_journey_once() {
    for url in common::database_urls() {
        withheld_token(url).await;
    }
}

async fn withheld_token(url: Option<String>) {
    let s = TestServer::start_with(url).await;
    let (w1, w2) = (token(), token());
    let (metro, gate, phone) = shop(&s, 2_000).await;
    let later = now_ms() + 3_600_000;

    assert_eq!(
        report_entry(&s, &gate, &phone, &w1, later, &phone.key)
            .await
            .0,
        StatusCode::OK
    );
    assert!(maximum_fares(&s, &phone).await.is_empty());
    // At a two-way gate the rider withholds the token: the gate records a
    // new entry, and the first journey is incomplete.
    report_entry(&s, &gate, &phone, &w2, later, &phone.key).await;
    let charged = maximum_fares(&s, &phone).await;
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert!(
        charged[0]["description"]
            .as_str()
            .unwrap()
            .contains("entered at Harbour"),
        "{charged:?}"
    );
    assert_eq!(s.balance(&phone.account_id).await, 2_000 - MAX_FARE as i64);
    assert_eq!(s.balance(&metro.account_id).await, MAX_FARE as i64);

    // The gate re-sends its report after an outage: nothing more.
    report_entry(&s, &gate, &phone, &w2, later, &phone.key).await;
    assert_eq!(maximum_fares(&s, &phone).await.len(), 1);
    // The sweep is global (other tests share PostgreSQL): judge by this
    // rider's charges.
    sweep(&s, 0).await;
    assert_eq!(maximum_fares(&s, &phone).await.len(), 1, "no token expired");
    assert_eq!(s.ledger_check().await["sum_minor"], 0);
}

/// Two gates report two entries of the same rider at the same moment: the
/// decision is taken inside one transaction per report, with the rider's
/// reports serialised, so exactly one journey is left incomplete and
/// charged — never both left open (each having seen no other).
#[tokio::test]
async fn entries_reported_at_the_same_moment_charge_one_journey_once() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let (_metro, gate, phone) = shop(&s, 2_000).await;
        let later = now_ms() + 3_600_000;
        let (w1, w2) = (token(), token());
        let (a, b) = tokio::join!(
            report_entry(&s, &gate, &phone, &w1, later, &phone.key),
            report_entry(&s, &gate, &phone, &w2, later, &phone.key),
        );
        assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
        let charged = maximum_fares(&s, &phone).await;
        assert_eq!(charged.len(), 1, "{charged:?}");
        assert_eq!(s.balance(&phone.account_id).await, 2_000 - MAX_FARE as i64);
        assert_eq!(s.ledger_check().await["sum_minor"], 0);
    }
}

/// The report of an earlier entry arrives after a later one's (the first
/// gate was offline): the earlier journey is the incomplete one, and the
/// later entry stays open for its exit.
#[tokio::test]
async fn a_late_report_of_an_earlier_entry_charges_that_entry_not_the_later_one() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let (_metro, gate, phone) = shop(&s, 2_000).await;
        let later = now_ms() + 3_600_000;
        let (first, second) = (token(), token());
        let now = now_ms();
        let entered = |token_id, station, at_ms| Entered {
            token_id,
            station,
            expires_at_ms: later,
            at_ms,
        };
        let reported = post_entry(
            &s,
            &gate,
            &phone,
            entered(&second, "Museum", now),
            &phone.key,
        )
        .await;
        assert_eq!(reported.0, StatusCode::OK, "{reported:?}");
        assert!(maximum_fares(&s, &phone).await.is_empty());
        let late = post_entry(
            &s,
            &gate,
            &phone,
            entered(&first, "Harbour", now - 60_000),
            &phone.key,
        )
        .await;
        assert_eq!(late.0, StatusCode::OK, "{late:?}");
        let charged = maximum_fares(&s, &phone).await;
        assert_eq!(charged.len(), 1, "{charged:?}");
        let description = charged[0]["description"].as_str().unwrap_or_default();
        assert!(description.contains("entered at Harbour"), "{description}");
        // The later entry is still open: a third entry now charges it.
        report_entry(&s, &gate, &phone, &token(), later, &phone.key).await;
        let charged = maximum_fares(&s, &phone).await;
        assert_eq!(charged.len(), 2, "{charged:?}");
        assert_eq!(s.ledger_check().await["sum_minor"], 0);
    }
}

#[tokio::test]
async fn an_unused_expired_token_is_charged_the_maximum_exactly_once_and_a_completed_one_never() {
    for url in common::database_urls() {
        expired_token(url).await;
    }
}

async fn expired_token(url: Option<String>) {
    let s = TestServer::start_with(url).await;
    let (c1, u1) = (token(), token());
    let (_metro, gate, phone) = shop(&s, 2_000).await;

    // Completed: tapped out with the token, so never charged by the sweep.
    let soon = now_ms() + 50;
    report_entry(&s, &gate, &phone, &c1, soon, &phone.key).await;
    let (instruction, idem) = phone.instruction_with_fare(
        &gate,
        "ord-exit-1",
        300,
        now_ms() + 60_000,
        Some(fare(
            FareMode::TapOut,
            "Central",
            Some(entry(&c1, "Harbour")),
        )),
    );
    let (status, body) = s.pay(&phone, &instruction, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Unused: the token expires and nobody taps out.
    report_entry(&s, &gate, &phone, &u1, soon, &phone.key).await;
    while now_ms() <= soon {
        tokio::task::yield_now().await;
    }
    // The sweep is global (other tests share PostgreSQL and may sweep this
    // entry first): judge by this rider's charges.
    sweep(&s, 0).await;
    sweep(&s, 0).await;
    assert_eq!(
        maximum_fares(&s, &phone).await.len(),
        1,
        "charged exactly once"
    );
    let charged = maximum_fares(&s, &phone).await;
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert!(charged[0]["description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(
        s.balance(&phone.account_id).await,
        2_000 - 300 - MAX_FARE as i64
    );

    // The spent token cannot pay a trip afterwards.
    let (instruction, idem) = phone.instruction_with_fare(
        &gate,
        "ord-exit-2",
        300,
        now_ms() + 60_000,
        Some(fare(
            FareMode::TapOut,
            "Central",
            Some(entry(&u1, "Harbour")),
        )),
    );
    let (status, body) = s.pay(&phone, &instruction, &idem).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "tap_in_token_used");
    assert_eq!(s.ledger_check().await["sum_minor"], 0);
}

#[tokio::test]
async fn a_consent_not_signed_by_the_riders_device_opens_no_entry() {
    for url in common::database_urls() {
        forged_consent(url).await;
    }
}

async fn forged_consent(url: Option<String>) {
    let s = TestServer::start_with(url).await;
    let (f1, f2) = (token(), token());
    let (_metro, gate, phone) = shop(&s, 2_000).await;
    let impostor = wayfare_protocol::keys::SigningKey::generate().unwrap();
    let later = now_ms() + 3_600_000;
    // The report itself is kept (the gate did open), but no entry opens on
    // the rider's account, so nothing can be charged to them for it.
    let (status, _) = report_entry(&s, &gate, &phone, &f1, later, &impostor).await;
    assert_eq!(status, StatusCode::OK);
    report_entry(&s, &gate, &phone, &f2, later, &phone.key).await;
    assert!(maximum_fares(&s, &phone).await.is_empty());
    assert_eq!(s.balance(&phone.account_id).await, 2_000);
}

/// The entry gate's report can arrive after the exit was paid (its queue
/// uploads when it can): the journey is complete and stays so.
#[tokio::test]
async fn an_entry_report_arriving_after_the_exit_opens_nothing() {
    for url in common::database_urls() {
        late_report(url).await;
    }
}

async fn late_report(url: Option<String>) {
    let s = TestServer::start_with(url).await;
    let (_metro, gate, phone) = shop(&s, 2_000).await;
    let (t1, t2) = (token(), token());
    let later = now_ms() + 3_600_000;
    let (instruction, idem) = phone.instruction_with_fare(
        &gate,
        &format!("ord-{t1}"),
        300,
        now_ms() + 60_000,
        Some(fare(
            FareMode::TapOut,
            "Central",
            Some(entry(&t1, "Harbour")),
        )),
    );
    let (status, body) = s.pay(&phone, &instruction, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    report_entry(&s, &gate, &phone, &t1, later, &phone.key).await;
    // A new entry finds nothing open to charge.
    report_entry(&s, &gate, &phone, &t2, later, &phone.key).await;
    assert!(maximum_fares(&s, &phone).await.is_empty());
    assert_eq!(s.balance(&phone.account_id).await, 1_700);
}

/// Issue 8.1: another exit gate of the same operator may confirm the
/// payment that already paid a trip, by its tap-in token; a gate of
/// another operator, or the wrong token, learns nothing.
#[tokio::test]
async fn another_gate_of_the_operator_confirms_a_trip_paid_by_its_token() {
    for url in common::database_urls() {
        trip_confirmation(url).await;
    }
}

async fn trip_confirmation(url: Option<String>) {
    let s = TestServer::start_with(url).await;
    let (metro, gate_a, phone) = shop(&s, 2_000).await;
    let gate_b = s.terminal(&metro).await;
    let other_operator = s.merchant("CNY").await;
    let stranger = s.terminal(&other_operator).await;
    let t = token();
    let (instruction, idem) = phone.instruction_with_fare(
        &gate_a,
        &format!("ord-{t}"),
        300,
        now_ms() + 60_000,
        Some(fare(
            FareMode::TapOut,
            "Central",
            Some(entry(&t, "Harbour")),
        )),
    );
    let (status, paid) = s.pay(&phone, &instruction, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let (status, answer) = confirm_trip(&s, &gate_b, &paid, &t).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["confirmed"], true);
    assert_eq!(answer["amount_minor"], 300);
    let (status, _) = confirm_trip(&s, &stranger, &paid, &t).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = confirm_trip(&s, &gate_b, &paid, &token()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn confirm_trip(
    s: &TestServer,
    gate: &Terminal,
    paid: &Value,
    token_id: &str,
) -> (StatusCode, Value) {
    let body =
        json!({"payment_id": paid["payment_id"], "order_id": "ord-at-b", "token_id": token_id})
            .to_string();
    s.terminal_post(gate, "/v1/platform/confirmations", &body)
        .await
}
