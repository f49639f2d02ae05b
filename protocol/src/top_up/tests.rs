use super::*;
use crate::receipt::{Receipt, ReceiptBody};

const OPERATOR_NOW: u64 = 100_000;

struct Kiosk {
    operator: SigningKey,
    terminal: SigningKey,
    body: TopUpOfferBody,
}

fn kiosk_of_kind(kind: TerminalKind) -> Kiosk {
    let operator = SigningKey::generate().unwrap();
    let terminal = SigningKey::generate().unwrap();
    let certificate = TerminalCertificate::issue(
        &operator,
        &CertificateBody {
            version: 1,
            terminal_id: "term_kiosk".into(),
            merchant_id: "mer_station".into(),
            merchant_name: "Central Station kiosk".into(),
            kind,
            terminal_key: terminal.public_key(),
            not_before_ms: 0,
            not_after_ms: 10_000_000,
            transit: None,
        },
    )
    .unwrap();
    Kiosk {
        operator,
        terminal,
        body: TopUpOfferBody {
            version: 1,
            order_id: "top_ord_1".into(),
            terminal_id: "term_kiosk".into(),
            merchant_id: "mer_station".into(),
            amount_minor: 2_000,
            currency: Currency::parse("EUR").unwrap(),
            created_at_ms: 90_000,
            expires_at_ms: 90_000 + 120_000,
            certificate,
        },
    }
}

fn kiosk() -> Kiosk {
    kiosk_of_kind(TerminalKind::TopUp)
}

fn claim_body(offer: &TopUpOffer, body: &TopUpOfferBody) -> TopUpClaimBody {
    TopUpClaimBody {
        version: 1,
        account_id: "acc_rider".into(),
        device_id: "dev_1".into(),
        order_id: body.order_id.clone(),
        terminal_id: body.terminal_id.clone(),
        amount_minor: body.amount_minor,
        currency: body.currency.clone(),
        offer_digest: offer.digest(),
        signed_at_ms: OPERATOR_NOW,
    }
}

#[test]
fn an_offer_verifies_with_its_operator_and_names_its_terminal() {
    let k = kiosk();
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    let (body, cert) = offer
        .verify(&k.operator.public_key(), OPERATOR_NOW)
        .unwrap();
    assert_eq!(body, k.body);
    assert_eq!(cert.terminal_id, "term_kiosk");
    // The bytes survive base64 (how the server receives them).
    let again = TopUpOffer::from_base64(&offer.to_base64()).unwrap();
    assert_eq!(again, offer);
}

#[test]
fn a_tampered_offer_is_refused() {
    let k = kiosk();
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    let mut bytes = offer.as_bytes().to_vec();
    // The amount 2000 is encoded as 0x19 0x07 0xd0 in the CBOR payload.
    let at = bytes
        .windows(3)
        .position(|w| w == [0x19, 0x07, 0xd0])
        .expect("amount in payload");
    bytes[at + 1] = 0x4e; // 20 000
    let tampered = TopUpOffer::from_bytes(bytes);
    assert!(matches!(
        tampered.verify(&k.operator.public_key(), OPERATOR_NOW),
        Err(ProtocolError::BadSignature(_))
    ));
}

#[test]
fn an_offer_signed_by_another_key_or_certified_by_another_operator_is_refused() {
    let k = kiosk();
    let stranger = SigningKey::generate().unwrap();
    let forged = TopUpOffer::issue(&stranger, &k.body).unwrap();
    assert!(forged
        .verify(&k.operator.public_key(), OPERATOR_NOW)
        .is_err());
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    let other_operator = SigningKey::generate().unwrap();
    assert!(offer
        .verify(&other_operator.public_key(), OPERATOR_NOW)
        .is_err());
}

#[test]
fn only_a_top_up_terminal_may_offer_cash() {
    let k = kiosk_of_kind(TerminalKind::Pos);
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    let err = offer
        .verify(&k.operator.public_key(), OPERATOR_NOW)
        .unwrap_err();
    assert!(err.to_string().contains("cannot offer top-ups"), "{err}");
}

#[test]
fn an_offer_for_another_terminal_than_its_certificate_is_refused() {
    let mut k = kiosk();
    k.body.terminal_id = "term_other".into();
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    assert!(matches!(
        offer.verify(&k.operator.public_key(), OPERATOR_NOW),
        Err(ProtocolError::UnknownSigner(_))
    ));
}

#[test]
fn expired_zero_and_overlong_offers_are_refused() {
    let k = kiosk();
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    assert!(matches!(
        offer.verify(&k.operator.public_key(), k.body.expires_at_ms + 1),
        Err(ProtocolError::Expired { .. })
    ));
    // Still authentic after it closed (for answering a replay).
    assert!(offer
        .verify_authentic(&k.operator.public_key(), k.body.expires_at_ms + 1)
        .is_ok());

    let mut zero = k.body.clone();
    zero.amount_minor = 0;
    assert!(TopUpOffer::issue(&k.terminal, &zero).is_err());

    let mut long = k.body.clone();
    long.expires_at_ms = long.created_at_ms + MAX_OFFER_LIFETIME_MS + 1;
    let long = TopUpOffer::issue(&k.terminal, &long).unwrap();
    let err = long
        .verify(&k.operator.public_key(), OPERATOR_NOW)
        .unwrap_err();
    assert!(err.to_string().contains("10 minutes"), "{err}");
}

#[test]
fn truncated_and_oversized_offers_do_not_parse() {
    let k = kiosk();
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    let bytes = offer.as_bytes();
    let truncated = TopUpOffer::from_bytes(bytes[..bytes.len() / 2].to_vec());
    assert!(matches!(
        truncated.verify(&k.operator.public_key(), OPERATOR_NOW),
        Err(ProtocolError::Malformed(_))
    ));
    let mut padded = bytes.to_vec();
    padded.extend_from_slice(&[0u8; 4096]);
    assert!(TopUpOffer::from_bytes(padded)
        .verify(&k.operator.public_key(), OPERATOR_NOW)
        .is_err());
}

#[test]
fn a_claim_binds_the_device_to_exactly_one_offer() {
    let k = kiosk();
    let offer = TopUpOffer::issue(&k.terminal, &k.body).unwrap();
    let device = SigningKey::generate().unwrap();
    let claim = TopUpClaim::sign(&device, &claim_body(&offer, &k.body)).unwrap();
    let body = claim.verify(&device.public_key(), &offer, &k.body).unwrap();
    assert_eq!(body.account_id, "acc_rider");
    assert_eq!(claim.peek().unwrap(), body);

    // Another device's key.
    let thief = SigningKey::generate().unwrap();
    assert!(matches!(
        claim.verify(&thief.public_key(), &offer, &k.body),
        Err(ProtocolError::BadSignature(_))
    ));

    // The same claim presented with another offer (same order, more cash).
    let mut bigger = k.body.clone();
    bigger.amount_minor = 50_000;
    let bigger_offer = TopUpOffer::issue(&k.terminal, &bigger).unwrap();
    let err = claim
        .verify(&device.public_key(), &bigger_offer, &bigger)
        .unwrap_err();
    assert!(err.to_string().contains("offer_digest"), "{err}");

    // A claim that names another amount than the offer it is bound to.
    let mut wrong = claim_body(&offer, &k.body);
    wrong.amount_minor = 1;
    let wrong = TopUpClaim::sign(&device, &wrong).unwrap();
    let err = wrong
        .verify(&device.public_key(), &offer, &k.body)
        .unwrap_err();
    assert!(err.to_string().contains("amount_minor"), "{err}");
}

fn receipt_body(offer: &TopUpOfferBody) -> TopUpReceiptBody {
    TopUpReceiptBody {
        version: 1,
        top_up_id: "top_1".into(),
        order_id: offer.order_id.clone(),
        terminal_id: offer.terminal_id.clone(),
        merchant_id: offer.merchant_id.clone(),
        payer: "pn_abc".into(),
        amount_minor: offer.amount_minor,
        currency: offer.currency.clone(),
        completed_at_ms: OPERATOR_NOW,
    }
}

#[test]
fn a_receipt_verifies_with_the_server_key_and_matches_its_offer_only() {
    let k = kiosk();
    let server = SigningKey::generate().unwrap();
    let body = receipt_body(&k.body);
    let receipt = TopUpReceipt::issue(&server, &body).unwrap();
    let got = receipt.verify(&server.public_key()).unwrap();
    got.matches(&k.body).unwrap();

    assert!(receipt.verify(&k.terminal.public_key()).is_err());

    let mut other = k.body.clone();
    other.order_id = "top_ord_2".into();
    assert!(got.matches(&other).is_err());
    let mut more = k.body.clone();
    more.amount_minor += 1;
    assert!(got.matches(&more).is_err());
}

#[test]
fn a_payment_receipt_is_not_a_top_up_receipt() {
    let server = SigningKey::generate().unwrap();
    let payment = Receipt::issue(
        &server,
        &ReceiptBody {
            version: 1,
            payment_id: "pay_1".into(),
            order_id: "top_ord_1".into(),
            payer: "pn_abc".into(),
            merchant_id: "mer_station".into(),
            terminal_id: "term_kiosk".into(),
            amount_minor: 2_000,
            currency: Currency::parse("EUR").unwrap(),
            completed_at_ms: 1,
            fare: None,
            points_spent: 0,
            points_value_minor: 0,
        },
    )
    .unwrap();
    let disguised = TopUpReceipt::from_bytes(payment.as_bytes().to_vec());
    assert!(matches!(
        disguised.verify(&server.public_key()),
        Err(ProtocolError::BadSignature(_))
    ));
}
