//! Test fixtures of the terminal's suite: an enrolled terminal identity on
//! disk and its configurations; the phone and the stub control center come
//! from the shared test kit (`wayfare_testkit`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::messages::{
    Done, DoneOutcome, ErrorCode, PaymentRequest, SessionMessage, TerminalKind,
};
use wayfare_protocol::money::Currency;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::PROTOCOL_VERSION;
use wayfare_terminal::config::{
    ConnectionLimits, ControlConfig, LinkageConfig, MdnsConfig, ModeConfig, PosConfig,
    TerminalConfig, TimeoutConfig, TramConfig,
};
pub use wayfare_testkit::raw_phone::RawPhone;
pub use wayfare_testkit::stub_center::StubCenter;
pub use wayfare_testkit::{eventually, now_ms};

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

    /// A phone that completed the handshake with the terminal at `addr`,
    /// checking its certificate against this operator and terminal id.
    pub async fn phone(&self, addr: SocketAddr) -> RawPhone {
        RawPhone::handshake(addr, &self.operator.public_key(), Some(TERMINAL_ID)).await
    }

    /// A stub control center accepting this terminal's signed requests.
    pub async fn stub(&self) -> StubCenter {
        StubCenter::for_terminal(TERMINAL_ID, self.terminal_key).await
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

/// A tram terminal whose control center is down, and its fixture.
pub async fn offline_tram() -> (Fixture, wayfare_terminal::RunningTerminal) {
    let f = Fixture::new(TerminalKind::Tram).await;
    let t = wayfare_terminal::start(f.tram_config(UNREACHABLE))
        .await
        .unwrap();
    (f, t)
}

/// Checks that the terminal answers a protocol error (sealed) or just
/// closes, and then closes the connection.
pub async fn expect_protocol_error_and_close(phone: &mut RawPhone) {
    match phone.recv().await {
        Some(SessionMessage::Error(e)) => assert_eq!(e.code, ErrorCode::Protocol),
        None => {}
        other => panic!("expected an error or a close, got {other:?}"),
    }
    phone.expect_closed().await;
}

/// Waits until `t` is free again and checks that it serves a new phone.
pub async fn serves_the_next_phone(f: &Fixture, t: &wayfare_terminal::RunningTerminal) {
    eventually("terminal free", || !t.status().busy).await;
    let mut next = f.phone(t.phone_addr()).await;
    next.expect_request().await;
}

/// A tram terminal reporting to a fresh stub control center.
pub async fn tram_with_stub() -> (Fixture, StubCenter, wayfare_terminal::RunningTerminal) {
    let f = Fixture::new(TerminalKind::Tram).await;
    let stub = f.stub().await;
    let t = wayfare_terminal::start(f.tram_config(&stub.url))
        .await
        .unwrap();
    (f, stub, t)
}

/// Presents `receipt` and returns the terminal's verdict.
pub async fn present_receipt(phone: &mut RawPhone, receipt: Receipt) -> Done {
    phone.send(&SessionMessage::Receipt { receipt }).await;
    match phone.recv().await {
        Some(SessionMessage::Done(done)) => done,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// Declines the offer with `reason` and returns the terminal's verdict.
pub async fn decline(phone: &mut RawPhone, reason: &str) -> Done {
    let reason = reason.to_string();
    phone.send(&SessionMessage::Decline { reason }).await;
    match phone.recv().await {
        Some(SessionMessage::Done(done)) => done,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// GETs `url` with `client` (the control interface's) and parses the JSON.
pub async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    let resp = client.get(url).send().await.unwrap();
    resp.json().await.unwrap()
}

/// Sends a genuine receipt for `request` and returns the verdict's outcome.
pub async fn pay_with_receipt(
    phone: &mut RawPhone,
    f: &Fixture,
    request: &PaymentRequest,
) -> DoneOutcome {
    let receipt = f.receipt_for(request, &f.receipt_key);
    present_receipt(phone, receipt).await.outcome
}

/// The `payment.completed` event the control center pushes for `order_id`.
pub fn payment_completed(payment_id: &str, order_id: &str) -> serde_json::Value {
    serde_json::json!({
        "payment_id": payment_id,
        "order_id": order_id,
        "amount_minor": 200,
        "currency": "CNY",
        "completed_at_ms": now_ms(),
    })
}
