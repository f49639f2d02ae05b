//! The tram moves (P1, issue 12.3): the tram terminal's stop follows a
//! GTFS-Realtime vehicle position feed served on loopback and its local
//! control interface, and the guardian's alert names the stop where the
//! rider boarded. A stale feed is flagged, never applied.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wayfare_testkit::now_ms;

use axum::http::header;
use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions, TramSetup};
use wayfare_core::{GuardianAlert, PaymentOutcome, TapOutcome};
use wayfare_e2e::connect;
use wayfare_terminal::config::{PositionConfig, StopConfig};
use wayfare_terminal::position::gtfs::{single_vehicle_feed, VehicleStopStatus};
use wayfare_terminal::position::{PositionSource, PositionStatus};
use wayfare_terminal::RunningTerminal;

const CNY: &str = "CNY";
const VEHICLE: &str = "tram 1207";

/// A GTFS-Realtime feed on loopback whose content the test replaces.
struct Feed {
    bytes: Arc<Mutex<Vec<u8>>>,
    url: String,
}

impl Feed {
    async fn serve() -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let served = bytes.clone();
        let app = axum::Router::new().route(
            "/vehicle-positions.pb",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                async move { ([(header::CONTENT_TYPE, "application/x-protobuf")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            bytes,
            url: format!("http://{addr}/vehicle-positions.pb"),
        }
    }

    /// The tram is `status` at `stop_id`, measured `age_s` seconds ago.
    fn publish(&self, stop_id: &str, status: VehicleStopStatus, age_s: u64) {
        let now_s = now_ms() / 1_000;
        let feed = single_vehicle_feed(VEHICLE, stop_id, status, now_s - age_s);
        *self.bytes.lock().unwrap() = feed.to_bytes();
    }
}

fn line() -> TramSetup {
    let stop = |id: &str, name: &str, index| StopConfig {
        id: id.into(),
        name: name.into(),
        index,
    };
    TramSetup {
        vehicle: VEHICLE.into(),
        direction_from: "Harbour".into(),
        direction_towards: "University".into(),
        station: "Harbour".into(),
        station_index: 1,
        stops: vec![
            stop("S1", "Harbour", 1),
            stop("S2", "Central Square", 2),
            stop("S3", "University", 3),
        ],
        ..TramSetup::default()
    }
}

fn fed_by(feed: &Feed) -> TerminalOptions {
    TerminalOptions {
        position: Some(PositionConfig {
            poll_ms: 50,
            max_age_ms: 60_000,
            ..PositionConfig::from_url(feed.url.clone())
        }),
        ..TerminalOptions::default()
    }
}

/// Polls the terminal's status until its position satisfies `done`.
async fn wait_for(
    tram: &RunningTerminal,
    what: &str,
    done: impl Fn(&PositionStatus) -> bool,
) -> PositionStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let position = tram.status().position.expect("a tram has a position");
        if done(&position) {
            return position;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within 10 s; position: {position:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Boards the tram and pays the flat fare; returns the request's
/// description and the outcome.
async fn board(rider: &RiderWallet, tram: &RunningTerminal) -> (String, PaymentOutcome) {
    let session = connect(rider, tram).await;
    let description = match session.tap().await.unwrap() {
        TapOutcome::PaymentRequested { request } => request.description,
        other => panic!("expected a fare, got {other:?}"),
    };
    (description, session.confirm().await.unwrap())
}

async fn next_alert(stream: &wayfare_core::GuardianAlertStream) -> GuardianAlert {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("no alert within 20 s")
        .unwrap()
}

/// A rider with a phone number, funded, whose guardian sees transit
/// alerts; returns the rider and the guardian's alert stream.
async fn rider_with_guardian(
    system: &LocalSystem,
) -> (
    RiderWallet,
    RiderWallet,
    Arc<wayfare_core::GuardianAlertStream>,
) {
    let (rider, guardian) = wayfare_e2e::guarded_rider(system).await;
    let stream = guardian.wallet.guardians().alert_stream();
    (rider, guardian, stream)
}

#[tokio::test]
async fn a_tram_moving_through_three_stops_names_the_boarding_stop_in_the_alert() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let (rider, _guardian, alerts) = rider_with_guardian(&system).await;
    let feed = Feed::serve().await;
    feed.publish("S1", VehicleStopStatus::StoppedAt, 0);
    let operator = system.merchant("City Tram", CNY).await.unwrap();
    let tram = system
        .tram_terminal(&operator, CNY, &line(), fed_by(&feed))
        .await
        .unwrap();

    // Stop 1, from the feed.
    let at = wait_for(&tram, "the feed's first stop", |p| {
        p.position.source == PositionSource::Feed
    })
    .await;
    assert_eq!(at.position.station, "Harbour");
    assert_eq!(at.position.next_stop.as_deref(), Some("Central Square"));
    assert!(!at.stale);

    // On the way to stop 2 the doors are shut: still stop 1 for boarding.
    feed.publish("S2", VehicleStopStatus::InTransitTo, 0);
    let at = wait_for(&tram, "in transit to stop 2", |p| {
        p.position.status == wayfare_terminal::position::StopStatus::InTransitTo
    })
    .await;
    assert_eq!(at.position.station, "Harbour");

    // Stop 2: the rider boards here.
    feed.publish("S2", VehicleStopStatus::StoppedAt, 0);
    let at = wait_for(&tram, "stop 2", |p| p.position.station == "Central Square").await;
    assert_eq!(at.position.station_index, 2);
    let (description, paid) = board(&rider, &tram).await;
    assert!(
        description.contains("Central Square"),
        "the request names the stop of the tap: {description}"
    );

    // Stop 3, after the ride was paid.
    feed.publish("S3", VehicleStopStatus::StoppedAt, 0);
    let at = wait_for(&tram, "stop 3", |p| p.position.station == "University").await;
    assert_eq!(at.position.next_stop, None, "University is the terminus");

    let alert = next_alert(&alerts).await;
    assert_eq!(alert.payment_id, paid.payment_id);
    let transit = alert.transit.clone().unwrap();
    assert_eq!(transit.station, "Central Square");
    assert_eq!(
        (
            transit.direction_from.as_str(),
            transit.direction_towards.as_str()
        ),
        ("Harbour", "University")
    );
    assert!(
        alert
            .text_en
            .contains("boarding at Central Square on the T1 tram"),
        "{}",
        alert.text_en
    );
    tram.shutdown().await;
}

#[tokio::test]
async fn a_stale_feed_is_flagged_and_the_control_interface_moves_the_tram() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let (rider, _guardian, alerts) = rider_with_guardian(&system).await;
    let feed = Feed::serve().await;
    // Ten minutes old, with max_age_ms one minute: never applied.
    feed.publish("S2", VehicleStopStatus::StoppedAt, 600);
    let operator = system.merchant("City Tram", CNY).await.unwrap();
    let tram = system
        .tram_terminal(&operator, CNY, &line(), fed_by(&feed))
        .await
        .unwrap();
    let at = wait_for(&tram, "the stale feed reported", |p| {
        p.feed_error.as_deref().is_some_and(|e| e.contains("stale"))
    })
    .await;
    assert!(at.stale);
    assert_eq!(
        at.position.station, "Harbour",
        "the stale stop is not applied"
    );
    assert_eq!(at.position.source, PositionSource::Config);

    // The local control interface says so too.
    let http = reqwest::Client::new();
    let base = format!("http://{}", tram.control_addr());
    let status: serde_json::Value = http
        .get(format!("{base}/status"))
        .bearer_auth(tram.control_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["position"]["stale"], true, "{status}");
    assert_eq!(status["position"]["source"], "config", "{status}");

    // A rider boarding now is charged at the last known stop, marked.
    let (description, _paid) = board(&rider, &tram).await;
    assert!(
        description.contains("position unconfirmed"),
        "{description}"
    );
    let alert = next_alert(&alerts).await;
    assert_eq!(alert.transit.unwrap().station, "Harbour");

    // The driver's console moves the tram.
    let put = |body: serde_json::Value, token: Option<&str>| {
        let mut request = http.put(format!("{base}/position")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let token = Some(tram.control_token());
    let moved = put(serde_json::json!({ "stop_id": "S3" }), None)
        .await
        .unwrap();
    assert_eq!(moved.status(), 401);
    let refused = put(serde_json::json!({ "station": "Nowhere" }), token)
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_stop");
    let moved = put(
        serde_json::json!({ "station": "Central Square", "direction_towards": "Harbour" }),
        token,
    )
    .await
    .unwrap();
    assert_eq!(moved.status(), 200);
    let at = tram.status().position.unwrap();
    assert_eq!(at.position.station, "Central Square");
    assert_eq!(at.position.direction_towards, "Harbour");
    assert_eq!(at.position.next_stop.as_deref(), Some("Harbour"));
    assert_eq!(at.position.source, PositionSource::Control);
    assert!(!at.stale, "the operator's word is not a stale feed");

    let (description, _paid) = board(&rider, &tram).await;
    assert!(
        !description.contains("position unconfirmed"),
        "{description}"
    );
    let alert = next_alert(&alerts).await;
    let transit = alert.transit.unwrap();
    assert_eq!(transit.station, "Central Square");
    assert_eq!(transit.direction_towards, "Harbour");
    tram.shutdown().await;
}
