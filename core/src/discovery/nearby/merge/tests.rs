use super::*;

fn advert(id: &str, name: &str) -> Advert {
    Advert {
        terminal_id: id.into(),
        merchant_name: name.into(),
        kind: TerminalKind::Gate,
    }
}

fn lan(via: Lan, id: &str, name: &str, host: &str) -> Sighting {
    Sighting::LanFound {
        via,
        service: format!("{id}-service"),
        advert: advert(id, name),
        host: host.into(),
        port: 4000,
    }
}

fn ble(id: &str, name: &str, rssi: i16) -> Sighting {
    Sighting::Ble {
        advert: advert(id, name),
        ble_id: format!("{id}-peripheral"),
        rssi: Some(rssi),
    }
}

fn tap(id: &str, name: &str) -> Sighting {
    Sighting::Tap {
        advert: advert(id, name),
    }
}

fn ids(board: &mut Board, now: Stamp) -> Vec<String> {
    board.expire(now.at);
    board
        .list(now.at)
        .into_iter()
        .map(|t| t.terminal_id)
        .collect()
}

const S: Duration = Duration::from_secs(1);

#[test]
fn the_same_terminal_from_every_source_is_one_entry() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(lan(Lan::Mdns, "t1", "Gate A", "10.0.0.5"), t0);
    board.apply(lan(Lan::Platform, "t1", "Gate A", "10.0.0.5"), t0);
    board.apply(ble("t1", "Gate A", -60), t0.plus(S));
    board.apply(tap("t1", "Gate A (verified)"), t0.plus(2 * S));

    let list = board.list(t0.plus(2 * S).at);
    assert_eq!(list.len(), 1);
    let t = &list[0];
    assert_eq!(t.terminal_id, "t1");
    assert_eq!(t.merchant_name, "Gate A (verified)", "the tap's name wins");
    assert_eq!(
        t.sources,
        vec![
            NearbySource::Nfc,
            NearbySource::Ble,
            NearbySource::Mdns,
            NearbySource::Platform
        ]
    );
    assert_eq!(t.host.as_deref(), Some("10.0.0.5"));
    assert_eq!(t.port, Some(4000));
    assert_eq!(t.ble_id.as_deref(), Some("t1-peripheral"));
    assert_eq!(t.rssi, Some(-60));
    assert_eq!(t.tapped_at_ms, Some(t0.plus(2 * S).wall_ms));
    assert_eq!(t.last_seen_at_ms, t0.plus(2 * S).wall_ms);
    // Connect over the LAN, with the Bluetooth details alongside.
    let connect = t.connect.clone().unwrap();
    assert_eq!(connect.source, DiscoverySource::Lan);
    assert_eq!((connect.host.as_str(), connect.port), ("10.0.0.5", 4000));
    assert_eq!(connect.ble_id.as_deref(), Some("t1-peripheral"));
}

#[test]
fn a_terminal_heard_only_over_ble_connects_over_ble() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(ble("t1", "Gate A", -70), t0);
    let connect = board.list(t0.at)[0].connect.clone().unwrap();
    assert_eq!(connect.source, DiscoverySource::Ble);
    assert_eq!(connect.ble_id.as_deref(), Some("t1-peripheral"));
    assert_eq!(connect.rssi, Some(-70));
}

#[test]
fn a_terminal_known_only_from_a_tap_has_no_way_to_connect() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(tap("t1", "Kiosk"), t0);
    let list = board.list(t0.at);
    assert_eq!(list[0].sources, vec![NearbySource::Nfc]);
    assert_eq!(list[0].connect, None);
}

#[test]
fn nearest_first_tap_then_rssi_then_name() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(lan(Lan::Mdns, "lan-b", "Bakery", "10.0.0.2"), t0);
    board.apply(lan(Lan::Platform, "lan-a", "Apothecary", "10.0.0.1"), t0);
    board.apply(ble("weak", "Zoo", -85), t0);
    board.apply(ble("strong", "Yard", -50), t0);
    board.apply(lan(Lan::Mdns, "tapped", "Tram", "10.0.0.3"), t0);
    board.apply(tap("tapped", "Tram"), t0);
    assert_eq!(
        ids(&mut board, t0),
        ["tapped", "strong", "weak", "lan-a", "lan-b"]
    );
}

#[test]
fn the_latest_tap_goes_first() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(tap("first", "A"), t0);
    board.apply(tap("second", "B"), t0.plus(S));
    assert_eq!(ids(&mut board, t0.plus(S)), ["second", "first"]);
}

#[test]
fn rssi_readings_reorder_through_a_moving_average() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(ble("a", "A", -50), t0);
    board.apply(ble("b", "B", -70), t0);
    assert_eq!(ids(&mut board, t0), ["a", "b"]);

    // One strong reading for b is not enough to overtake a…
    board.apply(ble("b", "B", -40), t0.plus(S));
    let list = board.list(t0.plus(S).at);
    assert_eq!(list[1].terminal_id, "b");
    assert_eq!(list[1].rssi, Some(-61), "-70 + 0.3 × (-40 - -70)");
    // …a few are, and a fading a drops behind.
    for i in 2..6 {
        board.apply(ble("b", "B", -40), t0.plus(i * S));
        board.apply(ble("a", "A", -80), t0.plus(i * S));
    }
    assert_eq!(ids(&mut board, t0.plus(6 * S)), ["b", "a"]);
}

#[test]
fn a_ble_sighting_without_a_reading_keeps_the_last_one() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(ble("a", "A", -55), t0);
    board.apply(
        Sighting::Ble {
            advert: advert("a", "A"),
            ble_id: "a-peripheral".into(),
            rssi: None,
        },
        t0.plus(S),
    );
    assert_eq!(board.list(t0.plus(S).at)[0].rssi, Some(-55));
}

#[test]
fn terminals_heard_without_a_reading_come_after_those_with_one() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(
        Sighting::Ble {
            advert: advert("quiet", "A"),
            ble_id: "q".into(),
            rssi: None,
        },
        t0,
    );
    board.apply(ble("loud", "Z", -90), t0);
    board.apply(lan(Lan::Mdns, "lan", "A", "10.0.0.1"), t0);
    assert_eq!(ids(&mut board, t0), ["loud", "quiet", "lan"]);
}

#[test]
fn a_stale_ble_sighting_expires_and_leaves_the_lan_part() {
    let t0 = Stamp::now();
    let rules = Rules::default();
    let mut board = Board::new(rules);
    board.apply(ble("gone", "Gone", -40), t0);
    board.apply(ble("both", "Both", -60), t0);
    board.apply(lan(Lan::Mdns, "both", "Both", "10.0.0.9"), t0);
    assert_eq!(board.next_deadline(), Some(t0.at + rules.ble_stale));

    let just_before = t0.plus(rules.ble_stale - Duration::from_millis(1));
    assert_eq!(ids(&mut board, just_before), ["gone", "both"]);

    let after = t0.plus(rules.ble_stale);
    let list = {
        board.expire(after.at);
        board.list(after.at)
    };
    assert_eq!(list.len(), 1, "the BLE-only terminal is gone");
    let both = &list[0];
    assert_eq!(both.terminal_id, "both");
    assert_eq!(both.sources, vec![NearbySource::Mdns]);
    assert_eq!((both.rssi, both.ble_id.as_deref()), (None, None));
    assert_eq!(
        both.connect.as_ref().map(|c| c.ble_id.clone()),
        Some(None),
        "no stale peripheral to connect to"
    );
    assert_eq!(board.next_deadline(), None);
}

#[test]
fn a_tap_goes_first_only_while_recent() {
    let t0 = Stamp::now();
    let rules = Rules::default();
    let mut board = Board::new(rules);
    board.apply(lan(Lan::Mdns, "tapped", "Zeta", "10.0.0.1"), t0);
    board.apply(lan(Lan::Mdns, "other", "Alpha", "10.0.0.2"), t0);
    board.apply(ble("near", "Near", -45), t0);
    board.apply(tap("tapped", "Zeta"), t0);
    assert_eq!(ids(&mut board, t0), ["tapped", "near", "other"]);
    assert_eq!(board.next_deadline(), Some(t0.at + rules.ble_stale));

    // Keep the BLE one fresh; the tap ages out.
    let later = t0.plus(rules.tap_recent);
    board.apply(ble("near", "Near", -45), later);
    assert_eq!(ids(&mut board, later), ["near", "other", "tapped"]);
    let tapped = board
        .list(later.at)
        .into_iter()
        .find(|t| t.terminal_id == "tapped")
        .unwrap();
    assert_eq!(tapped.sources, vec![NearbySource::Mdns]);
    assert_eq!(
        tapped.tapped_at_ms,
        Some(t0.wall_ms),
        "when it was tapped stays known"
    );
}

#[test]
fn a_tap_alone_holds_its_entry_for_the_recent_window() {
    let t0 = Stamp::now();
    let rules = Rules::default();
    let mut board = Board::new(rules);
    board.apply(tap("t", "T"), t0);
    assert_eq!(board.next_deadline(), Some(t0.at + rules.tap_recent));
    assert_eq!(
        ids(
            &mut board,
            t0.plus(rules.tap_recent - Duration::from_millis(1))
        ),
        ["t"]
    );
    assert!(ids(&mut board, t0.plus(rules.tap_recent)).is_empty());
}

#[test]
fn losing_the_platform_service_removes_only_its_part() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(lan(Lan::Mdns, "t1", "Gate", "10.0.0.1"), t0);
    board.apply(lan(Lan::Platform, "t1", "Gate", "10.0.0.1"), t0);
    board.apply(lan(Lan::Platform, "t2", "Kiosk", "10.0.0.2"), t0);
    board.apply(
        Sighting::LanLost {
            via: Lan::Platform,
            service: "t1-service".into(),
        },
        t0.plus(S),
    );
    board.apply(
        Sighting::LanLost {
            via: Lan::Platform,
            service: "t2-service".into(),
        },
        t0.plus(S),
    );
    let list = {
        board.expire(t0.plus(S).at);
        board.list(t0.plus(S).at)
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].terminal_id, "t1");
    assert_eq!(list[0].sources, vec![NearbySource::Mdns]);

    board.apply(
        Sighting::LanLost {
            via: Lan::Mdns,
            service: "t1-service".into(),
        },
        t0.plus(2 * S),
    );
    assert!(ids(&mut board, t0.plus(2 * S)).is_empty());
}

#[test]
fn a_service_name_that_now_carries_another_terminal_moves() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(lan(Lan::Platform, "old", "Old", "10.0.0.1"), t0);
    board.apply(
        Sighting::LanFound {
            via: Lan::Platform,
            service: "old-service".into(),
            advert: advert("new", "New"),
            host: "10.0.0.1".into(),
            port: 4000,
        },
        t0.plus(S),
    );
    assert_eq!(ids(&mut board, t0.plus(S)), ["new"]);
}

#[test]
fn the_newest_lan_address_is_the_one_to_connect_to() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(lan(Lan::Mdns, "t", "T", "10.0.0.1"), t0);
    board.apply(lan(Lan::Platform, "t", "T", "192.168.1.7"), t0.plus(S));
    let t = &board.list(t0.plus(S).at)[0];
    assert_eq!(t.host.as_deref(), Some("192.168.1.7"));
    assert_eq!(
        t.merchant_name, "T",
        "the core browser's name over the platform's"
    );
}

#[test]
fn reports_without_a_terminal_id_are_ignored() {
    let t0 = Stamp::now();
    let mut board = Board::default();
    board.apply(lan(Lan::Mdns, "", "Nameless", "10.0.0.1"), t0);
    board.apply(ble("", "Nameless", -40), t0);
    board.apply(tap("", "Nameless"), t0);
    assert!(ids(&mut board, t0).is_empty());
}
