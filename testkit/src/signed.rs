//! The signed test client: HTTP requests to a control center signed the
//! way phones and terminals sign them (`wayfare_protocol::request_auth`),
//! so tests reach device and terminal routes as the real clients do.

use std::sync::Once;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::request_auth::sign_request;

use crate::clock::now_ms;
use crate::sse::SseReader;

/// An HTTP client for loopback tests, with rustls' ring provider installed
/// (once per process) so `https://` works too.
pub fn client() -> reqwest::Client {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .build()
        .expect("building the test HTTP client")
}

/// Adds the signature headers of `key` (as `key_id`) over `method`, `path`
/// (with its query) and `body`, signed now.
pub fn sign(
    req: RequestBuilder,
    key: &SigningKey,
    key_id: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> RequestBuilder {
    let sig = sign_request(key, key_id, method, path, body, now_ms())
        .unwrap_or_else(|e| panic!("signing {method} {path}: {e}"));
    sig.headers()
        .into_iter()
        .fold(req, |req, (name, value)| req.header(name, value))
}

/// The status and JSON body of an answer; panics, showing the body, when
/// it is not JSON.
pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("reading the answer");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
    (status, value)
}

/// A client of one control center that signs as any device or terminal.
#[derive(Clone)]
pub struct SignedClient {
    /// The HTTP client (also usable unsigned).
    pub http: reqwest::Client,
    /// The control center's base URL, without a trailing slash.
    pub base: String,
}

impl SignedClient {
    /// A client of the control center at `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            http: client(),
            base: base.into(),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request signed by `key` as `key_id` with `extra` headers;
    /// the status and JSON answer.
    pub async fn send(
        &self,
        key: &SigningKey,
        key_id: &str,
        method: Method,
        path: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .body(body.to_vec());
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        let req = extra.iter().fold(req, |req, (n, v)| req.header(*n, *v));
        let req = sign(req, key, key_id, method.as_str(), path, body);
        read(req.send().await.expect("sending a signed request")).await
    }

    /// Registers `key` as a new device with the `registration` fields
    /// (display name, phone number, currency; the device key is added),
    /// signed by the key it registers; the control center's answer.
    pub async fn register(&self, key: &SigningKey, mut registration: Value) -> Value {
        registration["device_key"] = key.public_key().to_base64().into();
        let (post, path, body) = (Method::POST, "/v1/devices", registration.to_string());
        let sent = self.send(key, "register", post, path, body.as_bytes(), &[]);
        let (status, answer) = sent.await;
        let registered = status == StatusCode::CREATED;
        assert!(registered, "registering a device: {status} {answer}");
        answer
    }

    /// Opens the event stream at `path` as `key_id`, resuming after
    /// `last_event_id` when given.
    pub async fn events(
        &self,
        key: &SigningKey,
        key_id: &str,
        path: &str,
        last_event_id: Option<&str>,
    ) -> SseReader {
        let mut req = sign(self.http.get(self.url(path)), key, key_id, "GET", path, b"");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        SseReader::new(req.send().await.expect("opening the event stream"))
    }
}

/// A device registered by hand on the control center, paying like the core
/// does: for tests that need many devices at once or instructions the core
/// would never sign.
pub struct SignedDevice {
    /// The device key.
    pub key: SigningKey,
    /// The id the control center gave the device.
    pub device_id: String,
    /// The device's account.
    pub account_id: String,
    /// The client it signs with.
    pub api: SignedClient,
}

impl SignedDevice {
    /// Registers a new device key as `display_name` at the control center
    /// at `base`.
    pub async fn register(base: &str, display_name: &str) -> Self {
        let key = SigningKey::generate().expect("a device key");
        let api = SignedClient::new(base);
        let registration = serde_json::json!({ "display_name": display_name });
        let answer = api.register(&key, registration).await;
        let field = |name: &str| {
            answer[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {answer}"))
                .to_string()
        };
        Self {
            device_id: field("device_id"),
            account_id: field("account_id"),
            key,
            api,
        }
    }

    /// Signs `body` as this device's payment instruction and sends it with
    /// its idempotency key; the status and JSON answer.
    pub async fn pay(&self, body: &InstructionBody) -> (StatusCode, Value) {
        let instruction =
            PaymentInstruction::sign(&self.key, body).expect("signing an instruction");
        let payload = serde_json::json!({"instruction": instruction.to_base64()}).to_string();
        let idem = [("idempotency-key", body.idempotency_key.as_str())];
        self.api
            .send(
                &self.key,
                &self.device_id,
                Method::POST,
                "/v1/payments",
                payload.as_bytes(),
                &idem,
            )
            .await
    }
}
