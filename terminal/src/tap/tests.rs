use super::*;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::fare::{FareBand, FareTable};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::Currency;

fn config(role: TapRole, station: &str, index: u32) -> TapConfig {
    TapConfig {
        role,
        currency: Currency::parse("CNY").unwrap(),
        line: "T1".into(),
        vehicle: "gate".into(),
        direction_from: "Airport".into(),
        direction_towards: "Harbour".into(),
        station: station.into(),
        station_index: index,
        fare_table: FareTable::Stations {
            bands: vec![
                FareBand {
                    up_to: 2,
                    fare_minor: 200,
                },
                FareBand {
                    up_to: 5,
                    fare_minor: 300,
                },
            ],
            maximum_minor: 500,
        },
        token_ttl_ms: 3_600_000,
        token_wait_ms: 1_000,
        request_ttl_ms: 60_000,
    }
}

struct Entry {
    operator: SigningKey,
    identity: TerminalIdentity,
}

fn entry_terminal() -> Entry {
    let operator = SigningKey::generate().unwrap();
    let key = SigningKey::generate().unwrap();
    let body = CertificateBody {
        version: 1,
        terminal_id: "term_entry".into(),
        merchant_id: "mer_1".into(),
        merchant_name: "Tram".into(),
        kind: TerminalKind::Gate,
        terminal_key: key.public_key(),
        not_before_ms: 0,
        not_after_ms: u64::MAX / 2,
        transit: Some(wayfare_protocol::certificate::TransitPlacement {
            line: "T1".into(),
            station: "Central".into(),
            station_index: 1,
            issues_tap_in: true,
        }),
    };
    let certificate = TerminalCertificate::issue(&operator, &body).unwrap();
    Entry {
        operator,
        identity: TerminalIdentity {
            key,
            certificate,
            body,
        },
    }
}

/// An operator-certified terminal of `merchant`, of `kind`, with an
/// optional placement, that signs tap-in tokens.
fn terminal_of(
    operator: &SigningKey,
    merchant: &str,
    kind: TerminalKind,
    placement: Option<(&str, &str, u32, bool)>,
) -> TerminalIdentity {
    let key = SigningKey::generate().unwrap();
    let body = CertificateBody {
        version: 1,
        terminal_id: "term_other".into(),
        merchant_id: merchant.into(),
        merchant_name: "Somebody".into(),
        kind,
        terminal_key: key.public_key(),
        not_before_ms: 0,
        not_after_ms: u64::MAX / 2,
        transit: placement.map(|(line, station, station_index, issues_tap_in)| {
            wayfare_protocol::certificate::TransitPlacement {
                line: line.into(),
                station: station.into(),
                station_index,
                issues_tap_in,
            }
        }),
    };
    let certificate = TerminalCertificate::issue(operator, &body).unwrap();
    TerminalIdentity {
        key,
        certificate,
        body,
    }
}

/// Issue 8.2: a token minted by a terminal that may not record this
/// entry buys nothing but the maximum fare.
#[test]
fn tokens_from_terminals_that_may_not_record_the_entry_pay_the_maximum() {
    let e = entry_terminal();
    let op = &e.operator;
    let out = config(TapRole::Exit, "Harbour", 4);
    let used = used();
    let cases = [
        (
            "a shop's POS",
            terminal_of(op, "mer_1", TerminalKind::Pos, None),
            "Central",
            1,
            "cannot record a transit entry",
        ),
        (
            "another merchant's gate",
            terminal_of(
                op,
                "mer_other",
                TerminalKind::Gate,
                Some(("T1", "Central", 1, true)),
            ),
            "Central",
            1,
            "another operator",
        ),
        (
            "a station other than the registered one",
            terminal_of(
                op,
                "mer_1",
                TerminalKind::Gate,
                Some(("T1", "Central", 1, true)),
            ),
            "Somewhere cheap",
            3,
            "registered at Central",
        ),
        (
            "an exit-only gate",
            terminal_of(
                op,
                "mer_1",
                TerminalKind::Gate,
                Some(("T1", "Central", 1, false)),
            ),
            "Central",
            1,
            "does not record entries",
        ),
    ];
    for (what, issuer, station, index, reason) in cases {
        let (token, _) = issue(&config(TapRole::Entry, station, index), &issuer, 1_000).unwrap();
        let check = check_token(Some(&token), &out, &op.public_key(), "mer_1", &used, 2_000);
        assert!(
            matches!(&check, TokenCheck::NotAnEntry(why) if why.contains(reason)),
            "{what}: {check:?}"
        );
        let (amount, mode, why) = charged(&plan(&out, check, 2_000).unwrap());
        assert_eq!((amount, mode), (500, FareMode::MaximumFare), "{what}");
        assert!(why.contains("not a valid entry"), "{what}: {why}");
    }
}

fn used() -> UsedTokens {
    let db = sled::Config::new().temporary(true).open().unwrap();
    UsedTokens::new(db.open_tree("t").unwrap(), 0)
}

fn charged(p: &Plan) -> (u64, FareMode, String) {
    match p {
        Plan::Exit { sale, fare, .. } => (sale.amount_minor, fare.mode, sale.description.clone()),
        Plan::Entry => panic!("expected an exit"),
    }
}

#[tokio::test]
async fn tap_in_then_out_is_priced_by_stations_and_used_once() {
    let e = entry_terminal();
    let at = config(TapRole::Entry, "Central", 1);
    let (token, body) = issue(&at, &e.identity, 1_000).unwrap();
    let used = used();
    for (exit_index, fare) in [(1, 200), (3, 200), (4, 300), (6, 300), (7, 500)] {
        let out = config(TapRole::Exit, "Somewhere", exit_index);
        let check = check_token(
            Some(&token),
            &out,
            &e.operator.public_key(),
            "mer_1",
            &used,
            2_000,
        );
        assert_eq!(check, TokenCheck::Valid(body.clone()));
        let plan = plan(&out, check, 2_000).unwrap();
        let (amount, mode, _) = charged(&plan);
        assert_eq!((amount, mode), (fare, FareMode::TapOut));
        if let Plan::Exit {
            fare,
            token: Some((id, _)),
            ..
        } = &plan
        {
            assert_eq!(fare.entry.as_ref().unwrap().station, "Central");
            assert_eq!(&fare.entry.as_ref().unwrap().token_id, id);
        }
    }
    used.remember(&body.token_id, body.expires_at_ms)
        .await
        .unwrap();
    let out = config(TapRole::Exit, "Harbour", 4);
    let check = check_token(
        Some(&token),
        &out,
        &e.operator.public_key(),
        "mer_1",
        &used,
        2_000,
    );
    assert_eq!(check, TokenCheck::Reused);
    let (amount, mode, why) = charged(&plan(&out, check, 2_000).unwrap());
    assert_eq!((amount, mode), (500, FareMode::MaximumFare));
    assert!(why.contains("already used"), "{why}");
}

#[test]
fn missing_forged_expired_and_foreign_tokens_pay_the_maximum_at_an_exit() {
    let e = entry_terminal();
    let out = config(TapRole::Exit, "Harbour", 4);
    let op = e.operator.public_key();
    let used = used();
    let (token, _) = issue(&config(TapRole::Entry, "Central", 1), &e.identity, 1_000).unwrap();

    let check = check_token(None, &out, &op, "mer_1", &used, 2_000);
    assert_eq!(check, TokenCheck::Missing);
    let (amount, mode, why) = charged(&plan(&out, check, 2_000).unwrap());
    assert_eq!((amount, mode), (500, FareMode::MaximumFare));
    assert!(why.contains("no tap-in token"));

    let impostor = entry_terminal();
    let check = check_token(
        Some(&token),
        &out,
        &impostor.operator.public_key(),
        "mer_1",
        &used,
        2_000,
    );
    assert!(matches!(check, TokenCheck::Forged(_)));
    assert!(charged(&plan(&out, check, 2_000).unwrap())
        .2
        .contains("not genuine"));

    let mut bytes = token.as_bytes().to_vec();
    let pos = bytes.windows(7).position(|w| w == b"Central").unwrap();
    bytes[pos] = b'K';
    let tampered = TapInToken::from_bytes(bytes);
    assert!(matches!(
        check_token(Some(&tampered), &out, &op, "mer_1", &used, 2_000),
        TokenCheck::Forged(_)
    ));

    let late = 1_000 + 3_600_000 + 1;
    let check = check_token(Some(&token), &out, &op, "mer_1", &used, late);
    assert!(matches!(check, TokenCheck::Expired(_)));
    let expired = check.clone();
    assert!(charged(&plan(&out, check, late).unwrap())
        .2
        .contains("expired"));

    let mut other = config(TapRole::Entry, "Zoo", 1);
    other.line = "T2".into();
    let (t2, _) = issue(&other, &e.identity, 1_000).unwrap();
    let check = check_token(Some(&t2), &out, &op, "mer_1", &used, 2_000);
    assert_eq!(check, TokenCheck::OtherLine("T2".into()));
    assert_eq!(charged(&plan(&out, check.clone(), 2_000).unwrap()).0, 500);
    // A two-way gate treats another line's token as a new entry.
    let both = config(TapRole::Both, "Harbour", 4);
    assert_eq!(plan(&both, check, 2_000).unwrap(), Plan::Entry);
    assert_eq!(
        plan(&both, TokenCheck::Missing, 2_000).unwrap(),
        Plan::Entry
    );
    assert_eq!(
        plan(&both, expired, 2_000).map(|p| charged(&p).0).unwrap(),
        500
    );
}

#[test]
fn durations_price_parking_style_exits() {
    let e = entry_terminal();
    let mut gate = config(TapRole::Both, "Car park", 0);
    gate.fare_table = FareTable::Duration {
        bands: vec![
            FareBand {
                up_to: 30,
                fare_minor: 100,
            },
            FareBand {
                up_to: 120,
                fare_minor: 400,
            },
        ],
        maximum_minor: 2_000,
    };
    let car_park = terminal_of(
        &e.operator,
        "mer_1",
        TerminalKind::Gate,
        Some(("T1", "Car park", 0, true)),
    );
    let (token, _) = issue(&gate, &car_park, 0).unwrap();
    let used = used();
    let at = 45 * 60_000;
    let check = check_token(
        Some(&token),
        &gate,
        &e.operator.public_key(),
        "mer_1",
        &used,
        at,
    );
    assert_eq!(charged(&plan(&gate, check, at).unwrap()).0, 400);
}
