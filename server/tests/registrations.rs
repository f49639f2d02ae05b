//! Per-merchant pseudonyms and platform registrations with the rider's
//! consent (P2, P3.5): the pseudonym endpoint, receipts, registration,
//! listing, revocation, and every refusal of a bad consent. Every test runs
//! on SQLite, and on PostgreSQL too when WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{database_urls, now_ms, Phone, Terminal, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::consent::{
    is_pseudonym, ConsentBody, RegistrationConsent, CONSENT_TTL_MS, MAX_CONSENT_BYTES,
};
use wayfare_protocol::ids::{b64_encode, new_id};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::receipt::Receipt;
use wayfare_protocol::request_auth::MAX_CLOCK_SKEW_MS;

async fn pseudonym(s: &TestServer, phone: &Phone, merchant_id: &str) -> (StatusCode, Value) {
    s.api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::GET,
            &format!("/v1/wallet/pseudonyms/{merchant_id}"),
            b"",
            &[],
        )
        .await
}

async fn pseudonym_of(s: &TestServer, phone: &Phone, merchant_id: &str) -> String {
    let (status, body) = pseudonym(s, phone, merchant_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["pseudonym"].as_str().unwrap().to_string()
}

fn consent_body(phone: &Phone, terminal: &Terminal, pseudonym: &str) -> ConsentBody {
    ConsentBody {
        version: 1,
        consent_id: new_id("con").unwrap(),
        pseudonym: pseudonym.to_string(),
        merchant_id: terminal.merchant_id.clone(),
        terminal_id: terminal.terminal_id.clone(),
        device_id: phone.device_id.clone(),
        issued_at_ms: now_ms(),
    }
}

fn sign(phone: &Phone, body: &ConsentBody) -> String {
    RegistrationConsent::sign(&phone.key, body)
        .unwrap()
        .to_base64()
}

async fn register(s: &TestServer, terminal: &Terminal, consent: &str) -> (StatusCode, Value) {
    let body = json!({ "consent": consent }).to_string();
    s.terminal_post(terminal, "/v1/platform/registrations", &body)
        .await
}

async fn list(s: &TestServer, phone: &Phone) -> Vec<Value> {
    let (status, body) = s
        .device(phone, Method::GET, "/v1/wallet/registrations", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["registrations"].as_array().unwrap().clone()
}

async fn revoke(s: &TestServer, phone: &Phone, id: &str) -> (StatusCode, Value) {
    s.api()
        .send(
            &phone.key,
            &phone.device_id,
            Method::POST,
            &format!("/v1/wallet/registrations/{id}/revoke"),
            b"",
            &[],
        )
        .await
}

#[tokio::test]
async fn pseudonyms_are_per_merchant_and_name_the_payer_on_receipts() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let cafe = s.merchant("CNY").await;
        let bakery = s.merchant("CNY").await;
        let till = s.terminal(&cafe).await;
        let ada = s.phone("CNY").await;
        let bo = s.phone_numbered("CNY", "+8613800138001").await;

        let ada_cafe = pseudonym_of(&s, &ada, &cafe.merchant_id).await;
        assert!(is_pseudonym(&ada_cafe), "{ada_cafe}");
        assert_eq!(ada_cafe, pseudonym_of(&s, &ada, &cafe.merchant_id).await);
        assert_ne!(ada_cafe, pseudonym_of(&s, &ada, &bakery.merchant_id).await);
        assert_ne!(ada_cafe, pseudonym_of(&s, &bo, &cafe.merchant_id).await);
        assert_ne!(ada_cafe, ada.handle);

        let (status, body) = pseudonym(&s, &ada, "mer_nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "unknown_merchant");

        s.top_up(&ada.account_id, 1_000, "CNY").await;
        let (instruction, idem) = ada.instruction(&till, "ord-1", 250);
        let (status, body) = s.pay(&ada, &instruction, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let receipt = Receipt::from_base64(body["receipt"].as_str().unwrap()).unwrap();
        let r = receipt.verify(&s.server.receipt_key()).unwrap();
        assert_eq!(r.payer, ada_cafe);
    }
}

#[tokio::test]
async fn a_consent_registers_once_is_listed_and_revoked() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let cafe = s.merchant("CNY").await;
        let till = s.terminal(&cafe).await;
        let till2 = s.terminal(&cafe).await;
        let ada = s.phone("CNY").await;
        let pn = pseudonym_of(&s, &ada, &cafe.merchant_id).await;
        assert!(list(&s, &ada).await.is_empty());

        let first = sign(&ada, &consent_body(&ada, &till, &pn));
        let (status, made) = register(&s, &till, &first).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        assert_eq!(made["pseudonym"], pn.as_str());
        assert_eq!(made["terminal_id"], till.terminal_id.as_str());
        assert_eq!(made["merchant_id"], cafe.merchant_id.as_str());
        let id = made["registration_id"].as_str().unwrap().to_string();

        // The terminal retries: the same registration.
        let (status, again) = register(&s, &till, &first).await;
        assert_eq!(
            (status, &again["registration_id"]),
            (StatusCode::OK, &made["registration_id"])
        );
        // Another visit, another till of the same merchant: still one.
        let other = sign(&ada, &consent_body(&ada, &till2, &pn));
        let (status, again) = register(&s, &till2, &other).await;
        assert_eq!(
            (status, &again["registration_id"]),
            (StatusCode::OK, &made["registration_id"])
        );

        let listed = list(&s, &ada).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["registration_id"], id.as_str());
        assert!(listed[0].get("revoked_at_ms").is_none());

        // Somebody else cannot see or revoke it.
        let bo = s.phone_numbered("CNY", "+8613800138001").await;
        assert!(list(&s, &bo).await.is_empty());
        let (status, body) = revoke(&s, &bo, &id).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        let (status, revoked) = revoke(&s, &ada, &id).await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
        assert!(revoked["revoked_at_ms"].as_u64().is_some());
        assert!(list(&s, &ada).await.is_empty());
        let (status, _) = revoke(&s, &ada, &id).await;
        assert_eq!(status, StatusCode::OK, "revoking again is harmless");

        // Neither consent that made it can register the rider again.
        for (terminal, used) in [(&till, &first), (&till2, &other)] {
            let (status, body) = register(&s, terminal, used).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert_eq!(body["error"]["code"], "replayed_request");
        }
        assert!(list(&s, &ada).await.is_empty());

        // A fresh consent does.
        let fresh = sign(&ada, &consent_body(&ada, &till, &pn));
        let (status, body) = register(&s, &till, &fresh).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_ne!(body["registration_id"], id.as_str());
        assert_eq!(list(&s, &ada).await.len(), 1);
    }
}

#[tokio::test]
async fn bad_consents_are_refused() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let cafe = s.merchant("CNY").await;
        let bakery = s.merchant("CNY").await;
        let till = s.terminal(&cafe).await;
        let till2 = s.terminal(&cafe).await;
        let oven = s.terminal(&bakery).await;
        let ada = s.phone("CNY").await;
        let pn = pseudonym_of(&s, &ada, &cafe.merchant_id).await;
        let good = consent_body(&ada, &till, &pn);

        let expect =
            |case: &str, (status, body): (StatusCode, Value), want: StatusCode, code: &str| {
                assert_eq!(status, want, "{case}: {body}");
                assert_eq!(body["error"]["code"], code, "{case}: {body}");
            };

        // Tampered: one byte of the signed payload changed.
        let mut bytes = RegistrationConsent::sign(&ada.key, &good)
            .unwrap()
            .as_bytes()
            .to_vec();
        let at = bytes
            .windows(till.terminal_id.len())
            .position(|w| w == till.terminal_id.as_bytes())
            .unwrap();
        bytes[at + till.terminal_id.len() - 1] ^= 1;
        expect(
            "tampered",
            register(&s, &till, &b64_encode(&bytes)).await,
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        );

        // Signed by another key in this device's name.
        let thief = SigningKey::generate().unwrap();
        let forged = RegistrationConsent::sign(&thief, &good)
            .unwrap()
            .to_base64();
        expect(
            "wrong key",
            register(&s, &till, &forged).await,
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        );

        // Naming a device that does not exist.
        let mut ghost = good.clone();
        ghost.device_id = "dev_ghost".into();
        expect(
            "unknown device",
            register(&s, &till, &sign(&ada, &ghost)).await,
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        );

        // Expired, and from the future.
        let mut old = consent_body(&ada, &till, &pn);
        old.issued_at_ms = now_ms() - CONSENT_TTL_MS - 60_000;
        expect(
            "expired",
            register(&s, &till, &sign(&ada, &old)).await,
            StatusCode::UNAUTHORIZED,
            "stale_request",
        );
        let mut future = consent_body(&ada, &till, &pn);
        future.issued_at_ms = now_ms() + MAX_CLOCK_SKEW_MS + 60_000;
        expect(
            "future",
            register(&s, &till, &sign(&ada, &future)).await,
            StatusCode::UNAUTHORIZED,
            "stale_request",
        );

        // Given at another terminal of the same merchant, forwarded by this one.
        let elsewhere = sign(&ada, &consent_body(&ada, &till2, &pn));
        expect(
            "wrong terminal",
            register(&s, &till, &elsewhere).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );

        // Forwarded by another merchant's terminal: the consent names the
        // café, the oven belongs to the bakery.
        let mut other_merchant = consent_body(&ada, &till, &pn);
        other_merchant.terminal_id = oven.terminal_id.clone();
        expect(
            "wrong merchant",
            register(&s, &oven, &sign(&ada, &other_merchant)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );

        // The bakery's pseudonym presented to the café.
        let bakery_pn = pseudonym_of(&s, &ada, &bakery.merchant_id).await;
        let linked = sign(&ada, &consent_body(&ada, &till, &bakery_pn));
        expect(
            "other merchant's pseudonym",
            register(&s, &till, &linked).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );

        // Oversized, and not base64 at all.
        let huge = b64_encode(&vec![0u8; MAX_CONSENT_BYTES + 1]);
        expect(
            "oversized",
            register(&s, &till, &huge).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        );
        expect(
            "garbage",
            register(&s, &till, "!!not base64!!").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );

        // None of it registered anything; the good consent still works once.
        assert!(list(&s, &ada).await.is_empty());
        let (status, body) = register(&s, &till, &sign(&ada, &good)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // A device cannot call the terminal endpoint.
        let (status, _) = s
            .api()
            .send(
                &ada.key,
                &ada.device_id,
                Method::POST,
                "/v1/platform/registrations",
                json!({ "consent": sign(&ada, &good) })
                    .to_string()
                    .as_bytes(),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
