//! A loopback stand-in for the Apple Push Notification service: HTTPS with
//! a certificate of a test CA (which the adapter trusts through
//! `extra_root_ca_file`), ALPN `h2` only, so a client that cannot speak
//! HTTP/2 fails as it would against Apple. It checks each request as APNs
//! does: the ES256 provider token (signature against the team key, `kid`,
//! `iss`, a fresh `iat`), the path, the `apns-*` headers and the exact body;
//! it records what it got, puts anything it refuses in `problems` (tests
//! expect it empty) and answers scripted errors (410 Unregistered, 503 with
//! Retry-After, 403 ExpiredProviderToken).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::sorted_keys;
use crate::common::now_ms;

pub const KEY_ID: &str = "ABC123DEFG";
pub const TEAM_ID: &str = "DEF123GHIJ";
pub const TOPIC: &str = "app.wayfare.ios";

/// One push as received.
#[derive(Clone, Debug)]
pub struct Push {
    pub version: Version,
    pub device_token: String,
    pub provider_token: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub status: u16,
    pub at_ms: u64,
}

/// A scripted answer to one push.
#[derive(Clone, Debug)]
pub enum Script {
    /// 410 Unregistered.
    Unregistered,
    /// 503 ServiceUnavailable with `Retry-After: <seconds>`.
    Unavailable(u64),
    /// 403 ExpiredProviderToken; that provider token is refused from then.
    ExpireProviderToken,
}

#[derive(Default)]
pub struct Recorded {
    pub pushes: Vec<Push>,
    pub expired: Vec<String>,
    pub problems: Vec<String>,
    pub script: VecDeque<Script>,
}

#[derive(Clone)]
pub struct Apple {
    pub base: String,
    pub ca_pem: String,
    /// The team's `.p8` key, PEM.
    pub key_pem: String,
    pub recorded: Arc<Mutex<Recorded>>,
    public_key: Arc<Vec<u8>>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

impl Apple {
    pub async fn start() -> Self {
        // The team key, made now: nothing secret is ever committed.
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // A CA and a server certificate for 127.0.0.1.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "APNs stand-in CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];

        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let apple = Apple {
            base: format!("https://{addr}"),
            ca_pem: ca_cert.pem(),
            key_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            recorded: Arc::default(),
            public_key: Arc::new(key.public_key().as_ref().to_vec()),
        };
        let app = Router::new()
            .route("/3/device/{token}", post(push))
            .with_state(apple.clone());
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
        };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        apple
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Script>) {
        self.recorded.lock().unwrap().script.extend(answers);
    }

    pub fn pushes(&self) -> Vec<Push> {
        self.recorded.lock().unwrap().pushes.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.recorded.lock().unwrap().problems.clone()
    }

    /// Checks an ES256 provider token; returns what is wrong.
    fn check_provider_token(&self, jwt: &str) -> Result<(), String> {
        let key = self.public_key.as_slice();
        let (header, claims) = super::verify_jwt(jwt, &ECDSA_P256_SHA256_FIXED, key, "ES256")?;
        if header != json!({"alg": "ES256", "kid": KEY_ID}) {
            return Err(format!("header {header}"));
        }
        let iat = claims["iat"].as_u64().unwrap_or(0);
        if claims["iss"] != TEAM_ID
            || iat.abs_diff(now_ms() / 1000) > 3600
            || claims.as_object().map(|o| o.len()) != Some(2)
        {
            return Err(format!("claims {claims}"));
        }
        Ok(())
    }
}

/// Checks the headers and the exact body of a push; returns what is wrong.
fn check_request(headers: &HeaderMap, body: &Value) -> Result<(), String> {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let uuid_ok = {
        let id = h("apns-id");
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        groups == [8, 4, 4, 4, 12] && id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
    };
    let expiration_ok = h("apns-expiration")
        .parse::<u64>()
        .is_ok_and(|t| t > now_ms() / 1000);
    let headers_ok = h("apns-topic") == TOPIC
        && h("apns-push-type") == "alert"
        && h("apns-priority") == "10"
        && uuid_ok
        && expiration_ok
        && h("apns-collapse-id") == body["id"].as_str().unwrap_or("?");
    if !headers_ok {
        return Err(format!("headers {headers:?}"));
    }
    let shape_ok = sorted_keys(body) == ["aps", "id", "kind"]
        && sorted_keys(&body["aps"]) == ["alert", "content-available", "sound"]
        && sorted_keys(&body["aps"]["alert"]) == ["body", "title"]
        && body["aps"]["sound"] == "default"
        && body["aps"]["content-available"] == 1;
    if shape_ok {
        Ok(())
    } else {
        Err(format!("body shape {body}"))
    }
}

fn reason(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "reason": reason }))).into_response()
}

/// `POST /3/device/{token}`.
async fn push(
    State(apple): State<Apple>,
    Path(device_token): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let provider_token = super::credential(&headers, "bearer");
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut recorded = apple.recorded.lock().unwrap();
    if version != Version::HTTP_2 {
        recorded.problems.push(format!("HTTP version {version:?}"));
    }
    if let Err(e) = check_request(&headers, &body) {
        recorded.problems.push(e);
    }
    let (status, response) = if let Err(e) = apple.check_provider_token(&provider_token) {
        recorded.problems.push(format!("provider token: {e}"));
        (403, reason(StatusCode::FORBIDDEN, "InvalidProviderToken"))
    } else if recorded.expired.contains(&provider_token) {
        (403, reason(StatusCode::FORBIDDEN, "ExpiredProviderToken"))
    } else {
        match recorded.script.pop_front() {
            None => (200, StatusCode::OK.into_response()),
            Some(Script::Unregistered) => (410, reason(StatusCode::GONE, "Unregistered")),
            Some(Script::Unavailable(seconds)) => (
                503,
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", seconds.to_string())],
                    Json(json!({ "reason": "ServiceUnavailable" })),
                )
                    .into_response(),
            ),
            Some(Script::ExpireProviderToken) => {
                recorded.expired.push(provider_token.clone());
                (403, reason(StatusCode::FORBIDDEN, "ExpiredProviderToken"))
            }
        }
    };
    recorded.pushes.push(Push {
        version,
        device_token,
        provider_token,
        headers,
        body,
        status,
        at_ms: now_ms(),
    });
    response
}

/// Hands `axum::serve` TLS connections (handshake in the accept loop: a
/// stand-in serves one client).
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
