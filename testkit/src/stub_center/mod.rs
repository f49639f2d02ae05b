//! A stub control center on axum, on 127.0.0.1 with an OS-assigned port:
//! it checks request signatures, records what it received and answers
//! outcomes a test scripts through [`StubState`]. The wallet core's tests
//! use its device routes (keys, registration, wallet, payments, express,
//! push token); the terminal's tests use its terminal routes
//! (confirmations, reports, the payment event stream).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use wayfare_protocol::keys::{PublicKey, SigningKey};

mod auth;
mod express;
mod terminal;
mod wallet;

pub use express::StubExpress;

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

/// The keys the stub signs with.
pub(crate) struct Keys {
    pub(crate) operator: PublicKey,
    pub(crate) receipt: SigningKey,
}

#[derive(Clone)]
pub(crate) struct App {
    pub(crate) state: Arc<Mutex<StubState>>,
    pub(crate) keys: Arc<Keys>,
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
    use express::{allow, express_status, revoke_allowances};
    use terminal::{confirmations, events, reports};
    use wallet::{history, keys, pay, push_token, register, wallet};
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
        .route_layer(from_fn_with_state(app.clone(), auth::device_auth));
    let terminal = Router::new()
        .route("/v1/platform/confirmations", post(confirmations))
        .route("/v1/terminals/me/reports", post(reports))
        .route("/v1/terminals/me/events", get(events))
        .route_layer(from_fn_with_state(app.clone(), auth::terminal_auth));
    Router::new()
        .route("/v1/keys", get(keys))
        .merge(device)
        .merge(terminal)
        .fallback(|| async { error(404, "not_found", "no such route") })
        .with_state(app)
}

pub(crate) fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).expect("a status code");
    (status, Json(body)).into_response()
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    answer(status, json!({"error": {"code": code, "message": message}}))
}
