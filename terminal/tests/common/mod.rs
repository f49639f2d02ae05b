//! Test fixtures: an enrolled terminal identity on disk, a phone speaking
//! the real protocol over TCP, and a stub control center.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::framing::{encode_frame, payload_len, HEADER_LEN};
use wayfare_protocol::handshake::PhoneHandshake;
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::messages::{HandshakeMessage, PaymentRequest, SessionMessage, TerminalKind};
use wayfare_protocol::money::Currency;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::request_auth::{verify_request, RequestSignature};
use wayfare_protocol::PROTOCOL_VERSION;
use wayfare_terminal::config::{
    ConnectionLimits, ControlConfig, LinkageConfig, MdnsConfig, ModeConfig, PosConfig,
    TerminalConfig, TimeoutConfig, TramConfig,
};

pub const TERMINAL_ID: &str = "term_0123456789abcdef01234567";
pub const MERCHANT_ID: &str = "mer_0123456789abcdef01234567";

/// Keys and files of one enrolled terminal.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub operator: SigningKey,
    pub receipt_key: SigningKey,
    pub terminal_key: PublicKey,
    pub kind: TerminalKind,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl Fixture {
    /// Writes a terminal key and an operator-issued certificate of `kind`.
    pub async fn new(kind: TerminalKind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let operator = SigningKey::generate().unwrap();
        let receipt_key = SigningKey::generate().unwrap();
        let key = wayfare_terminal::keys::load_or_create_key(&dir.path().join("terminal.key"))
            .await
            .unwrap();
        let cert = TerminalCertificate::issue(
            &operator,
            &CertificateBody {
                version: PROTOCOL_VERSION,
                terminal_id: TERMINAL_ID.into(),
                merchant_id: MERCHANT_ID.into(),
                merchant_name: "Tram T1".into(),
                kind,
                terminal_key: key.public_key(),
                not_before_ms: now_ms() - 60_000,
                not_after_ms: now_ms() + 86_400_000,
                transit: None,
            },
        )
        .unwrap();
        wayfare_terminal::keys::save_certificate(&dir.path().join("terminal.cert"), &cert)
            .await
            .unwrap();
        Self {
            dir,
            operator,
            receipt_key,
            terminal_key: key.public_key(),
            kind,
        }
    }

    /// Re-issues the terminal's certificate with a transit placement, as
    /// the operator does when it registers a gate at a station.
    pub fn place(&self, station: &str, index: u32, issues_tap_in: bool) {
        let cert = TerminalCertificate::issue(
            &self.operator,
            &CertificateBody {
                version: PROTOCOL_VERSION,
                terminal_id: TERMINAL_ID.into(),
                merchant_id: MERCHANT_ID.into(),
                merchant_name: "Tram T1".into(),
                kind: self.kind,
                terminal_key: self.terminal_key,
                not_before_ms: now_ms() - 60_000,
                not_after_ms: now_ms() + 86_400_000,
                transit: Some(wayfare_protocol::certificate::TransitPlacement {
                    line: "T1".into(),
                    station: station.into(),
                    station_index: index,
                    issues_tap_in,
                }),
            },
        )
        .unwrap();
        std::fs::write(
            self.dir.path().join("terminal.cert"),
            format!("{}\n", cert.to_base64()),
        )
        .unwrap();
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self, server_url: &str, mode: ModeConfig) -> TerminalConfig {
        TerminalConfig {
            server_url: server_url.into(),
            data_dir: self.dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            control_listen: "127.0.0.1:0".parse().unwrap(),
            operator_key: self.operator.public_key(),
            receipt_key: self.receipt_key.public_key(),
            terminal_id: TERMINAL_ID.into(),
            key_file: None,
            certificate_file: None,
            server_ca_file: None,
            mode,
            linkage: LinkageConfig::Log,
            mdns: MdnsConfig {
                enabled: false,
                ..MdnsConfig::default()
            },
            nfc: None,
            express: wayfare_terminal::express::ExpressConfig::default(),
            ble: None,
            timeouts: TimeoutConfig {
                confirm_ms: 5_000,
                ..TimeoutConfig::default()
            },
            connections: ConnectionLimits::default(),
            control: ControlConfig::default(),
            position: None,
        }
    }

    pub fn tram_config(&self, server_url: &str) -> TerminalConfig {
        self.config(
            server_url,
            ModeConfig::Tram(TramConfig {
                fare_minor: 200,
                currency: Currency::parse("CNY").unwrap(),
                line: "T1".into(),
                vehicle: "tram 1207".into(),
                direction_from: "Airport".into(),
                direction_towards: "Harbour".into(),
                station: "Central".into(),
                station_index: 4,
                request_ttl_ms: 60_000,
                stops: Vec::new(),
            }),
        )
    }

    /// A tap-in/tap-out terminal at `station` (index `index`): stations
    /// fares 200 up to 2 stations, 300 up to 5, maximum 500.
    pub fn tap_config(
        &self,
        server_url: &str,
        role: wayfare_terminal::config::TapRole,
        station: &str,
        index: u32,
    ) -> TerminalConfig {
        use wayfare_protocol::fare::{FareBand, FareTable};
        self.place(
            station,
            index,
            role != wayfare_terminal::config::TapRole::Exit,
        );
        self.config(
            server_url,
            ModeConfig::TapInOut(wayfare_terminal::config::TapConfig {
                role,
                currency: Currency::parse("CNY").unwrap(),
                line: "T1".into(),
                vehicle: "gate 3".into(),
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
                token_wait_ms: 300,
                request_ttl_ms: 60_000,
            }),
        )
    }

    pub fn pos_config(&self, server_url: &str) -> TerminalConfig {
        self.config(
            server_url,
            ModeConfig::Pos(PosConfig {
                currency: Currency::parse("CNY").unwrap(),
                request_ttl_ms: 60_000,
            }),
        )
    }

    /// A receipt for `request`, signed by `key`.
    pub fn receipt_for(&self, request: &PaymentRequest, key: &SigningKey) -> Receipt {
        Receipt::issue(
            key,
            &ReceiptBody {
                version: PROTOCOL_VERSION,
                payment_id: "pay_00112233445566778899aabb".into(),
                order_id: request.order_id.clone(),
                payer: "rider-7f3a".into(),
                merchant_id: request.merchant_id.clone(),
                terminal_id: request.terminal_id.clone(),
                amount_minor: request.amount_minor,
                currency: request.currency.clone(),
                completed_at_ms: now_ms(),
                fare: request.fare.clone(),
                points_spent: 0,
                points_value_minor: 0,
            },
        )
        .unwrap()
    }
}

/// A client of `t`'s control interface: sends its bearer token.
pub fn control_client(t: &wayfare_terminal::RunningTerminal) -> reqwest::Client {
    wayfare_terminal::platform::install_crypto_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", t.control_token()).parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A server that closes every connection: the control center is down.
pub const UNREACHABLE: &str = "http://127.0.0.1:9";

/// A phone talking to a terminal over TCP.
pub struct Phone {
    pub stream: TcpStream,
    pub channel: Option<SecureChannel>,
}

pub async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    tokio::time::timeout(Duration::from_secs(20), stream.read_exact(&mut header))
        .await
        .expect("terminal silent for 20 s")
        .ok()?;
    let len = payload_len(header).unwrap();
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some(payload)
}

impl Phone {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            channel: None,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send_hello(&mut self) -> PhoneHandshake {
        let (hs, hello) = PhoneHandshake::start().unwrap();
        let frame = encode_frame(&HandshakeMessage::ClientHello(hello).encode().unwrap()).unwrap();
        self.send_raw(&frame).await;
        hs
    }

    pub async fn read_handshake(&mut self) -> Option<HandshakeMessage> {
        let frame = read_frame(&mut self.stream).await?;
        Some(HandshakeMessage::decode(&frame).unwrap())
    }

    /// Completes the handshake, verifying the certificate.
    pub async fn handshake(addr: SocketAddr, operator: &PublicKey) -> Self {
        let mut phone = Self::connect(addr).await;
        let hs = phone.send_hello().await;
        let reply = match phone.read_handshake().await {
            Some(HandshakeMessage::TerminalHello(reply)) => reply,
            other => panic!("expected TerminalHello, got {other:?}"),
        };
        let est = hs
            .finish(&reply, operator, Some(TERMINAL_ID), now_ms())
            .unwrap();
        phone.channel = Some(est.channel);
        phone
    }

    pub fn seal(&mut self, message: &SessionMessage) -> Vec<u8> {
        self.channel.as_mut().unwrap().seal(message).unwrap()
    }

    pub async fn send(&mut self, message: &SessionMessage) {
        let sealed = self.seal(message);
        self.send_raw(&encode_frame(&sealed).unwrap()).await;
    }

    /// The next session message, or `None` when the terminal closed.
    pub async fn recv(&mut self) -> Option<SessionMessage> {
        let frame = read_frame(&mut self.stream).await?;
        Some(self.channel.as_mut().unwrap().open(&frame).unwrap())
    }

    pub async fn expect_request(&mut self) -> PaymentRequest {
        match self.recv().await {
            Some(SessionMessage::PaymentRequest(r)) => r,
            other => panic!("expected a PaymentRequest, got {other:?}"),
        }
    }

    /// Reads until the terminal closes the connection.
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut buf))
                .await
                .expect("terminal did not close the connection")
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// Polls `check` every 20 ms for up to 20 s.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A stub control center: checks request signatures, answers
/// confirmations and collects reports.
#[derive(Clone)]
pub struct StubPlatform {
    pub state: Arc<Mutex<StubState>>,
    pub url: String,
}

pub struct StubState {
    pub terminal_key: PublicKey,
    pub confirmed: bool,
    /// Answer confirmations with 503 (the platform API is down).
    pub confirmations_down: bool,
    /// `payment.completed` events (id, JSON data) served on the SSE stream.
    pub events: Vec<(u64, String)>,
    pub events_changed: tokio::sync::watch::Sender<usize>,
    pub event_connections: usize,
    pub report_failures_left: usize,
    pub reports: Vec<serde_json::Value>,
    pub confirmations: usize,
    /// Questions about in-doubt orders (confirmations without a payment id).
    pub order_queries: usize,
    pub bad_signatures: usize,
}

fn check_signature(
    state: &StubState,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> bool {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let sig = RequestSignature {
        key_id: h("x-wayfare-key-id"),
        timestamp_ms: h("x-wayfare-timestamp").parse().unwrap_or(0),
        nonce: h("x-wayfare-nonce"),
        signature: h("x-wayfare-signature"),
    };
    sig.key_id == TERMINAL_ID
        && verify_request(&state.terminal_key, &sig, method, path, body, now_ms()).is_ok()
}

async fn confirmations(
    State(state): State<Arc<Mutex<StubState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut s = state.lock().unwrap();
    if !check_signature(&s, "POST", "/v1/platform/confirmations", &headers, &body) {
        s.bad_signatures += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": {"code": "bad_signature", "message": "x"}})),
        );
    }
    s.confirmations += 1;
    if s.confirmations_down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": {"code": "internal", "message": "down"}})),
        );
    }
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(req["order_id"].is_string());
    if !req["payment_id"].is_string() {
        // A question about an in-doubt order: this stub saw no payment.
        s.order_queries += 1;
        return (
            StatusCode::OK,
            Json(serde_json::json!({ "confirmed": false, "status": "not_paid" })),
        );
    }
    (
        StatusCode::OK,
        Json(serde_json::json!({
            "confirmed": s.confirmed,
            "status": if s.confirmed { "completed" } else { "unknown" },
            "amount_minor": 200,
            "currency": "CNY",
        })),
    )
}

async fn reports(
    State(state): State<Arc<Mutex<StubState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut s = state.lock().unwrap();
    if !check_signature(&s, "POST", "/v1/terminals/me/reports", &headers, &body) {
        s.bad_signatures += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": {"code": "bad_signature", "message": "x"}})),
        );
    }
    if s.report_failures_left > 0 {
        s.report_failures_left -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": {"code": "internal", "message": "down"}})),
        );
    }
    s.reports.push(serde_json::from_slice(&body).unwrap());
    (StatusCode::OK, Json(serde_json::json!({"accepted": true})))
}

async fn events(
    State(state): State<Arc<Mutex<StubState>>>,
    headers: HeaderMap,
) -> axum::response::Response {
    use axum::response::sse::{Event, Sse};
    use axum::response::IntoResponse;
    let rx = {
        let mut s = state.lock().unwrap();
        if !check_signature(&s, "GET", "/v1/terminals/me/events", &headers, b"") {
            s.bad_signatures += 1;
            return StatusCode::UNAUTHORIZED.into_response();
        }
        s.event_connections += 1;
        s.events_changed.subscribe()
    };
    let stream =
        futures::stream::unfold((0usize, rx, state), |(mut i, mut rx, state)| async move {
            loop {
                let next = state.lock().unwrap().events.get(i).cloned();
                if let Some((id, data)) = next {
                    i += 1;
                    let event = Event::default()
                        .event("payment.completed")
                        .id(id.to_string())
                        .data(data);
                    return Some((Ok::<_, std::convert::Infallible>(event), (i, rx, state)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        });
    Sse::new(stream).into_response()
}

impl StubPlatform {
    /// Pushes a `payment.completed` event to connected terminals.
    pub fn push_payment(&self, data: serde_json::Value) {
        let mut s = self.state.lock().unwrap();
        let id = s.events.len() as u64 + 1;
        s.events.push((id, data.to_string()));
        let n = s.events.len();
        s.events_changed.send_replace(n);
    }

    pub async fn start(terminal_key: PublicKey) -> Self {
        let state = Arc::new(Mutex::new(StubState {
            terminal_key,
            confirmed: true,
            confirmations_down: false,
            events: Vec::new(),
            events_changed: tokio::sync::watch::Sender::new(0),
            event_connections: 0,
            report_failures_left: 0,
            reports: Vec::new(),
            confirmations: 0,
            order_queries: 0,
            bad_signatures: 0,
        }));
        let app = Router::new()
            .route("/v1/platform/confirmations", post(confirmations))
            .route("/v1/terminals/me/reports", post(reports))
            .route("/v1/terminals/me/events", get(events))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, url }
    }

    pub fn reports(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().reports.clone()
    }
}
