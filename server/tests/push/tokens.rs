//! Registering push tokens: what is refused (and how the refusal names the
//! problem), who may register (only the signing device, for itself), one
//! token per device, and a token moving to the device that registers it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::keys::SigningKey;

use super::{register, APNS_TOKEN, FCM_TOKEN};
use crate::common::{database_urls, Phone, TestServer};

const PATH: &str = "/v1/devices/push-token";

async fn remove(s: &TestServer, phone: &Phone) -> Value {
    let (status, body) = s.device(phone, Method::DELETE, PATH, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn refused(answer: (StatusCode, Value), status: StatusCode, code: &str, names: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(names), "{names:?} not in {message:?}");
}

#[tokio::test]
async fn push_token_registration_refuses_bad_input_with_the_field_named() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let phone = s.phone("CNY").await;
        let invalid = StatusCode::UNPROCESSABLE_ENTITY;
        refused(
            register(&s, &phone, "fcm", "", "en").await,
            invalid,
            "invalid_field",
            "token: must not be empty",
        );
        let oversized = "a".repeat(1025);
        refused(
            register(&s, &phone, "fcm", &oversized, "en").await,
            invalid,
            "invalid_field",
            "at most 1024",
        );
        refused(
            register(&s, &phone, "fcm", "tok en<script>", "en").await,
            invalid,
            "invalid_field",
            "only letters, digits",
        );
        refused(
            register(&s, &phone, "apns", "not-hex", "en").await,
            invalid,
            "invalid_field",
            "hexadecimal",
        );
        refused(
            register(&s, &phone, "apns", &"ab".repeat(101), "en").await,
            invalid,
            "invalid_field",
            "hexadecimal",
        );
        refused(
            register(&s, &phone, "gcm", FCM_TOKEN, "en").await,
            invalid,
            "invalid_field",
            "platform: must be \"fcm\" or \"apns\"",
        );
        refused(
            register(&s, &phone, "fcm", FCM_TOKEN, "fr").await,
            invalid,
            "invalid_field",
            "locale",
        );
        let extra = json!({ "platform": "fcm", "token": FCM_TOKEN, "locale": "en", "user": "x" });
        refused(
            s.device(&phone, Method::PUT, PATH, Some(extra)).await,
            invalid,
            "invalid_field",
            "unknown field",
        );
        let missing = json!({ "platform": "fcm", "token": FCM_TOKEN });
        refused(
            s.device(&phone, Method::PUT, PATH, Some(missing)).await,
            invalid,
            "invalid_field",
            "locale",
        );
        let (status, body) = s
            .api()
            .send(
                &phone.key,
                &phone.device_id,
                Method::PUT,
                PATH,
                b"{not json",
                &[],
            )
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::BAD_REQUEST, &json!("malformed_json"))
        );
        // Nothing was registered by any of them.
        assert_eq!(remove(&s, &phone).await["removed"], false);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn only_the_signing_device_registers_and_only_for_itself() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (a, b) = (s.phone("CNY").await, s.phone("CNY").await);
        let body = json!({ "platform": "fcm", "token": FCM_TOKEN, "locale": "en" }).to_string();

        // Unsigned.
        let resp = s
            .http
            .put(s.url(PATH))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        refused(
            crate::common::read(resp).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "x-wayfare",
        );
        // Signed by A's key in B's name: B's key does not verify it.
        refused(
            s.api()
                .send(
                    &a.key,
                    &b.device_id,
                    Method::PUT,
                    PATH,
                    body.as_bytes(),
                    &[],
                )
                .await,
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "does not match",
        );
        // A key nobody registered.
        let stranger = SigningKey::generate().unwrap();
        refused(
            s.api()
                .send(
                    &stranger,
                    "dev_000000000000000000000000",
                    Method::PUT,
                    PATH,
                    body.as_bytes(),
                    &[],
                )
                .await,
            StatusCode::UNAUTHORIZED,
            "unknown_device",
            "not registered",
        );
        // The same signed request twice is a replay.
        let sig = wayfare_protocol::request_auth::sign_request(
            &b.key,
            &b.device_id,
            "PUT",
            PATH,
            body.as_bytes(),
            crate::common::now_ms(),
        )
        .unwrap();
        let mut answers = Vec::new();
        for _ in 0..2 {
            let mut req = s
                .http
                .put(s.url(PATH))
                .header("content-type", "application/json")
                .body(body.clone());
            for (name, value) in sig.headers() {
                req = req.header(name, value);
            }
            answers.push(crate::common::read(req.send().await.unwrap()).await);
        }
        assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
        assert_eq!(answers[1].1["error"]["code"], "replayed_request");
        // The refused ones left A without a token; B's own request took.
        assert_eq!(remove(&s, &a).await["removed"], false);
        assert_eq!(
            remove(&s, &b).await,
            json!({ "device_id": b.device_id, "removed": true })
        );
        assert_eq!(remove(&s, &b).await["removed"], false);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn one_token_per_device_and_a_token_follows_its_latest_device() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (a, b) = (s.phone("CNY").await, s.phone("CNY").await);
        let (status, body) = register(&s, &a, "fcm", FCM_TOKEN, "en").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["device_id"], a.device_id.as_str());
        assert_eq!(
            (&body["platform"], &body["locale"]),
            (&json!("fcm"), &json!("en"))
        );
        assert!(
            body.get("token").is_none(),
            "the token is never answered: {body}"
        );
        // Replaced: the same device moves to APNs (upper-case hex is
        // accepted and stored lower-case) and to Chinese.
        let (status, body) = register(&s, &a, "apns", &APNS_TOKEN.to_uppercase(), "zh").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["platform"], &body["locale"]),
            (&json!("apns"), &json!("zh"))
        );
        // The app reinstalled under a new device key gets the same token:
        // it is B's now, and A (the old install) has none.
        let (status, body) = register(&s, &b, "apns", APNS_TOKEN, "zh").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(remove(&s, &a).await["removed"], false);
        assert_eq!(remove(&s, &b).await["removed"], true);
        s.server.shutdown().await;
    }
}
