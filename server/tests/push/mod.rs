//! Push to a closed app (issue 13.4): guardian alerts and merchant prompts
//! reach registered devices through FCM and APNs, checked against loopback
//! stand-ins of Google (OAuth token endpoint + FCM, `google`) and Apple
//! (APNs over TLS and HTTP/2, `apple`) that verify every request's shape,
//! authentication and signature, on SQLite and PostgreSQL.

mod apple;
mod google;
mod tokens;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use wayfare_server::gateway::{GatewayError, OutboundGateway, OutboundMessage};
use wayfare_server::{RetryPolicy, ServerOptions};

use crate::common::{database_urls, now_ms, shop, Phone, TestServer};
use crate::merchant_scene::{scene_on, Scene};

pub use apple::Apple;
pub use google::Google;

/// A JWT's header and claims once its signature verifies with
/// `algorithm` under `public_key`; what is wrong otherwise. Both stand-ins
/// check the tokens the server signs this way (RS256 for Google's OAuth
/// assertion, ES256 for Apple's provider token).
pub fn verify_jwt(
    jwt: &str,
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
    public_key: &[u8],
    name: &str,
) -> Result<(Value, Value), String> {
    use wayfare_protocol::ids::b64_decode;
    let (input, signature) = jwt.rsplit_once('.').ok_or("not a JWT")?;
    let (header, claims) = input.split_once('.').ok_or("not a JWT")?;
    let signature = b64_decode(signature).map_err(|e| format!("signature: {e}"))?;
    ring::signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(input.as_bytes(), &signature)
        .map_err(|_| format!("the {name} signature does not verify"))?;
    let part = |p: &str| -> Result<Value, String> {
        serde_json::from_slice(&b64_decode(p).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
    };
    Ok((part(header)?, part(claims)?))
}

/// A JSON object's keys, sorted (none for anything else): both stand-ins
/// check a body's exact shape key by key.
pub fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// The credential of an `authorization: <scheme> <credential>` header
/// (empty when there is none): the stand-ins record what they were sent.
pub fn credential(headers: &axum::http::HeaderMap, scheme: &str) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(scheme))
        .and_then(|v| v.strip_prefix(' '))
        .unwrap_or_default()
        .to_string()
}

/// An FCM registration token as Android apps get them.
pub const FCM_TOKEN: &str = "dXNlcjE:APA91bH-test_token.guardian-a";
/// An APNs device token: 32 bytes in hex.
pub const APNS_TOKEN: &str = "7f3c9a1be4d25f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

/// The stand-ins and the files the server's push configuration names.
pub struct Rig {
    pub google: Google,
    pub apple: Apple,
    /// What the SMS/webhook gateway was handed (kinds and ids).
    pub sms: Arc<Mutex<Vec<(String, String)>>>,
    _files: TempDir,
}

/// Records what reaches the SMS gateway.
struct RecordingGateway(Arc<Mutex<Vec<(String, String)>>>);

impl OutboundGateway for RecordingGateway {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn deliver<'a>(&'a self, m: &'a OutboundMessage) -> BoxFuture<'a, Result<(), GatewayError>> {
        self.0
            .lock()
            .unwrap()
            .push((m.kind.clone(), m.message_id.clone()));
        Box::pin(async { Ok(()) })
    }
}

impl Rig {
    /// Starts both stand-ins and returns the server options pointing at
    /// them (fast retries, so tests do not wait for the default backoff).
    pub async fn start() -> (Self, ServerOptions) {
        let google = Google::start().await;
        let apple = Apple::start().await;
        let files = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = files.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let config = wayfare_server::PushConfig {
            fcm: Some(wayfare_server::push::FcmConfig {
                service_account_file: file("service-account.json", &google.service_account_json()),
                endpoint: Some(google.base.clone()),
                token_uri: None,
                extra_root_ca_file: None,
            }),
            apns: Some(wayfare_server::push::ApnsConfig {
                key_file: file("AuthKey.p8", &apple.key_pem),
                key_id: apple::KEY_ID.into(),
                team_id: apple::TEAM_ID.into(),
                topic: apple::TOPIC.into(),
                endpoint: Some(apple.base.clone()),
                extra_root_ca_file: Some(file("apns-ca.pem", &apple.ca_pem)),
            }),
        };
        let sms = Arc::new(Mutex::new(Vec::new()));
        let options = ServerOptions {
            push: config.resolve().unwrap(),
            gateway: Arc::new(RecordingGateway(sms.clone())),
            retry: RetryPolicy {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
            },
            ..ServerOptions::default()
        };
        let rig = Rig {
            google,
            apple,
            sms,
            _files: files,
        };
        (rig, options)
    }

    /// Neither stand-in saw anything it would refuse.
    pub fn assert_no_problems(&self) {
        assert_eq!(self.google.problems(), Vec::<String>::new());
        assert_eq!(self.apple.problems(), Vec::<String>::new());
    }

    /// Polls the outbox until every message was taken and no push is
    /// pending, with at least `closed` pushes delivered or dropped; returns
    /// the push status. Fails at once when a stand-in refused a request.
    pub async fn settled(&self, s: &TestServer, closed: i64) -> Value {
        let deadline = now_ms() + 30_000;
        loop {
            self.assert_no_problems();
            let (status, st) = s.admin(Method::GET, "/v1/outbound/status", None).await;
            assert_eq!(status, StatusCode::OK, "{st}");
            let push = &st["push"];
            let done = push["delivered"].as_i64().unwrap() + push["dropped"].as_i64().unwrap();
            if st["pending"] == 0 && push["pending"] == 0 && done >= closed {
                return push.clone();
            }
            assert!(now_ms() < deadline, "pushes not settled: {st}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `PUT /v1/devices/push-token` for `phone`.
pub async fn register(
    s: &TestServer,
    phone: &Phone,
    platform: &str,
    token: &str,
    locale: &str,
) -> (StatusCode, Value) {
    s.device(
        phone,
        Method::PUT,
        "/v1/devices/push-token",
        Some(json!({ "platform": platform, "token": token, "locale": locale })),
    )
    .await
}

/// A rider bound to two guardians: one on Android (FCM, Chinese), one on
/// an iPhone (APNs, English), both with their tokens registered.
async fn rider_and_guardians(s: &TestServer) -> (Phone, Phone, Phone, crate::common::Terminal) {
    let (_, terminal, rider) = shop(s, 100_000).await;
    let android = s.phone_numbered("CNY", "+8613911110001").await;
    let iphone = s.phone_numbered("CNY", "+8613911110002").await;
    s.bind(&rider, &android, "all_payments").await;
    s.bind(&rider, &iphone, "all_payments").await;
    let (status, body) = register(s, &android, "fcm", FCM_TOKEN, "zh").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = register(s, &iphone, "apns", APNS_TOKEN, "en").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (rider, android, iphone, terminal)
}

async fn pay(
    s: &TestServer,
    rider: &Phone,
    terminal: &crate::common::Terminal,
    order: &str,
) -> String {
    let (ins, idem) = rider.instruction(terminal, order, 250);
    let (status, body) = s.pay(rider, &ins, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["payment_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_guardian_alert_reaches_fcm_and_apns_with_only_id_kind_and_short_text() {
    for url in database_urls() {
        let (rig, options) = Rig::start().await;
        let s = TestServer::start_with_options(url, options).await;
        let (rider, android, iphone, terminal) = rider_and_guardians(&s).await;
        let payment_id = pay(&s, &rider, &terminal, "push-1").await;
        let push = rig.settled(&s, 2).await;
        assert_eq!(
            push,
            json!({ "pending": 0, "delivered": 2, "dropped": 0, "attempts": 2 })
        );
        rig.assert_no_problems();

        // Android: FCM HTTP v1 with the OAuth access token, Chinese text.
        let alert_a = s.alerts(&android).await.remove(0);
        let sends = rig.google.sends();
        assert_eq!(sends.len(), 1);
        assert_eq!(sends[0].access_token, rig.google.tokens_issued()[0]);
        assert_eq!(
            sends[0].body,
            json!({ "message": {
                "token": FCM_TOKEN,
                "data": { "id": alert_a["alert_id"], "kind": "guardian.alert",
                          "title": "监护提醒", "body": alert_a["text_zh"] },
                "android": { "priority": "HIGH", "collapse_key": alert_a["alert_id"], "ttl": "86400s" },
            }})
        );

        // iPhone: APNs over HTTP/2 with an ES256 provider token, English.
        let alert_b = s.alerts(&iphone).await.remove(0);
        let pushes = rig.apple.pushes();
        assert_eq!(pushes.len(), 1);
        let p = &pushes[0];
        assert_eq!(p.version, reqwest::Version::HTTP_2);
        assert_eq!(p.device_token, APNS_TOKEN);
        assert_eq!(
            p.body,
            json!({ "aps": { "alert": { "title": "Guardian alert", "body": alert_b["text_en"] }, "sound": "default", "content-available": 1 },
                    "id": alert_b["alert_id"], "kind": "guardian.alert" })
        );
        assert_eq!(
            p.headers["apns-collapse-id"],
            alert_b["alert_id"].as_str().unwrap()
        );

        // Nothing but the id, the kind and the short text left the server:
        // no payment id, account ids, handles or phone numbers.
        let sent = format!("{} {} {:?}", sends[0].body, p.body, p.headers);
        for secret in [
            payment_id.as_str(),
            rider.account_id.as_str(),
            android.account_id.as_str(),
            iphone.handle.as_str(),
            rider.device_id.as_str(),
            "+8613911110001",
            "+8613800138000",
        ] {
            assert!(!sent.contains(secret), "{secret} was sent: {sent}");
        }
        // The SMS gateway got the alerts as before (by id, without tokens).
        let sms = rig.sms.lock().unwrap().clone();
        assert_eq!(sms.len(), 2);
        assert!(sms.iter().all(|(kind, _)| kind == "guardian.alert"));
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_refused_access_token_and_an_expired_provider_token_are_renewed_once() {
    for url in database_urls() {
        let (rig, options) = Rig::start().await;
        let s = TestServer::start_with_options(url, options).await;
        let (rider, _, _, terminal) = rider_and_guardians(&s).await;
        rig.google.script([google::Script::RevokeToken]);
        rig.apple.script([apple::Script::ExpireProviderToken]);
        pay(&s, &rider, &terminal, "renew-1").await;
        rig.settled(&s, 2).await;
        rig.assert_no_problems();

        // FCM: 401 with the first access token, one refresh, then 200.
        let issued = rig.google.tokens_issued();
        assert_eq!(issued.len(), 2);
        let sends = rig.google.sends();
        let seen: Vec<(&str, u16)> = sends
            .iter()
            .map(|s| (s.access_token.as_str(), s.status))
            .collect();
        assert_eq!(seen, [(issued[0].as_str(), 401), (issued[1].as_str(), 200)]);
        assert_eq!(sends[0].body, sends[1].body);
        // APNs: 403 ExpiredProviderToken, a new provider token, then 200.
        let pushes = rig.apple.pushes();
        assert_eq!(
            pushes.iter().map(|p| p.status).collect::<Vec<_>>(),
            [403, 200]
        );
        assert_ne!(pushes[0].provider_token, pushes[1].provider_token);

        // The renewed tokens are kept: the next alert fetches nothing new.
        pay(&s, &rider, &terminal, "renew-2").await;
        let push = rig.settled(&s, 4).await;
        assert_eq!(push["delivered"], 4);
        assert_eq!(rig.google.tokens_issued().len(), 2);
        let sends = rig.google.sends();
        assert_eq!(sends.len(), 3);
        assert_eq!(sends[2].access_token, issued[1]);
        let pushes = rig.apple.pushes();
        assert_eq!(pushes.len(), 3);
        assert_eq!(pushes[2].provider_token, pushes[1].provider_token);
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn an_unregistered_token_is_deleted_and_never_retried() {
    for url in database_urls() {
        let (rig, options) = Rig::start().await;
        let s = TestServer::start_with_options(url, options).await;
        let (rider, android, iphone, terminal) = rider_and_guardians(&s).await;
        rig.google.script([google::Script::Unregistered]);
        rig.apple.script([apple::Script::Unregistered]);
        pay(&s, &rider, &terminal, "gone-1").await;
        let push = rig.settled(&s, 2).await;
        assert_eq!(
            push,
            json!({ "pending": 0, "delivered": 0, "dropped": 2, "attempts": 2 })
        );
        assert_eq!(rig.google.sends().len(), 1);
        assert_eq!(rig.apple.pushes().len(), 1);
        assert_eq!(rig.apple.pushes()[0].status, 410);

        // Both tokens are gone: a later alert makes no push at all...
        pay(&s, &rider, &terminal, "gone-2").await;
        let push = rig.settled(&s, 2).await;
        assert_eq!(push["dropped"], 2);
        assert_eq!(rig.google.sends().len(), 1);
        assert_eq!(rig.apple.pushes().len(), 1);
        // ...and each device has nothing left to remove.
        for phone in [&android, &iphone] {
            let (status, body) = s
                .device(phone, Method::DELETE, "/v1/devices/push-token", None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["removed"], false);
        }
        rig.assert_no_problems();
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_no_sooner_and_delivered_exactly_once() {
    for url in database_urls() {
        let (rig, options) = Rig::start().await;
        let s = TestServer::start_with_options(url, options).await;
        let (rider, _, _, terminal) = rider_and_guardians(&s).await;
        rig.google.script([google::Script::Unavailable(1)]);
        rig.apple.script([apple::Script::Unavailable(1)]);
        pay(&s, &rider, &terminal, "busy-1").await;
        // Settled: both delivered, so no attempt will follow.
        let push = rig.settled(&s, 2).await;
        assert_eq!(
            push,
            json!({ "pending": 0, "delivered": 2, "dropped": 0, "attempts": 4 })
        );
        let sends = rig.google.sends();
        assert_eq!(
            sends.iter().map(|s| s.status).collect::<Vec<_>>(),
            [503, 200]
        );
        // The backoff alone would retry after 20 ms; Retry-After said 1 s.
        assert!(sends[1].at_ms - sends[0].at_ms >= 1_000, "{sends:?}");
        let pushes = rig.apple.pushes();
        assert_eq!(
            pushes.iter().map(|p| p.status).collect::<Vec<_>>(),
            [503, 200]
        );
        assert!(pushes[1].at_ms - pushes[0].at_ms >= 1_000);
        // The same notification both times (the device would collapse a
        // duplicate by its apns-id / collapse id).
        assert_eq!(pushes[0].headers["apns-id"], pushes[1].headers["apns-id"]);
        assert_eq!(pushes[0].body, pushes[1].body);
        rig.assert_no_problems();
        s.server.shutdown().await;
    }
}

#[tokio::test]
async fn a_merchant_prompt_reaches_staff_devices_by_push_only_within_their_scope() {
    for url in database_urls() {
        let (rig, options) = Rig::start().await;
        let scene: Scene = scene_on(TestServer::start_with_options(url, options).await).await;
        let s = &scene.s;
        // Staff who may not see amounts, on Android in English; the owner
        // (every attribute) on an iPhone in Chinese.
        let (staff, _) = scene
            .staff(&["receive_prompts"], &["payment_platform"])
            .await;
        let (status, body) = register(s, &staff, "fcm", FCM_TOKEN, "en").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = register(s, &scene.owner, "apns", APNS_TOKEN, "zh").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        scene.pay("prompt-1", 1_250).await;
        let push = rig.settled(s, 2).await;
        assert_eq!(push["delivered"], 2);
        rig.assert_no_problems();

        let sends = rig.google.sends();
        assert_eq!(sends.len(), 1);
        let m = &sends[0].body["message"];
        assert_eq!(m["token"], FCM_TOKEN);
        assert_eq!(m["data"]["kind"], "merchant.prompt");
        assert!(m["data"]["id"].as_str().unwrap().starts_with("prm_"));
        assert_eq!(
            (&m["data"]["title"], &m["data"]["body"]),
            (
                &json!("Payment notice"),
                &json!("Wayfare: payment received")
            )
        );
        assert!(m.get("notification").is_none(), "data-only: {m}");
        let pushes = rig.apple.pushes();
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].body["kind"], "merchant.prompt");
        assert_eq!(
            pushes[0].body["aps"]["alert"],
            json!({ "title": "收款提醒", "body": "Wayfare到账12.50元" })
        );
        // Names stay in the app: the payer is "Ada", the shop "Corner Café".
        let sent = format!("{} {}", sends[0].body, pushes[0].body);
        assert!(!sent.contains("Ada") && !sent.contains("Corner"), "{sent}");
        // Prompts are not SMS.
        assert!(rig.sms.lock().unwrap().is_empty());
        scene.s.server.shutdown().await;
    }
}
