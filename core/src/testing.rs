//! Test fixtures: a fake access terminal and a fake control center built on
//! the protocol crate, on 127.0.0.1 with OS-assigned ports.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::handshake::respond;
use wayfare_protocol::ids::b64_encode;
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::messages::{
    ClientHello, HandshakeMessage, PaymentRequest, SessionMessage, TerminalKind as WireKind,
};
use wayfare_protocol::money::Currency;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::request_auth;

use crate::clock::now_ms;
use crate::session::transport::FramedStream;
use crate::session::SessionError;
use crate::store::identity::StoredIdentity;
use crate::store::Store;
use crate::{
    DiscoveredTerminal, DiscoverySource, InMemoryKeyStore, KeyStore, MdnsScope, TerminalKind,
    Wallet, WalletConfig,
};

pub(crate) const TERMINAL_ID: &str = "term_test1";
pub(crate) const MERCHANT_ID: &str = "mer_test1";

/// The operator, receipt and terminal keys of a test world.
pub(crate) struct Keys {
    pub operator: SigningKey,
    pub receipt: SigningKey,
    pub terminal: SigningKey,
}

impl Keys {
    pub(crate) fn new() -> Self {
        Self {
            operator: SigningKey::generate().unwrap(),
            receipt: SigningKey::generate().unwrap(),
            terminal: SigningKey::generate().unwrap(),
        }
    }

    /// A valid certificate for the test terminal, issued by `issuer`.
    pub(crate) fn certificate(
        &self,
        issuer: &SigningKey,
        terminal_id: &str,
    ) -> TerminalCertificate {
        TerminalCertificate::issue(
            issuer,
            &CertificateBody {
                version: wayfare_protocol::PROTOCOL_VERSION,
                terminal_id: terminal_id.into(),
                merchant_id: MERCHANT_ID.into(),
                merchant_name: "Corner Café".into(),
                kind: WireKind::Pos,
                terminal_key: self.terminal.public_key(),
                not_before_ms: 0,
                not_after_ms: now_ms() + 3_600_000,
                transit: None,
            },
        )
        .unwrap()
    }
}

/// A payment request from the test terminal.
pub(crate) fn request(order_id: &str, amount_minor: u64, expires_at_ms: u64) -> PaymentRequest {
    PaymentRequest {
        order_id: order_id.into(),
        merchant_id: MERCHANT_ID.into(),
        terminal_id: TERMINAL_ID.into(),
        merchant_name: "Corner Café".into(),
        amount_minor,
        currency: Currency::parse("EUR").unwrap(),
        description: "flat white".into(),
        fare: None,
        created_at_ms: now_ms(),
        expires_at_ms,
    }
}

/// The terminal's side of one connection.
pub(crate) struct TermSide {
    stream: FramedStream,
    channel: Option<SecureChannel>,
}

impl TermSide {
    pub(crate) async fn read_hello(&mut self) -> ClientHello {
        match HandshakeMessage::decode(&self.stream.read_frame().await.unwrap()).unwrap() {
            HandshakeMessage::ClientHello(h) => h,
            other => panic!("expected ClientHello, got {other:?}"),
        }
    }

    pub(crate) async fn send_handshake(&mut self, m: HandshakeMessage) {
        self.stream.write_frame(&m.encode().unwrap()).await.unwrap();
    }

    /// Answers the hello with `cert`, signed by `key`.
    pub(crate) async fn accept(&mut self, key: &SigningKey, cert: &TerminalCertificate) {
        let hello = self.read_hello().await;
        let (reply, channel) = respond(&hello, key, cert).unwrap();
        self.send_handshake(HandshakeMessage::TerminalHello(reply))
            .await;
        self.channel = Some(channel);
    }

    pub(crate) async fn send(&mut self, m: SessionMessage) -> Result<(), SessionError> {
        let sealed = self.channel.as_mut().unwrap().seal(&m).unwrap();
        self.stream.write_frame(&sealed).await
    }

    pub(crate) async fn recv(&mut self) -> Result<SessionMessage, SessionError> {
        let frame = self.stream.read_frame().await?;
        Ok(self.channel.as_mut().unwrap().open(&frame)?)
    }
}

/// Runs `script` as the terminal for the first connection on a fresh port.
pub(crate) async fn spawn_terminal<F, Fut, T>(script: F) -> (u16, tokio::task::JoinHandle<T>)
where
    F: FnOnce(TermSide) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        script(TermSide {
            stream: FramedStream::new(Box::new(tcp)),
            channel: None,
        })
        .await
    });
    (port, task)
}

/// How the fake control center answers `POST /v1/payments`.
#[derive(Clone, Debug)]
pub(crate) enum Mode {
    /// Execute and answer.
    Pay,
    /// Refuse with this status and code.
    Fail(u16, &'static str),
    /// Execute, then answer 503 as if the response was lost.
    CommitThenFail,
}

/// The fake control center's state.
pub(crate) struct ServerState {
    pub mode: Mode,
    pub results: HashMap<String, Value>,
    pub posts: u32,
    pub balance: i64,
    /// Device keys registered through `POST /v1/devices`, by device id.
    pub devices: HashMap<String, PublicKey>,
    /// Signed requests whose signature verified.
    pub verified: u32,
    /// Device keys seen by `POST /v1/devices`, in order.
    pub register_keys: Vec<String>,
    /// Answer `POST /v1/devices` with 503 `server_busy`.
    pub fail_register: bool,
    /// The express endpoints' state.
    pub express: FakeExpress,
    /// The last `PUT /v1/devices/push-token` body; `DELETE` (no body) empties it.
    pub push_tokens: Vec<Value>,
}

/// The fake control center's express endpoints: `POST` and `DELETE
/// /v1/express/allowances`, `GET /v1/express`.
#[derive(Default)]
pub(crate) struct FakeExpress {
    /// Answer every express call with 503 `server_busy` (as if offline).
    pub down: bool,
    /// Refuse allowances with 409 `express_blocked`; reported by `GET`.
    pub blocked: bool,
    /// The debt `GET /v1/express` reports.
    pub debt_minor: i64,
    /// The server's per-tap maximum (it lowers the rider's cap to it).
    pub per_tap_max_minor: Option<u64>,
    /// Lifetime of new allowances (default one day).
    pub ttl_ms: Option<u64>,
    /// Allowances issued, in order.
    pub issued: Vec<wayfare_protocol::express::AllowanceBody>,
    /// `DELETE` calls.
    pub revocations: u32,
    /// Settled taps `GET /v1/express` reports.
    pub settled: Vec<Value>,
}

/// A fake control center implementing `POST /v1/payments` (idempotent, with
/// receipts signed by the test receipt key) and `GET /v1/wallet`.
pub(crate) struct FakeServer {
    pub url: String,
    pub state: Arc<Mutex<ServerState>>,
}

pub(crate) async fn spawn_server(keys: &Keys, mode: Mode) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(ServerState {
        mode,
        results: HashMap::new(),
        posts: 0,
        balance: 1_000,
        devices: HashMap::new(),
        verified: 0,
        register_keys: Vec::new(),
        fail_register: false,
        express: FakeExpress::default(),
        push_tokens: Vec::new(),
    }));
    let shared = state.clone();
    let key = Arc::new(SigningKey::from_seed(keys.receipt.seed()).unwrap());
    let operator = keys.operator.public_key();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (shared, key) = (shared.clone(), key.clone());
            tokio::spawn(async move { serve(tcp, &shared, &key, operator).await });
        }
    });
    FakeServer { url, state }
}

/// Checks the device signature headers when the signer is known.
fn verify_signature(state: &Mutex<ServerState>, head: &str, body: &[u8]) -> bool {
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    };
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let Some(key_id) = header(request_auth::HEADER_KEY_ID) else {
        return false;
    };
    let key = if key_id == "register" {
        let json: Value = serde_json::from_slice(body).unwrap();
        PublicKey::from_base64(json["device_key"].as_str().unwrap()).unwrap()
    } else {
        match state.lock().unwrap().devices.get(&key_id) {
            Some(k) => *k,
            // Pre-registered by the test: the server never saw the key.
            None => return true,
        }
    };
    let sig = request_auth::RequestSignature {
        key_id,
        timestamp_ms: header(request_auth::HEADER_TIMESTAMP)
            .unwrap()
            .parse()
            .unwrap(),
        nonce: header(request_auth::HEADER_NONCE).unwrap(),
        signature: header(request_auth::HEADER_SIGNATURE).unwrap(),
    };
    let ok = request_auth::verify_request(&key, &sig, method, path, body, now_ms()).is_ok();
    if ok {
        state.lock().unwrap().verified += 1;
    }
    ok
}

async fn serve(
    mut tcp: TcpStream,
    state: &Mutex<ServerState>,
    key: &SigningKey,
    operator: PublicKey,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = tcp.read(&mut chunk).await.unwrap();
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = tcp.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[header_end..header_end + length];
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let signed = request_line.starts_with("POST /v1/payments ")
        || request_line.starts_with("POST /v1/devices ")
        || request_line.starts_with("GET /v1/wallet")
        || request_line.contains(" /v1/express")
        || request_line.contains(" /v1/devices/push-token ");
    let (status, answer) = if signed && !verify_signature(state, &head, body) {
        (
            401,
            json!({"error":{"code":"bad_signature","message":"signature does not verify"}}),
        )
    } else if request_line.starts_with("GET /v1/keys ") {
        (
            200,
            json!({"operator_key": operator.to_base64(), "receipt_key": key.public_key().to_base64()}),
        )
    } else if request_line.starts_with("POST /v1/devices ") {
        let json: Value = serde_json::from_slice(body).unwrap();
        assert!(json.get("phone_number").is_none() || json["phone_number"].is_string());
        let device_key = PublicKey::from_base64(json["device_key"].as_str().unwrap()).unwrap();
        let mut s = state.lock().unwrap();
        s.register_keys.push(device_key.to_base64());
        let fail = s.fail_register;
        if !fail {
            s.devices.insert("dev_new".into(), device_key);
        }
        drop(s);
        if fail {
            (
                503,
                json!({"error":{"code":"server_busy","message":"try again"}}),
            )
        } else {
            (
                201,
                json!({"account_id":"acc_new","device_id":"dev_new","handle":"rider-new","currency":"EUR"}),
            )
        }
    } else if request_line.starts_with("GET /v1/wallet/history?limit=") {
        (
            200,
            json!({"entries":[
                {"entry_id":"ent_2","kind":"payment","amount_minor":-250,"currency":"EUR","balance_after_minor":750,"payment_id":"pay_1","merchant_name":"Corner Café","description":"flat white","at_ms":2},
                {"entry_id":"ent_1","kind":"top_up","amount_minor":1000,"currency":"EUR","balance_after_minor":1000,"description":"sandbox","at_ms":1}
            ]}),
        )
    } else if request_line.contains(" /v1/express") {
        express(state, key, &request_line, body)
    } else if request_line.contains(" /v1/devices/push-token ") {
        let mut s = state.lock().unwrap();
        let removed = !s.push_tokens.is_empty();
        match serde_json::from_slice::<Value>(body).ok() {
            Some(b) if b["token"].as_str().is_some_and(|t| t.contains(' ')) => (
                422,
                json!({"error":{"code":"invalid_field","message":"token"}}),
            ),
            put => {
                s.push_tokens = put.into_iter().collect();
                (200, json!({ "removed": removed }))
            }
        }
    } else if request_line.starts_with("POST /v1/payments ") {
        pay(state, key, body)
    } else if request_line.starts_with("GET /v1/wallet ") {
        let balance = state.lock().unwrap().balance;
        (
            200,
            json!({"account_id":"acc_test","handle":"rider-test","display_name":"Ann","balance_minor":balance,"currency":"EUR","points":0}),
        )
    } else {
        (
            404,
            json!({"error":{"code":"not_found","message":"no such route"}}),
        )
    };
    let text = answer.to_string();
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

fn pay(state: &Mutex<ServerState>, key: &SigningKey, body: &[u8]) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    s.posts += 1;
    if let Mode::Fail(status, code) = s.mode {
        return (
            status,
            json!({"error":{"code":code,"message":"refused by the fake server"}}),
        );
    }
    let json: Value = serde_json::from_slice(body).unwrap();
    let instruction =
        PaymentInstruction::from_base64(json["instruction"].as_str().unwrap()).unwrap();
    let b = instruction.peek().unwrap();
    if let Some(previous) = s.results.get(&b.idempotency_key) {
        let previous = previous.clone();
        if matches!(s.mode, Mode::CommitThenFail) {
            return (503, json!({"error":{"code":"internal","message":"lost"}}));
        }
        return (200, previous);
    }
    s.balance -= b.amount_minor as i64;
    let payment_id = format!("pay_{}", s.results.len() + 1);
    let receipt = Receipt::issue(
        key,
        &ReceiptBody {
            version: 1,
            payment_id: payment_id.clone(),
            order_id: b.order_id.clone(),
            payer: "rider-test".into(),
            merchant_id: b.merchant_id.clone(),
            terminal_id: b.terminal_id.clone(),
            amount_minor: b.amount_minor,
            currency: b.currency.clone(),
            completed_at_ms: now_ms(),
            fare: b.fare.clone(),
            points_spent: 0,
            points_value_minor: 0,
        },
    )
    .unwrap();
    let body = receipt.verify(&key.public_key()).unwrap();
    let result = json!({
        "payment_id": payment_id, "status": "completed", "receipt": receipt.to_base64(),
        "amount_minor": b.amount_minor, "currency": b.currency.code(), "balance_after_minor": s.balance,
        "merchant_id": b.merchant_id, "terminal_id": b.terminal_id, "order_id": b.order_id,
        "completed_at_ms": body.completed_at_ms,
    });
    s.results.insert(b.idempotency_key, result.clone());
    if matches!(s.mode, Mode::CommitThenFail) {
        return (503, json!({"error":{"code":"internal","message":"lost"}}));
    }
    (201, result)
}

fn express(
    state: &Mutex<ServerState>,
    key: &SigningKey,
    request_line: &str,
    body: &[u8],
) -> (u16, Value) {
    use wayfare_protocol::express::{Allowance, AllowanceBody, EXPRESS_VERSION};
    let mut s = state.lock().unwrap();
    let balance = s.balance;
    let x = &mut s.express;
    if x.down {
        return (
            503,
            json!({"error":{"code":"server_busy","message":"try again"}}),
        );
    }
    if request_line.starts_with("POST /v1/express/allowances ") {
        if x.blocked {
            return (
                409,
                json!({"error":{"code":"express_blocked","message":"an express fare left a debt; top up to pay it"}}),
            );
        }
        if balance <= 0 {
            return (
                402,
                json!({"error":{"code":"insufficient_funds","message":"the balance is zero"}}),
            );
        }
        let json: Value = serde_json::from_slice(body).unwrap();
        let tap_key = PublicKey::from_base64(json["tap_key"].as_str().unwrap()).unwrap();
        let total = json["total_max_minor"]
            .as_u64()
            .unwrap()
            .min(balance as u64);
        let per_tap = json["per_tap_max_minor"]
            .as_u64()
            .unwrap()
            .min(x.per_tap_max_minor.unwrap_or(u64::MAX))
            .min(total);
        let now = now_ms();
        let n = x.issued.len() + 1;
        let allowance_body = AllowanceBody {
            version: EXPRESS_VERSION,
            allowance_id: format!("alw_test{n:04}"),
            tap_key,
            per_tap_max_minor: per_tap,
            total_max_minor: total,
            currency: "EUR".into(),
            sequence: n as u64,
            issued_at_ms: now - 1_000,
            expires_at_ms: now + x.ttl_ms.unwrap_or(86_400_000),
        };
        let allowance = Allowance::issue(key, &allowance_body).unwrap();
        x.issued.push(allowance_body.clone());
        (
            201,
            json!({
                "allowance": allowance.to_base64(), "allowance_id": allowance_body.allowance_id,
                "per_tap_max_minor": per_tap, "total_max_minor": total, "currency": "EUR",
                "sequence": n, "issued_at_ms": allowance_body.issued_at_ms,
                "expires_at_ms": allowance_body.expires_at_ms,
            }),
        )
    } else if request_line.starts_with("DELETE /v1/express/allowances ") {
        x.revocations += 1;
        (200, json!({"revoked": x.issued.len()}))
    } else if request_line.starts_with("GET /v1/express ") {
        (
            200,
            json!({"debt_minor": x.debt_minor, "blocked": x.blocked, "currency": "EUR", "taps": x.settled}),
        )
    } else {
        (
            404,
            json!({"error":{"code":"not_found","message":"no such route"}}),
        )
    }
}

/// A URL where nothing listens.
pub(crate) fn dead_server_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// The configuration of a test wallet in `dir`.
pub(crate) fn config(dir: &Path, server_url: &str, keys: &Keys) -> WalletConfig {
    WalletConfig {
        data_dir: dir.to_string_lossy().into_owned(),
        server_url: server_url.into(),
        operator_key: Some(keys.operator.public_key().to_base64()),
        receipt_key: Some(keys.receipt.public_key().to_base64()),
        mdns_scope: MdnsScope::Loopback,
    }
}

/// Writes a registered identity into the wallet's store (as `register`
/// would), so tests need no registration server.
pub(crate) async fn preregister(dir: &Path, key_store: &InMemoryKeyStore) {
    let store = Store::open(dir.join("wallet.sled")).await.unwrap();
    let device = SigningKey::generate().unwrap();
    let sealed = key_store.seal(device.seed().to_vec()).unwrap();
    store
        .complete_registration(&StoredIdentity {
            sealed_seed: b64_encode(&sealed),
            account_id: "acc_test".into(),
            device_id: "dev_test".into(),
            handle: "rider-test".into(),
            display_name: "Ann".into(),
            currency: "EUR".into(),
            registered_at_ms: now_ms(),
        })
        .await
        .unwrap();
}

/// An opened wallet; registered when `registered`.
pub(crate) async fn wallet(
    dir: &Path,
    server_url: &str,
    keys: &Keys,
    registered: bool,
) -> Arc<Wallet> {
    let key_store = InMemoryKeyStore::new();
    if registered {
        preregister(dir, &key_store).await;
    }
    let w = Wallet::new(config(dir, server_url, keys), key_store).unwrap();
    w.open().await.unwrap();
    w
}

/// The test terminal, typed in by address.
pub(crate) fn manual(port: u16) -> DiscoveredTerminal {
    DiscoveredTerminal {
        terminal_id: TERMINAL_ID.into(),
        merchant_name: "Corner Café".into(),
        kind: TerminalKind::Pos,
        host: "127.0.0.1".into(),
        port,
        source: DiscoverySource::Manual,
        rssi: None,
        ble_id: None,
    }
}
