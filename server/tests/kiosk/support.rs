//! Helpers of the kiosk top-up tests: top_up terminals with their keys
//! and certificates, offers, claims and the endpoints' calls.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::money::Currency;
use wayfare_protocol::top_up::{TopUpClaim, TopUpClaimBody, TopUpOffer, TopUpOfferBody};

use crate::common::{now_ms, Merchant, Phone, TestServer};

/// A registered terminal of any kind, with its key and certificate.
pub struct Kiosk {
    pub terminal_id: String,
    pub merchant_id: String,
    pub certificate: TerminalCertificate,
    pub key: SigningKey,
}

pub async fn kiosk_of_kind(s: &TestServer, merchant: &Merchant, kind: &str) -> Kiosk {
    let t = s
        .register_terminal(merchant, json!({"kind": kind, "label": "counter 1"}))
        .await;
    Kiosk {
        terminal_id: t.terminal_id,
        merchant_id: t.merchant_id,
        certificate: TerminalCertificate::from_base64(&t.certificate).unwrap(),
        key: t.key,
    }
}

pub async fn kiosk(s: &TestServer, merchant: &Merchant) -> Kiosk {
    kiosk_of_kind(s, merchant, "top_up").await
}

impl Kiosk {
    pub fn offer_body(&self, order_id: &str, amount: u64) -> TopUpOfferBody {
        TopUpOfferBody {
            version: 1,
            order_id: order_id.into(),
            terminal_id: self.terminal_id.clone(),
            merchant_id: self.merchant_id.clone(),
            amount_minor: amount,
            currency: Currency::parse("CNY").unwrap(),
            created_at_ms: now_ms() - 1_000,
            expires_at_ms: now_ms() + 120_000,
            certificate: self.certificate.clone(),
        }
    }

    pub fn offer(&self, order_id: &str, amount: u64) -> TopUpOffer {
        sign_offer(&self.key, self.offer_body(order_id, amount))
    }
}

/// Signs an offer and remembers its body (see `offered`).
pub fn sign_offer(key: &SigningKey, body: TopUpOfferBody) -> TopUpOffer {
    let offer = TopUpOffer::issue(key, &body).unwrap();
    OFFERS.with(|o| o.borrow_mut().push((offer.as_bytes().to_vec(), body)));
    offer
}

pub fn claim_body(phone: &Phone, offer: &TopUpOffer) -> TopUpClaimBody {
    let offered = offered(offer);
    TopUpClaimBody {
        version: 1,
        account_id: phone.account_id.clone(),
        device_id: phone.device_id.clone(),
        order_id: offered.order_id,
        terminal_id: offered.terminal_id,
        amount_minor: offered.amount_minor,
        currency: offered.currency,
        offer_digest: offer.digest(),
        signed_at_ms: now_ms(),
    }
}

/// The body of an offer this test built (see `sign_offer`).
pub fn offered(offer: &TopUpOffer) -> TopUpOfferBody {
    OFFERS.with(|o| {
        o.borrow()
            .iter()
            .find(|(bytes, _)| bytes == offer.as_bytes())
            .map(|(_, body)| body.clone())
            .expect("an offer built by this test")
    })
}

thread_local! {
    /// Every offer built by `Kiosk::offer` with its body, so a claim can be
    /// made without re-parsing COSE.
    static OFFERS: std::cell::RefCell<Vec<(Vec<u8>, TopUpOfferBody)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub fn claim(phone: &Phone, offer: &TopUpOffer) -> TopUpClaim {
    TopUpClaim::sign(&phone.key, &claim_body(phone, offer)).unwrap()
}

pub async fn send(s: &TestServer, phone: &Phone, offer: &str, claim: &str) -> (StatusCode, Value) {
    let body = json!({"offer": offer, "claim": claim}).to_string();
    send_raw(s, phone, body.as_bytes()).await
}

pub async fn send_raw(s: &TestServer, phone: &Phone, body: &[u8]) -> (StatusCode, Value) {
    s.api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::POST,
            "/v1/top-ups/kiosk",
            body,
            &[],
        )
        .await
}

pub async fn top_up(s: &TestServer, phone: &Phone, offer: &TopUpOffer) -> (StatusCode, Value) {
    send(
        s,
        phone,
        &offer.to_base64(),
        &claim(phone, offer).to_base64(),
    )
    .await
}

pub async fn confirm(s: &TestServer, kiosk: &Kiosk, body: Value) -> (StatusCode, Value) {
    let (path, body) = ("/v1/platform/top-up-confirmations", body.to_string());
    let (key, id) = (&kiosk.key, &kiosk.terminal_id);
    s.api()
        .send(key, id, Method::POST, path, body.as_bytes(), &[])
        .await
}

pub fn float_of(kiosk: &Kiosk) -> String {
    format!("acc_float_{}", kiosk.terminal_id)
}

pub async fn float_balance(s: &TestServer, kiosk: &Kiosk) -> i64 {
    let (status, body) = s
        .admin(
            Method::GET,
            &format!("/v1/accounts/{}", float_of(kiosk)),
            None,
        )
        .await;
    if status == StatusCode::NOT_FOUND {
        return 0;
    }
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "cash_float");
    body["balance_minor"].as_i64().unwrap()
}

pub async fn receipt_key(s: &TestServer) -> PublicKey {
    let (status, keys) = s.admin(Method::GET, "/v1/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    PublicKey::from_base64(keys["receipt_key"].as_str().unwrap()).unwrap()
}

pub fn operator_key(s: &TestServer) -> SigningKey {
    SigningKey::from_seed(&std::fs::read(s.dir.path().join("operator-key")).unwrap()).unwrap()
}

pub async fn assert_ledger_balanced(s: &TestServer) {
    let check = s.ledger_check().await;
    assert_eq!(check["sum_minor"], 0, "{check}");
    assert_eq!(check["balance_mismatches"], 0, "{check}");
}

impl Kiosk {
    /// This kiosk's certificate body, for the operator to re-sign altered.
    pub fn certificate_body(&self, operator: &SigningKey) -> CertificateBody {
        self.certificate
            .verify(&operator.public_key(), now_ms())
            .unwrap()
    }
}
