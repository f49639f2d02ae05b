use super::gtfs::Observation;
use super::*;
use wayfare_protocol::money::Currency;

fn stop(id: &str, name: &str, index: u32) -> StopConfig {
    StopConfig {
        id: id.into(),
        name: name.into(),
        index,
    }
}

fn tram() -> TramConfig {
    TramConfig {
        fare_minor: 200,
        currency: Currency::parse("CNY").unwrap(),
        line: "T1".into(),
        vehicle: "1207".into(),
        direction_from: "Harbour".into(),
        direction_towards: "University".into(),
        station: "Harbour".into(),
        station_index: 1,
        request_ttl_ms: 60_000,
        stops: vec![
            stop("S1", "Harbour", 1),
            stop("S3", "University", 3),
            stop("S2", "Central Square", 2),
        ],
    }
}

fn feed() -> PositionConfig {
    PositionConfig {
        max_age_ms: 60_000,
        ..PositionConfig::from_url("http://127.0.0.1:9/feed.pb")
    }
}

fn seen(stop_id: &str, status: StopStatus, at_ms: u64) -> Observation {
    Observation {
        stop_id: stop_id.into(),
        status,
        at_ms,
    }
}

#[test]
fn the_configured_station_is_the_start_with_its_next_stop() {
    let live = LivePosition::new(&tram(), None, 1_000);
    let s = live.snapshot(3_000);
    assert_eq!(s.position.station, "Harbour");
    assert_eq!(s.position.stop_id.as_deref(), Some("S1"));
    assert_eq!(s.position.next_stop.as_deref(), Some("Central Square"));
    assert_eq!(s.position.source, PositionSource::Config);
    assert_eq!(s.age_ms, 2_000);
    assert!(!s.stale, "no feed configured: nothing to be stale");
}

#[test]
fn feed_stops_map_to_the_boarding_stop_by_status() {
    let live = LivePosition::new(&tram(), Some(&feed()), 0);
    assert!(live.snapshot(0).stale, "no feed position yet");
    let p = live
        .apply_feed(&seen("S2", StopStatus::StoppedAt, 10_000))
        .unwrap();
    assert_eq!((p.station.as_str(), p.station_index), ("Central Square", 2));
    assert_eq!(p.next_stop.as_deref(), Some("University"));
    assert_eq!(p.source, PositionSource::Feed);
    // In transit to S3: riders boarding now got on at S2.
    let p = live
        .apply_feed(&seen("S3", StopStatus::InTransitTo, 20_000))
        .unwrap();
    assert_eq!(p.station, "Central Square");
    assert_eq!(p.next_stop.as_deref(), Some("University"));
    assert_eq!(p.status, StopStatus::InTransitTo);
    // An older observation does not move the tram back.
    live.apply_feed(&seen("S1", StopStatus::StoppedAt, 5_000))
        .unwrap();
    assert_eq!(live.snapshot(20_000).position.station, "Central Square");
    assert_eq!(
        live.apply_feed(&seen("S9", StopStatus::StoppedAt, 30_000)),
        Err(FeedError::UnknownStop("S9".into()))
    );
}

#[test]
fn a_feed_not_heard_from_for_max_age_is_stale_until_control_or_feed_speak() {
    let live = LivePosition::new(&tram(), Some(&feed()), 0);
    live.apply_feed(&seen("S2", StopStatus::StoppedAt, 10_000))
        .unwrap();
    assert!(!live.snapshot(70_000).stale);
    let s = live.snapshot(70_001);
    assert!(s.stale);
    assert_eq!(
        s.position.station, "Central Square",
        "the last stop is kept"
    );
    live.note_feed_error(&FeedError::NoStop);
    assert!(live.snapshot(70_001).feed_error.is_some());
    live.set_by_control(
        &MoveRequest {
            stop_id: Some("S3".into()),
            ..MoveRequest::default()
        },
        80_000,
    )
    .unwrap();
    assert!(!live.snapshot(200_000).stale);
    live.apply_feed(&seen("S3", StopStatus::StoppedAt, 190_000))
        .unwrap();
    assert!(live.snapshot(200_000).feed_error.is_none());
}

#[test]
fn control_moves_are_checked_against_the_stop_list_and_termini() {
    let live = LivePosition::new(&tram(), None, 0);
    let by_name = MoveRequest {
        station: Some("University".into()),
        direction_towards: Some("Harbour".into()),
        ..MoveRequest::default()
    };
    let p = live.set_by_control(&by_name, 5).unwrap();
    assert_eq!(p.station_index, 3);
    assert_eq!(
        (p.direction_from.as_str(), p.direction_towards.as_str()),
        ("University", "Harbour")
    );
    assert_eq!(p.next_stop.as_deref(), Some("Central Square"));
    assert_eq!(p.source, PositionSource::Control);
    let unknown = MoveRequest {
        station: Some("Nowhere".into()),
        ..MoveRequest::default()
    };
    assert_eq!(
        live.set_by_control(&unknown, 6),
        Err(MoveError::UnknownStop("Nowhere".into()))
    );
    assert_eq!(
        live.set_by_control(&MoveRequest::default(), 6),
        Err(MoveError::Ambiguous)
    );
    let bad_direction = MoveRequest {
        stop_id: Some("S1".into()),
        direction_towards: Some("Mars".into()),
        ..MoveRequest::default()
    };
    assert!(matches!(
        live.set_by_control(&bad_direction, 6),
        Err(MoveError::UnknownDirection(..))
    ));
    let no_list = TramConfig {
        stops: Vec::new(),
        ..tram()
    };
    assert_eq!(
        LivePosition::new(&no_list, None, 0).set_by_control(&by_name, 1),
        Err(MoveError::NoStopList)
    );
}

#[test]
fn stop_lists_and_feed_settings_are_validated() {
    assert_eq!(validate_stops(&tram()), Ok(()));
    let mut t = tram();
    t.stops[1].name = " ".into();
    assert!(validate_stops(&t).unwrap_err().contains("name is empty"));
    let mut t = tram();
    t.stops[2].id = "S1".into();
    assert!(validate_stops(&t).unwrap_err().contains("appears twice"));
    let mut t = tram();
    t.station = "Elsewhere".into();
    assert!(validate_stops(&t)
        .unwrap_err()
        .contains("not one of mode.stops"));
    let mut t = tram();
    t.station_index = 7;
    assert!(validate_stops(&t).unwrap_err().contains("station_index"));

    assert_eq!(feed().validate(&tram().stops), Ok(()));
    assert!(feed().validate(&[]).unwrap_err().contains("mode.stops"));
    let both = PositionConfig {
        feed_file: Some("feed.pb".into()),
        ..feed()
    };
    assert!(both
        .validate(&tram().stops)
        .unwrap_err()
        .contains("exactly one"));
    let ftp = PositionConfig::from_url("ftp://example.org/feed");
    assert!(ftp.validate(&tram().stops).unwrap_err().contains("http"));
    let young = PositionConfig {
        max_age_ms: 10,
        ..feed()
    };
    assert!(young
        .validate(&tram().stops)
        .unwrap_err()
        .contains("max_age_ms"));
}
