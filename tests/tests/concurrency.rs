//! Money under concurrency: 50 payments race from one account that can
//! afford 10. Exactly 10 succeed, the rest are refused, the ledger balances.

use std::sync::Arc;

use serde_json::Value;
use wayfare_cli::local::{LocalSystem, TerminalOptions};
use wayfare_protocol::ids::{new_id, payment_idempotency_key};
use wayfare_protocol::instruction::InstructionBody;
use wayfare_protocol::money::Currency;
use wayfare_testkit::now_ms;
use wayfare_testkit::signed::SignedDevice;

/// Pays `amount_minor` CNY at `terminal_id` from `device` (the test kit's
/// device written on the protocol crate, so 50 instructions can be sent at
/// once: a wallet serves one terminal session at a time).
async fn pay(
    device: &SignedDevice,
    merchant_id: &str,
    terminal_id: &str,
    amount_minor: u64,
) -> (u16, Value) {
    let order_id = new_id("ord").unwrap();
    let body = InstructionBody {
        version: 1,
        account_id: device.account_id.clone(),
        device_id: device.device_id.clone(),
        idempotency_key: payment_idempotency_key(&device.account_id, terminal_id, &order_id),
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
    let (status, answer) = device.pay(&body).await;
    (status.as_u16(), answer)
}

async fn fifty_payments_ten_affordable(system: LocalSystem) {
    let cafe = system.merchant("Corner Café", "CNY").await.unwrap();
    let pos = system
        .pos_terminal(&cafe, "CNY", TerminalOptions::default())
        .await
        .unwrap();
    let device = Arc::new(SignedDevice::register(system.base_url(), "Racer").await);
    system
        .admin()
        .sandbox_top_up(&device.account_id, 1_000, "CNY")
        .await
        .unwrap();

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let device = device.clone();
            let (m, t) = (cafe.merchant_id.clone(), pos.terminal_id().to_string());
            tokio::spawn(async move { pay(&device, &m, &t, 100).await })
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
