//! Durability under load (issue 11): the control center process is killed
//! with SIGKILL in the middle of a payment load and started again on the
//! same database; every request whose answer was lost is sent again (the
//! same signed instruction). Then every payment acknowledged before the
//! kill is there, no idempotency key is charged twice, and the ledger sums
//! to zero. On SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, read, Phone, SignedClient, Terminal};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::SigningKey;
use wayfare_testkit::signed::sign;

const RIDERS: usize = 8;
const FUNDS: u64 = 1_000_000;
const AMOUNT: u64 = 100;
/// Payments acknowledged before the kill.
const BEFORE_KILL: usize = 120;

/// A `wayfare-server` process.
struct Process {
    child: tokio::process::Child,
    api: Api,
}

/// The process's HTTP API, as the operator and the riders' phones call it.
#[derive(Clone)]
struct Api {
    signed: SignedClient,
    admin: String,
}

impl Process {
    async fn start(data: &Path, database_url: Option<&str>) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfare-server"));
        cmd.arg("--data-dir")
            .arg(data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let child = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{base}/v1/health")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let admin = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_string();
        Self {
            child,
            api: Api {
                signed: SignedClient { http, base },
                admin,
            },
        }
    }

    fn kill(&mut self) {
        // SIGKILL: no shutdown hook runs, nothing is flushed on the way out.
        self.child.start_kill().unwrap();
    }
}

impl Api {
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .signed
            .http
            .request(method, self.signed.url(path))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let (status, body) = read(req.send().await.unwrap()).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// A device-signed request; `Err` when no answer came back.
    async fn device(
        &self,
        phone: &Phone,
        method: Method,
        path: &str,
        body: &[u8],
        idem: Option<&str>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut req = self
            .signed
            .http
            .request(method.clone(), self.signed.url(path))
            .timeout(Duration::from_secs(10))
            .body(body.to_vec());
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        if let Some(idem) = idem {
            req = req.header("idempotency-key", idem);
        }
        let (key, key_id) = (&phone.key, &phone.device_id);
        let req = sign(req, key, key_id, method.as_str(), path, body);
        let response = req.send().await?;
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    async fn phone(&self) -> Phone {
        let key = SigningKey::generate().unwrap();
        let registration = json!({"display_name": "Rider", "currency": "CNY"});
        let answer = self.signed.register(&key, registration).await;
        let phone = Phone {
            key,
            device_id: answer["device_id"].as_str().unwrap().into(),
            account_id: answer["account_id"].as_str().unwrap().into(),
            handle: answer["handle"].as_str().unwrap().into(),
            currency: "CNY".into(),
        };
        self.admin(
            Method::POST,
            "/v1/sandbox/top-ups",
            Some(json!({"account_id": phone.account_id, "amount_minor": FUNDS, "currency": "CNY"})),
        )
        .await;
        phone
    }

    async fn balance(&self, account_id: &str) -> i64 {
        self.admin(Method::GET, &format!("/v1/accounts/{account_id}"), None)
            .await["balance_minor"]
            .as_i64()
            .unwrap()
    }
}

/// One payment of the load: the signed instruction (re-sent unchanged
/// when its answer was lost) and what became of it.
struct Sent {
    rider: usize,
    idem: String,
    body: String,
    payment_id: Option<String>,
}

async fn pay(server: &Api, phone: &Phone, sent: &Sent) -> Option<(StatusCode, Value)> {
    server
        .device(
            phone,
            Method::POST,
            "/v1/payments",
            sent.body.as_bytes(),
            Some(&sent.idem),
        )
        .await
        .ok()
}

async fn killed_mid_load(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut process = Process::start(dir.path(), database_url.as_deref()).await;
    let server = process.api.clone();
    let merchant = server
        .admin(
            Method::POST,
            "/v1/merchants",
            Some(json!({"name": "Durable Café", "currency": "CNY"})),
        )
        .await;
    let terminal_key = SigningKey::generate().unwrap();
    let registered = server
        .admin(
            Method::POST,
            "/v1/terminals",
            Some(
                json!({"merchant_id": merchant["merchant_id"], "kind": "pos",
                "terminal_key": terminal_key.public_key().to_base64(), "label": "till"}),
            ),
        )
        .await;
    let terminal = Arc::new(Terminal {
        terminal_id: registered["terminal_id"].as_str().unwrap().into(),
        merchant_id: merchant["merchant_id"].as_str().unwrap().into(),
        certificate: registered["certificate"].as_str().unwrap().into(),
        key: terminal_key,
    });
    let mut phones = Vec::new();
    for _ in 0..RIDERS {
        phones.push(server.phone().await);
    }
    let phones = Arc::new(phones);

    // The load: one client per rider, each paying until the server dies.
    let acked = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let ledger: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let mut clients = Vec::new();
    for rider in 0..RIDERS {
        let (phones, acked, dead, ledger) =
            (phones.clone(), acked.clone(), dead.clone(), ledger.clone());
        let (terminal, view) = (terminal.clone(), server.clone());
        clients.push(tokio::spawn(async move {
            let phone = &phones[rider];
            let mut n = 0;
            while !dead.load(Ordering::SeqCst) {
                n += 1;
                let (instruction, idem): (PaymentInstruction, String) =
                    phone.instruction(&terminal, &format!("d-{rider}-{n}"), AMOUNT);
                let mut sent = Sent {
                    rider,
                    idem,
                    body: json!({"instruction": instruction.to_base64()}).to_string(),
                    payment_id: None,
                };
                match pay(&view, phone, &sent).await {
                    Some((status, body)) if status == StatusCode::CREATED => {
                        sent.payment_id = body["payment_id"].as_str().map(str::to_string);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Some((status, body)) => panic!("payment refused: {status} {body}"),
                    None => {} // the answer was lost: re-sent after the restart
                }
                ledger.lock().unwrap().push(sent);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < BEFORE_KILL {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    process.kill();
    dead.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let before_kill = acked.load(Ordering::SeqCst);

    // Restart on the same data and database; re-send what was not answered.
    let _ = process.child.wait().await;
    let restarted = Process::start(dir.path(), database_url.as_deref()).await;
    let server = restarted.api.clone();
    let mut sent = std::mem::take(&mut *ledger.lock().unwrap());
    let mut recovered = 0;
    for s in sent.iter_mut().filter(|s| s.payment_id.is_none()) {
        let (status, body) = pay(&server, &phones[s.rider], s).await.expect("answer");
        match status {
            // Committed before the kill (its answer was lost) or now.
            StatusCode::OK | StatusCode::CREATED => {
                s.payment_id = body["payment_id"].as_str().map(str::to_string);
                recovered += 1;
            }
            other => panic!("a re-sent payment was refused: {other} {body}"),
        }
    }

    // Every acknowledged payment is there, once, under its key.
    for s in &sent {
        let (status, body) = server
            .device(
                &phones[s.rider],
                Method::GET,
                &format!("/v1/payments/{}", s.idem),
                b"",
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["payment_id"].as_str(), s.payment_id.as_deref());
    }
    let check = server.admin(Method::GET, "/v1/ledger/check", None).await;
    assert_eq!(check["sum_minor"], 0, "{check}");
    assert_eq!(check["balance_mismatches"], 0, "{check}");
    for (rider, phone) in phones.iter().enumerate() {
        let paid = sent.iter().filter(|s| s.rider == rider).count() as i64;
        assert_eq!(
            server.balance(&phone.account_id).await,
            FUNDS as i64 - paid * AMOUNT as i64,
            "rider {rider}: each payment charged exactly once"
        );
    }
    let merchant_balance = server
        .balance(merchant["account_id"].as_str().unwrap())
        .await;
    assert_eq!(merchant_balance, sent.len() as i64 * AMOUNT as i64);
    assert!(before_kill >= BEFORE_KILL);
    eprintln!(
        "killed after {before_kill} acknowledged payments; {recovered} lost answers re-sent; {} payments in all",
        sent.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_load_loses_no_acknowledged_payment_and_charges_none_twice() {
    for url in common::database_urls() {
        killed_mid_load(url).await;
    }
}
