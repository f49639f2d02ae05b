use super::*;

const NOW: u64 = 1_800_000_000_000;

struct Scene {
    server: SigningKey,
    tap_key: SigningKey,
    allowance: Allowance,
    body: AllowanceBody,
}

fn scene() -> Scene {
    let server = SigningKey::generate().unwrap();
    let tap_key = SigningKey::generate().unwrap();
    let body = AllowanceBody {
        version: EXPRESS_VERSION,
        allowance_id: "alw_0123456789abcdef01234567".into(),
        tap_key: tap_key.public_key(),
        per_tap_max_minor: 1_000,
        total_max_minor: 5_000,
        currency: "CNY".into(),
        sequence: 7,
        issued_at_ms: NOW - 1_000,
        expires_at_ms: NOW + 86_400_000,
    };
    let allowance = Allowance::issue(&server, &body).unwrap();
    Scene {
        server,
        tap_key,
        allowance,
        body,
    }
}

fn offer(amount: u64) -> ExpressOffer {
    ExpressOffer {
        terminal_id: "trm_0123456789abcdef01234567".into(),
        merchant_name: "City Metro".into(),
        line: "T1".into(),
        station: "Harbour".into(),
        amount_minor: amount,
        currency: "CNY".into(),
        challenge: vec![7; CHALLENGE_LEN],
        at_ms: NOW,
    }
}

fn tap_for(s: &Scene, o: &ExpressOffer, counter: u32, spent: u64) -> ExpressTap {
    ExpressTap::sign(
        &s.tap_key,
        &ExpressTapBody {
            allowance_id: s.body.allowance_id.clone(),
            counter,
            terminal_id: o.terminal_id.clone(),
            amount_minor: o.amount_minor,
            challenge: o.challenge.clone(),
            spent_before_minor: spent,
        },
    )
    .unwrap()
}

#[test]
fn the_whole_exchange_fits_two_short_apdus() {
    let s = scene();
    let mut o = offer(250);
    o.station = "S".repeat(MAX_PLACE_LEN);
    o.line = "L".repeat(MAX_PLACE_LEN);
    o.merchant_name = "Metropolitan Transit Authority".into();
    let offer_bytes = o.encode().unwrap();
    let tap = tap_for(&s, &o, 1, 0);
    assert!(
        s.allowance.as_bytes().len() <= MAX_CARD_ANSWER_LEN,
        "{}",
        s.allowance.as_bytes().len()
    );
    assert!(
        tap.as_bytes().len() <= MAX_CARD_ANSWER_LEN,
        "{}",
        tap.as_bytes().len()
    );
    assert!(offer_bytes.len() <= MAX_OFFER_LEN);
    let total = s.allowance.as_bytes().len() + offer_bytes.len() + tap.as_bytes().len();
    assert!(total < 1024, "{total} bytes");
}

#[test]
fn a_genuine_tap_verifies_offline() {
    let s = scene();
    let body = s.allowance.verify(&s.server.public_key(), NOW).unwrap();
    assert_eq!(body, s.body);
    let o = offer(250);
    let tap = tap_for(&s, &o, 3, 500);
    let t = tap.verify_for_offer(&body, &o).unwrap();
    assert_eq!((t.counter, t.spent_before_minor), (3, 500));
    assert_eq!(ExpressOffer::decode(&o.encode().unwrap()).unwrap(), o);
}

#[test]
fn a_tampered_or_foreign_allowance_is_refused() {
    let s = scene();
    let mut bytes = s.allowance.as_bytes().to_vec();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    assert!(Allowance::from_bytes(bytes)
        .verify(&s.server.public_key(), NOW)
        .is_err());
    let other = SigningKey::generate().unwrap();
    assert!(matches!(
        s.allowance.verify(&other.public_key(), NOW),
        Err(ProtocolError::BadSignature(_))
    ));
    // Truncated.
    let cut = s.allowance.as_bytes()[..40].to_vec();
    assert!(Allowance::from_bytes(cut)
        .verify(&s.server.public_key(), NOW)
        .is_err());
    // A deny list is not an allowance, even from the same key.
    let deny = DenyList::issue(
        &s.server,
        &DenyListBody {
            version: 1,
            issued_at_ms: NOW,
            allowance_ids: vec![],
        },
    )
    .unwrap();
    assert!(Allowance::from_bytes(deny.as_bytes().to_vec())
        .verify(&s.server.public_key(), NOW)
        .is_err());
}

#[test]
fn an_expired_or_early_allowance_is_refused() {
    let s = scene();
    let key = s.server.public_key();
    assert!(matches!(
        s.allowance.verify(&key, s.body.expires_at_ms + 1),
        Err(ProtocolError::Expired { .. })
    ));
    assert!(matches!(
        s.allowance.verify(&key, s.body.issued_at_ms - 1),
        Err(ProtocolError::NotYetValid { .. })
    ));
    // The server still settles taps made in time.
    assert!(s.allowance.verify_signature(&key).is_ok());
}

#[test]
fn impossible_caps_are_not_issued() {
    let s = scene();
    let mut body = s.body.clone();
    body.per_tap_max_minor = body.total_max_minor + 1;
    assert!(Allowance::issue(&s.server, &body).is_err());
    body.per_tap_max_minor = 0;
    assert!(Allowance::issue(&s.server, &body).is_err());
}

#[test]
fn taps_that_do_not_answer_the_offer_or_break_the_caps_are_refused() {
    let s = scene();
    let body = s.body.clone();
    let o = offer(250);
    // Another key.
    let stranger = SigningKey::generate().unwrap();
    let forged = ExpressTap::sign(&stranger, &tap_for(&s, &o, 1, 0).peek().unwrap()).unwrap();
    assert!(forged.verify_for_offer(&body, &o).is_err());
    // Replayed at another terminal, or to another challenge.
    let tap = tap_for(&s, &o, 1, 0);
    let mut elsewhere = o.clone();
    elsewhere.terminal_id = "trm_other".into();
    assert!(tap.verify_for_offer(&body, &elsewhere).is_err());
    let mut fresh = o.clone();
    fresh.challenge = vec![8; CHALLENGE_LEN];
    assert!(tap.verify_for_offer(&body, &fresh).is_err());
    // Another amount than offered.
    assert!(tap.verify_for_offer(&body, &offer(300)).is_err());
    // Above the per-tap cap, above the total, counter zero.
    let big = offer(1_001);
    assert!(tap_for(&s, &big, 1, 0)
        .verify_for_offer(&body, &big)
        .is_err());
    assert!(tap_for(&s, &o, 2, 4_900)
        .verify_for_offer(&body, &o)
        .is_err());
    assert!(tap_for(&s, &o, 0, 0).verify_for_offer(&body, &o).is_err());
    assert!(tap_for(&s, &o, 1, u64::MAX).verify(&body).is_err());
    // Tampered.
    let mut bytes = tap.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    assert!(ExpressTap::from_bytes(bytes)
        .verify_for_offer(&body, &o)
        .is_err());
}

#[test]
fn bad_offers_are_refused_with_a_typed_error() {
    let mut o = offer(250);
    o.challenge = vec![1; 3];
    assert!(o.encode().is_err());
    let mut o = offer(250);
    o.station = "x".repeat(MAX_PLACE_LEN + 1);
    assert!(o.encode().is_err());
    assert!(offer(0).encode().is_err());
    assert!(ExpressOffer::decode(&[0xA1]).is_err());
    assert!(ExpressOffer::decode(&vec![0u8; MAX_OFFER_LEN + 1]).is_err());
}

#[test]
fn deny_lists_verify_with_the_server_key_only() {
    let s = scene();
    let body = DenyListBody {
        version: 4,
        issued_at_ms: NOW,
        allowance_ids: vec!["alw_1".into(), "alw_2".into()],
    };
    let list = DenyList::issue(&s.server, &body).unwrap();
    assert_eq!(list.verify(&s.server.public_key()).unwrap(), body);
    assert!(list.verify(&s.tap_key.public_key()).is_err());
    let mut bytes = list.as_bytes().to_vec();
    let i = bytes.len() - 70;
    bytes[i] ^= 1;
    assert!(DenyList::from_bytes(bytes)
        .verify(&s.server.public_key())
        .is_err());
}
