//! A stub control center on axum, on 127.0.0.1 with an OS-assigned port:
//! it checks request signatures, records what it received and answers
//! outcomes a test scripts through [`StubState`]. The wallet core's tests
//! use its device routes (keys, registration, wallet, payments, express,
//! push token); the terminal's tests use its terminal routes
//! (confirmations, reports, the payment event stream).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use wayfare_protocol::express::{Allowance, AllowanceBody, EXPRESS_VERSION};
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::request_auth::{self, RequestSignature};

use crate::clock::now_ms;

/// How the stub answers `POST /v1/payments`.
#[derive(Clone, Debug)]
pub enum PayMode {
    /// Execute and answer.
    Pay,
    /// Refuse with this status and code.
    Fail(u16, &'static str),
    /// Execute, then answer 503 as if the response was lost.
    CommitThenFail,
}

/// The express routes' script and record: `POST` and `DELETE
/// /v1/express/allowances`, `GET /v1/express`.
#[derive(Default)]
pub struct StubExpress {
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
    pub issued: Vec<AllowanceBody>,
    /// `DELETE` calls.
    pub revocations: u32,
    /// Settled taps `GET /v1/express` reports.
    pub settled: Vec<Value>,
}

/// What the stub was told to answer and what it received. Tests set the
/// script fields and read the records through [`StubCenter::state`].
pub struct StubState {
    /// How payments are answered.
    pub mode: PayMode,
    /// Payment answers by idempotency key (a retry gets the same one).
    pub results: HashMap<String, Value>,
    /// `POST /v1/payments` calls.
    pub posts: u32,
    /// The wallet balance payments draw on.
    pub balance: i64,
    /// Device keys registered through `POST /v1/devices`, by device id.
    pub devices: HashMap<String, PublicKey>,
    /// Device-signed requests whose signature verified against a key the
    /// stub knows.
    pub verified: u32,
    /// Device keys seen by `POST /v1/devices`, in order.
    pub register_keys: Vec<String>,
    /// Answer `POST /v1/devices` with 503 `server_busy`.
    pub fail_register: bool,
    /// The express routes' state.
    pub express: StubExpress,
    /// The last `PUT /v1/devices/push-token` body; `DELETE` empties it.
    pub push_tokens: Vec<Value>,
    /// The terminal allowed on the terminal routes, and its key.
    pub terminal: Option<(String, PublicKey)>,
    /// Whether confirmations say the payment completed.
    pub confirmed: bool,
    /// Answer confirmations with 503 (the platform API is down).
    pub confirmations_down: bool,
    /// `payment.completed` events (id, JSON data) served on the stream.
    pub events: Vec<(u64, String)>,
    /// Wakes event streams when `events` grows.
    pub events_changed: tokio::sync::watch::Sender<usize>,
    /// Event streams opened.
    pub event_connections: usize,
    /// Reports to answer 503 before accepting again.
    pub report_failures_left: usize,
    /// Reports accepted, in order.
    pub reports: Vec<Value>,
    /// Confirmations answered (signature valid).
    pub confirmations: usize,
    /// Questions about in-doubt orders (confirmations without a payment id).
    pub order_queries: usize,
    /// Terminal requests refused for their signature.
    pub bad_signatures: usize,
}

type Shared = Arc<Mutex<StubState>>;

/// The keys the stub signs with.
struct Keys {
    operator: PublicKey,
    receipt: SigningKey,
}

#[derive(Clone)]
struct App {
    state: Shared,
    keys: Arc<Keys>,
}

/// A running stub control center.
#[derive(Clone)]
pub struct StubCenter {
    /// Its base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// Its script and records.
    pub state: Arc<Mutex<StubState>>,
}

impl StubCenter {
    /// A stub serving wallets: it publishes `operator` as the operator key
    /// and signs receipts and allowances with `receipt`; payments follow
    /// `mode`. The wallet balance starts at 1 000.
    pub async fn for_wallets(operator: PublicKey, receipt: &SigningKey, mode: PayMode) -> Self {
        let receipt = SigningKey::from_seed(receipt.seed()).expect("a receipt key seed");
        Self::start(operator, receipt, mode, None).await
    }

    /// A stub serving the terminal `terminal_id`, whose requests must be
    /// signed by `terminal_key`; confirmations say "completed".
    pub async fn for_terminal(terminal_id: &str, terminal_key: PublicKey) -> Self {
        let operator = SigningKey::generate().expect("a key").public_key();
        let receipt = SigningKey::generate().expect("a key");
        let terminal = Some((terminal_id.to_string(), terminal_key));
        Self::start(operator, receipt, PayMode::Pay, terminal).await
    }

    async fn start(
        operator: PublicKey,
        receipt: SigningKey,
        mode: PayMode,
        terminal: Option<(String, PublicKey)>,
    ) -> Self {
        let state = Arc::new(Mutex::new(StubState {
            mode,
            results: HashMap::new(),
            posts: 0,
            balance: 1_000,
            devices: HashMap::new(),
            verified: 0,
            register_keys: Vec::new(),
            fail_register: false,
            express: StubExpress::default(),
            push_tokens: Vec::new(),
            terminal,
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
        let app = App {
            state: state.clone(),
            keys: Arc::new(Keys { operator, receipt }),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the stub control center");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let router = router(app);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    /// Pushes a `payment.completed` event to connected terminals.
    pub fn push_payment(&self, data: Value) {
        let mut s = self.state.lock().expect("stub state");
        let id = s.events.len() as u64 + 1;
        s.events.push((id, data.to_string()));
        let n = s.events.len();
        s.events_changed.send_replace(n);
    }

    /// The reports accepted so far.
    pub fn reports(&self) -> Vec<Value> {
        self.state.lock().expect("stub state").reports.clone()
    }
}

/// A URL where nothing listens (a port just bound and released): the
/// control center is down.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    format!("http://{}", l.local_addr().expect("its address"))
}

fn router(app: App) -> Router {
    let device = Router::new()
        .route("/v1/devices", post(register))
        .route("/v1/wallet", get(wallet))
        .route("/v1/wallet/history", get(history))
        .route("/v1/payments", post(pay))
        .route(
            "/v1/express/allowances",
            post(allow).delete(revoke_allowances),
        )
        .route("/v1/express", get(express_status))
        .route("/v1/devices/push-token", put(push_token).delete(push_token))
        .route_layer(from_fn_with_state(app.clone(), device_auth));
    let terminal = Router::new()
        .route("/v1/platform/confirmations", post(confirmations))
        .route("/v1/terminals/me/reports", post(reports))
        .route("/v1/terminals/me/events", get(events))
        .route_layer(from_fn_with_state(app.clone(), terminal_auth));
    Router::new()
        .route("/v1/keys", get(keys))
        .merge(device)
        .merge(terminal)
        .fallback(|| async { error(404, "not_found", "no such route") })
        .with_state(app)
}

fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).expect("a status code");
    (status, Json(body)).into_response()
}

fn error(status: u16, code: &str, message: &str) -> Response {
    answer(status, json!({"error": {"code": code, "message": message}}))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The signature headers, or `None` without a key id.
fn signature(headers: &HeaderMap) -> Option<RequestSignature> {
    Some(RequestSignature {
        key_id: header(headers, request_auth::HEADER_KEY_ID)?,
        timestamp_ms: header(headers, request_auth::HEADER_TIMESTAMP)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        nonce: header(headers, request_auth::HEADER_NONCE).unwrap_or_default(),
        signature: header(headers, request_auth::HEADER_SIGNATURE).unwrap_or_default(),
    })
}

/// Splits `req` into its head and body, read whole: the signature covers
/// the body, and the handler gets it back through `Request::from_parts`.
async fn take_body(req: Request) -> (axum::http::request::Parts, Bytes) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("reading the request body");
    (parts, bytes)
}

/// The request target as signed: the path with its query.
fn signed_path(parts: &axum::http::request::Parts) -> &str {
    parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str())
}

/// Device routes: the signature must verify when the signer is known
/// (registration signs with the key it registers; a device the test
/// pre-registered is unknown here and passes unchecked).
async fn device_auth(State(app): State<App>, req: Request, next: Next) -> Response {
    let (parts, body) = take_body(req).await;
    let ok = match signature(&parts.headers) {
        None => false,
        Some(sig) => {
            let key = if sig.key_id == "register" {
                let json: Value = serde_json::from_slice(&body).expect("a JSON registration");
                Some(
                    PublicKey::from_base64(json["device_key"].as_str().expect("device_key"))
                        .expect("a device key"),
                )
            } else {
                let s = app.state.lock().expect("stub state");
                s.devices.get(&sig.key_id).copied()
            };
            match key {
                None => true,
                Some(key) => {
                    let method = parts.method.as_str();
                    let path = signed_path(&parts);
                    let ok =
                        request_auth::verify_request(&key, &sig, method, path, &body, now_ms())
                            .is_ok();
                    if ok {
                        app.state.lock().expect("stub state").verified += 1;
                    }
                    ok
                }
            }
        }
    };
    if !ok {
        return error(401, "bad_signature", "signature does not verify");
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// Terminal routes: only the configured terminal, signing with its key.
async fn terminal_auth(State(app): State<App>, req: Request, next: Next) -> Response {
    let (parts, body) = take_body(req).await;
    let ok = {
        let mut s = app.state.lock().expect("stub state");
        let ok = match (signature(&parts.headers), &s.terminal) {
            (Some(sig), Some((id, key))) => {
                sig.key_id == *id
                    && request_auth::verify_request(
                        key,
                        &sig,
                        parts.method.as_str(),
                        signed_path(&parts),
                        &body,
                        now_ms(),
                    )
                    .is_ok()
            }
            _ => false,
        };
        if !ok {
            s.bad_signatures += 1;
        }
        ok
    };
    if !ok {
        return error(401, "bad_signature", "x");
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn keys(State(app): State<App>) -> Response {
    answer(
        200,
        json!({"operator_key": app.keys.operator.to_base64(),
            "receipt_key": app.keys.receipt.public_key().to_base64()}),
    )
}

async fn register(State(app): State<App>, body: Bytes) -> Response {
    let json: Value = serde_json::from_slice(&body).expect("a JSON registration");
    assert!(json.get("phone_number").is_none() || json["phone_number"].is_string());
    let device_key = PublicKey::from_base64(json["device_key"].as_str().expect("device_key"))
        .expect("a device key");
    let mut s = app.state.lock().expect("stub state");
    s.register_keys.push(device_key.to_base64());
    if s.fail_register {
        return error(503, "server_busy", "try again");
    }
    s.devices.insert("dev_new".into(), device_key);
    answer(
        201,
        json!({"account_id":"acc_new","device_id":"dev_new","handle":"rider-new","currency":"EUR"}),
    )
}

async fn wallet(State(app): State<App>) -> Response {
    let balance = app.state.lock().expect("stub state").balance;
    answer(
        200,
        json!({"account_id":"acc_test","handle":"rider-test","display_name":"Ann",
            "balance_minor":balance,"currency":"EUR","points":0}),
    )
}

async fn history() -> Response {
    answer(
        200,
        json!({"entries":[
            {"entry_id":"ent_2","kind":"payment","amount_minor":-250,"currency":"EUR","balance_after_minor":750,"payment_id":"pay_1","merchant_name":"Corner Café","description":"flat white","at_ms":2},
            {"entry_id":"ent_1","kind":"top_up","amount_minor":1000,"currency":"EUR","balance_after_minor":1000,"description":"sandbox","at_ms":1}
        ]}),
    )
}

async fn push_token(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    let removed = !s.push_tokens.is_empty();
    match serde_json::from_slice::<Value>(&body).ok() {
        Some(b) if b["token"].as_str().is_some_and(|t| t.contains(' ')) => {
            error(422, "invalid_field", "token")
        }
        put => {
            s.push_tokens = put.into_iter().collect();
            answer(200, json!({ "removed": removed }))
        }
    }
}

/// `POST /v1/payments`: idempotent by the instruction's key, with receipts
/// signed by the receipt key.
async fn pay(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    s.posts += 1;
    if let PayMode::Fail(status, code) = s.mode {
        return error(status, code, "refused by the stub control center");
    }
    let lost = matches!(s.mode, PayMode::CommitThenFail);
    let json: Value = serde_json::from_slice(&body).expect("a JSON payment");
    let instruction =
        PaymentInstruction::from_base64(json["instruction"].as_str().expect("instruction"))
            .expect("an instruction");
    let b = instruction.peek().expect("a readable instruction");
    if let Some(previous) = s.results.get(&b.idempotency_key) {
        return if lost {
            error(503, "internal", "lost")
        } else {
            answer(200, previous.clone())
        };
    }
    s.balance -= b.amount_minor as i64;
    let payment_id = format!("pay_{}", s.results.len() + 1);
    let key = &app.keys.receipt;
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
    .expect("issuing a receipt");
    let body = receipt
        .verify(&key.public_key())
        .expect("the receipt verifies");
    let result = json!({
        "payment_id": payment_id, "status": "completed", "receipt": receipt.to_base64(),
        "amount_minor": b.amount_minor, "currency": b.currency.code(), "balance_after_minor": s.balance,
        "merchant_id": b.merchant_id, "terminal_id": b.terminal_id, "order_id": b.order_id,
        "completed_at_ms": body.completed_at_ms,
    });
    s.results.insert(b.idempotency_key, result.clone());
    if lost {
        return error(503, "internal", "lost");
    }
    answer(201, result)
}

fn express_down() -> Response {
    error(503, "server_busy", "try again")
}

async fn allow(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    let balance = s.balance;
    let x = &mut s.express;
    if x.down {
        return express_down();
    }
    if x.blocked {
        return error(
            409,
            "express_blocked",
            "an express fare left a debt; top up to pay it",
        );
    }
    if balance <= 0 {
        return error(402, "insufficient_funds", "the balance is zero");
    }
    let json: Value = serde_json::from_slice(&body).expect("a JSON allowance request");
    let field = |name: &str| json[name].as_u64().unwrap_or_else(|| panic!("{name}"));
    let tap_key =
        PublicKey::from_base64(json["tap_key"].as_str().expect("tap_key")).expect("a tap key");
    let total = field("total_max_minor").min(balance as u64);
    let per_tap = field("per_tap_max_minor")
        .min(x.per_tap_max_minor.unwrap_or(u64::MAX))
        .min(total);
    let now = now_ms();
    let n = x.issued.len() + 1;
    let body = AllowanceBody {
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
    let allowance = Allowance::issue(&app.keys.receipt, &body).expect("issuing an allowance");
    x.issued.push(body.clone());
    answer(
        201,
        json!({
            "allowance": allowance.to_base64(), "allowance_id": body.allowance_id,
            "per_tap_max_minor": per_tap, "total_max_minor": total, "currency": "EUR",
            "sequence": n, "issued_at_ms": body.issued_at_ms,
            "expires_at_ms": body.expires_at_ms,
        }),
    )
}

async fn revoke_allowances(State(app): State<App>) -> Response {
    let mut s = app.state.lock().expect("stub state");
    let x = &mut s.express;
    if x.down {
        return express_down();
    }
    x.revocations += 1;
    answer(200, json!({"revoked": x.issued.len()}))
}

async fn express_status(State(app): State<App>) -> Response {
    let s = app.state.lock().expect("stub state");
    let x = &s.express;
    if x.down {
        return express_down();
    }
    answer(
        200,
        json!({"debt_minor": x.debt_minor, "blocked": x.blocked, "currency": "EUR", "taps": x.settled}),
    )
}

async fn confirmations(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    s.confirmations += 1;
    if s.confirmations_down {
        return error(503, "internal", "down");
    }
    let req: Value = serde_json::from_slice(&body).expect("a JSON confirmation");
    assert!(req["order_id"].is_string());
    if !req["payment_id"].is_string() {
        // A question about an in-doubt order: this stub saw no payment.
        s.order_queries += 1;
        return answer(200, json!({ "confirmed": false, "status": "not_paid" }));
    }
    answer(
        200,
        json!({
            "confirmed": s.confirmed,
            "status": if s.confirmed { "completed" } else { "unknown" },
            "amount_minor": 200,
            "currency": "CNY",
        }),
    )
}

async fn reports(State(app): State<App>, body: Bytes) -> Response {
    let mut s = app.state.lock().expect("stub state");
    if s.report_failures_left > 0 {
        s.report_failures_left -= 1;
        return error(503, "internal", "down");
    }
    s.reports
        .push(serde_json::from_slice(&body).expect("a JSON report"));
    answer(200, json!({"accepted": true}))
}

/// `GET /v1/terminals/me/events`: every pushed event, then each new one.
async fn events(State(app): State<App>) -> Response {
    let rx = {
        let mut s = app.state.lock().expect("stub state");
        s.event_connections += 1;
        s.events_changed.subscribe()
    };
    let state = app.state;
    let stream =
        futures::stream::unfold((0usize, rx, state), |(mut i, mut rx, state)| async move {
            loop {
                let next = state.lock().expect("stub state").events.get(i).cloned();
                if let Some((id, data)) = next {
                    i += 1;
                    let event = Event::default()
                        .event("payment.completed")
                        .id(id.to_string())
                        .data(data);
                    return Some((Ok::<_, Infallible>(event), (i, rx, state)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        });
    Sse::new(stream).into_response()
}
