//! Money under concurrency: 50 payments race from one account that can
//! afford 10. Exactly 10 succeed, the rest are refused, the ledger balances.

use std::sync::Arc;

use serde_json::{json, Value};
use wayfare_cli::local::{LocalSystem, TerminalOptions};
use wayfare_protocol::ids::{new_id, payment_idempotency_key};
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::money::Currency;
use wayfare_protocol::request_auth::sign_request;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A device written on the protocol crate, so 50 instructions can be sent at
/// once (a wallet serves one terminal session at a time).
struct Device {
    key: SigningKey,
    device_id: String,
    account_id: String,
    http: reqwest::Client,
    base: String,
}

impl Device {
    async fn register(base: &str) -> Device {
        let key = SigningKey::generate().unwrap();
        let http = reqwest::Client::new();
        let body = serde_json::to_vec(
            &json!({"display_name": "Racer", "device_key": key.public_key().to_base64()}),
        )
        .unwrap();
        let answer: Value = Self::send(
            &http,
            base,
            &key,
            "register",
            "POST",
            "/v1/devices",
            body,
            None,
        )
        .await
        .1;
        Device {
            device_id: answer["device_id"].as_str().unwrap().to_string(),
            account_id: answer["account_id"].as_str().unwrap().to_string(),
            key,
            http,
            base: base.to_string(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        http: &reqwest::Client,
        base: &str,
        key: &SigningKey,
        key_id: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
        idem: Option<&str>,
    ) -> (u16, Value) {
        let sig = sign_request(key, key_id, method, path, &body, now_ms()).unwrap();
        let mut req = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        if let Some(idem) = idem {
            req = req.header("idempotency-key", idem);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn pay(&self, merchant_id: &str, terminal_id: &str, amount_minor: u64) -> (u16, Value) {
        let order_id = new_id("ord").unwrap();
        let idem = payment_idempotency_key(&self.account_id, terminal_id, &order_id);
        let body = InstructionBody {
            version: 1,
            account_id: self.account_id.clone(),
            device_id: self.device_id.clone(),
            idempotency_key: idem.clone(),
            order_id,
            merchant_id: merchant_id.into(),
            terminal_id: terminal_id.into(),
            amount_minor,
            currency: Currency::parse("CNY").unwrap(),
            description: "race".into(),
            fare: None,
            expires_at_ms: now_ms() + 60_000,
            signed_at_ms: now_ms(),
            points_spent: 0,
        };
        let instruction = PaymentInstruction::sign(&self.key, &body).unwrap();
        let json = serde_json::to_vec(&json!({"instruction": instruction.to_base64()})).unwrap();
        Self::send(
            &self.http,
            &self.base,
            &self.key,
            &self.device_id,
            "POST",
            "/v1/payments",
            json,
            Some(&idem),
        )
        .await
    }
}

async fn fifty_payments_ten_affordable(system: LocalSystem) {
    let cafe = system.merchant("Corner Café", "CNY").await.unwrap();
    let pos = system
        .pos_terminal(&cafe, "CNY", TerminalOptions::default())
        .await
        .unwrap();
    let device = Arc::new(Device::register(system.base_url()).await);
    system
        .admin()
        .sandbox_top_up(&device.account_id, 1_000, "CNY")
        .await
        .unwrap();

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let device = device.clone();
            let (m, t) = (cafe.merchant_id.clone(), pos.terminal_id().to_string());
            tokio::spawn(async move { device.pay(&m, &t, 100).await })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => ok += 1,
            402 => {
                assert_eq!(body["error"]["code"], "insufficient_funds");
                refused += 1
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ok, refused), (10, 40));
    assert_eq!(system.balance_of(&device.account_id).await, 0);
    assert_eq!(system.balance_of(&cafe.account_id).await, 1_000);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    pos.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_payments_never_overdraw_sqlite() {
    wayfare_e2e::init();
    fifty_payments_ten_affordable(LocalSystem::start().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_payments_never_overdraw_postgres() {
    wayfare_e2e::init();
    let Ok(url) = std::env::var("WAYFARE_TEST_DATABASE_URL") else {
        eprintln!("WAYFARE_TEST_DATABASE_URL not set: PostgreSQL variant skipped (scripts/test.sh sets it)");
        return;
    };
    fifty_payments_ten_affordable(LocalSystem::start_with_database(Some(url)).await.unwrap()).await;
}
