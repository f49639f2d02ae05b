//! Shared helpers: a real server on 127.0.0.1:0 with a temp data dir, and
//! clients that sign requests like phones and terminals do.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use wayfare_protocol::ids::payment_idempotency_key;
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::money::Currency;
use wayfare_server::{start_with, RunningServer, ServerConfig, ServerOptions};

pub mod days;
pub mod guardians;

pub use wayfare_testkit::now_ms;
pub use wayfare_testkit::signed::{client, read, SignedClient};
use wayfare_testkit::sse::SseReader;

/// The databases to run a test on: the default SQLite file, plus, when
/// WAYFARE_TEST_DATABASE_URL names a PostgreSQL cluster, a database of the
/// test's own in it (see [`isolated_database`]).
pub fn database_urls() -> Vec<Option<String>> {
    let mut urls = vec![None];
    if let Ok(url) = std::env::var("WAYFARE_TEST_DATABASE_URL") {
        if !url.is_empty() {
            urls.push(Some(isolated_database(&url)));
        }
    }
    urls
}

/// A fresh PostgreSQL database for a test that only makes sense there
/// (several nodes, row locks), or `None` (said on stderr) when
/// WAYFARE_TEST_DATABASE_URL names no cluster.
pub fn postgres_only() -> Option<String> {
    match std::env::var("WAYFARE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(isolated_database(&url)),
        _ => {
            eprintln!("skipped: WAYFARE_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A fresh, empty database in the cluster of `url`, for one test: tests
/// run in parallel, and servers sharing one database would see each
/// other's rows (one test's outbox delivering another's billing export).
/// Servers a test starts on the same URL still share it, as nodes do.
pub fn isolated_database(url: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "wt_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let base = url.to_string();
    let created = name.clone();
    // Called from inside the tests' runtimes: create it on a thread of
    // its own with a runtime of its own.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
            // The name is ours (digits and underscores), never input.
            let create = format!("CREATE DATABASE {created}");
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        })
    })
    .join()
    .unwrap();
    match url.rsplit_once('/') {
        Some((cluster, _)) => format!("{cluster}/{name}"),
        None => url.to_string(),
    }
}

pub struct TestServer {
    pub server: RunningServer,
    pub dir: TempDir,
    pub http: reqwest::Client,
    pub base: String,
    pub admin: String,
    /// `None`: the SQLite file in `dir`.
    pub database_url: Option<String>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    pub async fn start_with(database_url: Option<String>) -> Self {
        Self::start_with_options(database_url, ServerOptions::default()).await
    }

    pub async fn start_with_options(database_url: Option<String>, options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = start_with(
            ServerConfig {
                data_dir: dir.path().to_path_buf(),
                listen: "127.0.0.1:0".parse().unwrap(),
                database_url: database_url.clone(),
                tls: None,
            },
            options,
        )
        .await
        .unwrap();
        let base = server.base_url();
        let admin = server.admin_token();
        Self {
            server,
            dir,
            http: client(),
            base,
            admin,
            database_url,
        }
    }

    /// Shuts the server down and starts it again on the same data
    /// directory, database and port: what a test finds after a restart.
    pub async fn restart(self) -> Self {
        let addr = self.server.addr();
        let TestServer {
            server,
            dir,
            database_url,
            ..
        } = self;
        server.shutdown().await;
        let again = wayfare_server::start(ServerConfig {
            data_dir: dir.path().to_path_buf(),
            listen: addr,
            database_url: database_url.clone(),
            tls: None,
        })
        .await
        .unwrap();
        Self {
            base: again.base_url(),
            admin: again.admin_token(),
            server: again,
            dir,
            http: client(),
            database_url,
        }
    }

    /// A connection pool on the server's database, for a test to look at
    /// (or age) rows the API does not show.
    pub async fn database(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.dir.path().join("wayfare.db").display()
            )
        });
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.unwrap()).await
    }

    /// The test kit's signed client of this server.
    pub fn api(&self) -> SignedClient {
        SignedClient {
            http: self.http.clone(),
            base: self.base.clone(),
        }
    }

    /// A POST of the JSON `body` to `path`, signed by `terminal`.
    pub async fn terminal_post(
        &self,
        terminal: &Terminal,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let (key, id) = (&terminal.key, &terminal.terminal_id);
        self.api()
            .send(key, id, Method::POST, path, body.as_bytes(), &[])
            .await
    }

    /// `terminal`'s payment event stream, resumed after `last_id` if given.
    pub async fn terminal_events(&self, terminal: &Terminal, last_id: Option<&str>) -> SseReader {
        let (key, id) = (&terminal.key, &terminal.terminal_id);
        self.api()
            .events(key, id, "/v1/terminals/me/events", last_id)
            .await
    }

    pub async fn merchant(&self, currency: &str) -> Merchant {
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/merchants",
                Some(json!({"name": "Corner Café", "currency": currency})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Merchant {
            merchant_id: body["merchant_id"].as_str().unwrap().into(),
            account_id: body["account_id"].as_str().unwrap().into(),
        }
    }

    pub async fn terminal(&self, merchant: &Merchant) -> Terminal {
        self.register_terminal(merchant, json!({"kind": "pos", "label": "till 1"}))
            .await
    }

    /// Registers a terminal of `merchant` with a fresh key; `fields` (an
    /// object) gives its kind and the rest of the request.
    pub async fn register_terminal(&self, merchant: &Merchant, fields: Value) -> Terminal {
        let key = SigningKey::generate().unwrap();
        let mut request = json!({"merchant_id": merchant.merchant_id,
            "terminal_key": key.public_key().to_base64()});
        for (name, value) in fields.as_object().unwrap() {
            request[name] = value.clone();
        }
        let (status, body) = self
            .admin(Method::POST, "/v1/terminals", Some(request))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Terminal {
            terminal_id: body["terminal_id"].as_str().unwrap().into(),
            merchant_id: merchant.merchant_id.clone(),
            certificate: body["certificate"].as_str().unwrap().into(),
            key,
        }
    }

    pub async fn phone(&self, currency: &str) -> Phone {
        self.phone_numbered(currency, "+8613800138000").await
    }

    pub async fn phone_numbered(&self, currency: &str, number: &str) -> Phone {
        let key = SigningKey::generate().unwrap();
        let registration =
            json!({"display_name": "Ada", "phone_number": number, "currency": currency});
        let answer = self.api().register(&key, registration).await;
        Phone {
            key,
            device_id: answer["device_id"].as_str().unwrap().into(),
            account_id: answer["account_id"].as_str().unwrap().into(),
            handle: answer["handle"].as_str().unwrap().into(),
            currency: currency.into(),
        }
    }

    pub async fn top_up(&self, account_id: &str, amount: u64, currency: &str) -> Value {
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/sandbox/top-ups",
                Some(
                    json!({"account_id": account_id, "amount_minor": amount, "currency": currency}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Pays: returns (status, body, idempotency key).
    pub async fn pay(
        &self,
        phone: &Phone,
        instruction: &PaymentInstruction,
        idem: &str,
    ) -> (StatusCode, Value) {
        let body = json!({"instruction": instruction.to_base64()}).to_string();
        self.api()
            .send(
                &phone.key,
                &phone.device_id,
                Method::POST,
                "/v1/payments",
                body.as_bytes(),
                &[("idempotency-key", idem)],
            )
            .await
    }

    pub async fn ledger_check(&self) -> Value {
        let (status, body) = self.admin(Method::GET, "/v1/ledger/check", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn balance(&self, account_id: &str) -> i64 {
        let (status, body) = self
            .admin(Method::GET, &format!("/v1/accounts/{account_id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance_minor"].as_i64().unwrap()
    }
}

pub struct Merchant {
    pub merchant_id: String,
    pub account_id: String,
}

pub struct Terminal {
    pub terminal_id: String,
    pub merchant_id: String,
    pub certificate: String,
    pub key: SigningKey,
}

pub struct Phone {
    pub key: SigningKey,
    pub device_id: String,
    pub account_id: String,
    pub handle: String,
    pub currency: String,
}

impl Phone {
    /// An instruction for `order_id` at `terminal`, with its idempotency key.
    pub fn instruction(
        &self,
        terminal: &Terminal,
        order_id: &str,
        amount: u64,
    ) -> (PaymentInstruction, String) {
        self.instruction_expiring(terminal, order_id, amount, now_ms() + 60_000)
    }

    pub fn instruction_expiring(
        &self,
        terminal: &Terminal,
        order_id: &str,
        amount: u64,
        expires_at_ms: u64,
    ) -> (PaymentInstruction, String) {
        self.instruction_with_fare(terminal, order_id, amount, expires_at_ms, None)
    }

    pub fn instruction_with_fare(
        &self,
        terminal: &Terminal,
        order_id: &str,
        amount: u64,
        expires_at_ms: u64,
        fare: Option<wayfare_protocol::fare::FareContext>,
    ) -> (PaymentInstruction, String) {
        self.instruction_signed(terminal, order_id, amount, expires_at_ms, fare, 0)
    }

    /// An instruction spending `points` loyalty points.
    pub fn instruction_with_points(
        &self,
        terminal: &Terminal,
        order_id: &str,
        amount: u64,
        points: u64,
    ) -> (PaymentInstruction, String) {
        self.instruction_signed(terminal, order_id, amount, now_ms() + 60_000, None, points)
    }

    fn instruction_signed(
        &self,
        terminal: &Terminal,
        order_id: &str,
        amount: u64,
        expires_at_ms: u64,
        fare: Option<wayfare_protocol::fare::FareContext>,
        points_spent: u64,
    ) -> (PaymentInstruction, String) {
        let idem = payment_idempotency_key(&self.account_id, &terminal.terminal_id, order_id);
        let body = InstructionBody {
            version: 1,
            account_id: self.account_id.clone(),
            device_id: self.device_id.clone(),
            idempotency_key: idem.clone(),
            order_id: order_id.into(),
            merchant_id: terminal.merchant_id.clone(),
            terminal_id: terminal.terminal_id.clone(),
            amount_minor: amount,
            currency: Currency::parse(&self.currency).unwrap(),
            description: "coffee".into(),
            fare,
            expires_at_ms,
            signed_at_ms: now_ms(),
            points_spent,
        };
        (PaymentInstruction::sign(&self.key, &body).unwrap(), idem)
    }
}

/// A merchant, one terminal and a phone holding `balance`.
pub async fn shop(server: &TestServer, balance: u64) -> (Merchant, Terminal, Phone) {
    let merchant = server.merchant("CNY").await;
    let terminal = server.terminal(&merchant).await;
    let phone = server.phone("CNY").await;
    if balance > 0 {
        server.top_up(&phone.account_id, balance, "CNY").await;
    }
    (merchant, terminal, phone)
}
