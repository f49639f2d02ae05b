//! Races that only PostgreSQL can show (SQLite runs one writer at a time):
//! a revocation meeting a payment that is alerting or prompting, and
//! concurrent refunds with one refund_id. Each test holds a row lock from
//! its own connection to stop the server's transaction at a known point,
//! polls `pg_stat_activity` until the requests under test are waiting, and
//! then lets them go. Runs only when WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::merchant_scene;

use std::sync::Arc;
use std::time::Duration;

use common::{now_ms, TestServer};
use merchant_scene::{scene, Scene};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

/// A connection of the test itself, holding row locks in an open transaction.
struct Holder {
    conn: PgConnection,
    pid: i32,
}

impl Holder {
    async fn connect(url: &str) -> Self {
        let mut conn = PgConnection::connect(url).await.unwrap();
        let pid: i32 = sqlx::query("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        Self { conn, pid }
    }

    /// Locks one row the way an `UPDATE` would (foreign-key checks pass).
    async fn lock(&mut self, table: &str, id: &str) {
        let sql = format!("SELECT id FROM {table} WHERE id = $1 FOR NO KEY UPDATE");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut self.conn)
            .await
            .unwrap();
        assert!(row.is_some(), "no {table} row {id}");
    }

    /// Drops this transaction's cached view of `pg_stat_activity`.
    /// PostgreSQL takes that view at the first read in a transaction and
    /// keeps it until the transaction ends, and the holder's transaction is
    /// open from `connect` to `release`: without this, a server connection
    /// opened (or reused by a request) after the first poll never shows up,
    /// however long the request waits on our lock. (`pg_blocking_pids` is
    /// live; only the list of sessions and their state were stale.)
    async fn clear_activity_snapshot(&mut self) {
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut self.conn)
            .await
            .unwrap();
    }

    /// How many sessions wait, directly or through another waiter, on the
    /// locks this connection holds, as of now.
    async fn waiters(&mut self) -> i64 {
        self.clear_activity_snapshot().await;
        sqlx::query(
            "WITH RECURSIVE blocked(pid) AS ( \
               SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) \
               UNION \
               SELECT a.pid FROM pg_stat_activity a JOIN blocked b \
                 ON b.pid = ANY(pg_blocking_pids(a.pid))) \
             SELECT COUNT(*) FROM blocked",
        )
        .bind(self.pid)
        .fetch_one(&mut self.conn)
        .await
        .unwrap()
        .get(0)
    }

    /// Polls until `n` sessions wait on this connection's locks, or `done`.
    async fn wait_for(&mut self, n: i64, done: impl Fn() -> bool) {
        let deadline = now_ms() + 30_000;
        while !done() && self.waiters().await < n {
            if now_ms() >= deadline {
                self.clear_activity_snapshot().await;
                let rows = sqlx::query(
                    "SELECT pid, COALESCE(state, ''), COALESCE(wait_event_type, ''), \
                     LEFT(query, 120), CAST(pg_blocking_pids(pid) AS TEXT) FROM pg_stat_activity \
                     WHERE datname = current_database()",
                )
                .fetch_all(&mut self.conn)
                .await
                .unwrap();
                let table: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {} {} {}",
                            r.get::<i32, _>(0),
                            r.get::<String, _>(1),
                            r.get::<String, _>(2),
                            r.get::<String, _>(3),
                            r.get::<String, _>(4)
                        )
                    })
                    .collect();
                panic!(
                    "{n} waiters never showed up (holder {}):\n{}",
                    self.pid,
                    table.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .unwrap();
        self.conn.close().await.unwrap();
    }
}

type Answer = tokio::task::JoinHandle<(StatusCode, Value)>;

/// Pays 100 at `till` (`payer`, `till`, order id) while the test holds the
/// terminal's row, so the payment stops after writing what it announces,
/// before it commits; then sends the revocation (`device`, method, path),
/// and waits until it too waits on the lock or has returned. Answers the
/// holder to release, the payment and the revocation.
async fn revoke_during_payment(
    url: &str,
    s: &Arc<TestServer>,
    (payer, till, order): (&Arc<common::Phone>, &Arc<common::Terminal>, &'static str),
    (device, method, path): (&Arc<common::Phone>, Method, String),
) -> (Holder, Answer, Answer) {
    let mut holder = Holder::connect(url).await;
    holder.lock("terminals", &till.terminal_id).await;
    let payment = tokio::spawn({
        let (s, payer, till) = (s.clone(), payer.clone(), till.clone());
        async move { s.pay_fare(&payer, &till, order, 100, None).await }
    });
    holder.wait_for(1, || false).await;
    let revoke = tokio::spawn({
        let (s, device) = (s.clone(), device.clone());
        async move { s.device(&device, method, &path, None).await }
    });
    holder.wait_for(2, || revoke.is_finished()).await;
    (holder, payment, revoke)
}

/// Issue 8: before, the payment read the rider's bindings without a lock,
/// so a revocation could commit and return while the payment was still
/// writing its alert, which then appeared after the revocation. Now the
/// alert either is there by the time the revocation returns, or never.
#[tokio::test]
async fn no_guardian_alert_follows_a_revocation_that_returned() {
    let Some(url) = common::postgres_only() else {
        return;
    };
    let s = Arc::new(TestServer::start_with(Some(url.clone())).await);
    let rider = Arc::new(s.phone_numbered("CNY", "+8613800131234").await);
    let guardian = s.phone("CNY").await;
    s.top_up(&rider.account_id, 1_000, "CNY").await;
    let binding = s.bind(&rider, &guardian, "all_payments").await;
    let merchant = s.merchant("CNY").await;
    let till = Arc::new(s.terminal(&merchant).await);

    // Stop the payment after it wrote its alert, before it commits.
    let revoke_path = format!("/v1/guardians/bindings/{binding}/revoke");
    let (holder, payment, revoke) = revoke_during_payment(
        &url,
        &s,
        (&rider, &till, "race-1"),
        (&rider, Method::POST, revoke_path),
    )
    .await;
    let returned_first = revoke.is_finished();
    let mut at_return = None;
    if returned_first {
        at_return = Some(s.alerts(&guardian).await.len());
    }
    holder.release().await;
    let (status, body) = revoke.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let at_return = match at_return {
        Some(n) => n,
        None => s.alerts(&guardian).await.len(),
    };
    let (status, body) = payment.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = s.alerts(&guardian).await.len();
    assert_eq!(
        at_return, after,
        "an alert appeared after the revocation returned (returned first: {returned_first})"
    );
}

/// The same for merchant prompts: before, a staff device revoked while a
/// payment was prompting got the payment's prompt after its revocation had
/// returned. Now a revoked device's stream holds no prompt of the merchant.
#[tokio::test]
async fn no_merchant_prompt_follows_a_revocation_that_returned() {
    let Some(url) = common::postgres_only() else {
        return;
    };
    let sc = scene(Some(url.clone())).await;
    let (staff, member_id) = sc.staff(&["receive_prompts"], &["amount"]).await;
    let revoke_path = sc.path(&format!("/staff/{member_id}"));
    let Scene {
        s,
        terminal,
        payer,
        owner,
        ..
    } = sc;
    let (s, terminal, payer, owner) = (
        Arc::new(s),
        Arc::new(terminal),
        Arc::new(payer),
        Arc::new(owner),
    );
    let (holder, payment, revoke) = revoke_during_payment(
        &url,
        &s,
        (&payer, &terminal, "race-2"),
        (&owner, Method::DELETE, revoke_path),
    )
    .await;
    holder.release().await;
    let (status, body) = revoke.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = payment.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let prompts: i64 = sqlx::query(
        "SELECT COUNT(*) FROM account_events WHERE account_id = $1 AND kind = 'merchant.prompt'",
    )
    .bind(staff.account_id.clone())
    .fetch_one(&mut conn)
    .await
    .unwrap()
    .get(0);
    assert_eq!(prompts, 0, "the revoked device received a prompt");
}

async fn refund(
    s: &TestServer,
    owner: &common::Phone,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    s.device(owner, Method::POST, path, Some(body)).await
}

/// Issue 8: two refunds with one refund_id at the same moment. Before, the
/// second failed on the unique index with a 500; now it answers the
/// first's result (200), and the same refund_id for another payment is a
/// 409, never a 500.
#[tokio::test]
async fn concurrent_refunds_with_one_refund_id_are_idempotent() {
    let Some(url) = common::postgres_only() else {
        return;
    };
    let sc = scene(Some(url.clone())).await;
    let paid = sc.pay("race-r1", 1_000).await;
    let other = sc.pay("race-r2", 500).await;
    let before = sc.s.balance(&sc.payer.account_id).await;
    let path = sc.path("/refunds");
    let Scene {
        s, owner, payer, ..
    } = sc;
    let (s, owner) = (Arc::new(s), Arc::new(owner));

    // Same refund_id, same payment.
    let mut holder = Holder::connect(&url).await;
    holder.lock("payments", &paid).await;
    let body = json!({"refund_id": "rr-1", "payment_id": paid, "amount_minor": 300});
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (s, owner, path, body) = (s.clone(), owner.clone(), path.clone(), body.clone());
            tokio::spawn(async move { refund(&s, &owner, &path, body).await })
        })
        .collect();
    holder
        .wait_for(2, || tasks.iter().any(|t| t.is_finished()))
        .await;
    holder.release().await;
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let mut statuses: Vec<u16> = answers.iter().map(|(st, _)| st.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{answers:?}");
    assert_eq!(answers[0].1["refund_id"], answers[1].1["refund_id"]);
    assert_eq!(answers[0].1["refunded_total_minor"], 300);
    assert_eq!(answers[1].1["refunded_total_minor"], 300);
    assert_eq!(s.balance(&payer.account_id).await, before + 300);

    // Same refund_id, two payments: one refund, one conflict.
    let mut holder = Holder::connect(&url).await;
    holder.lock("payments", &paid).await;
    holder.lock("payments", &other).await;
    let tasks: Vec<_> = [&paid, &other]
        .into_iter()
        .map(|pid| {
            let body = json!({"refund_id": "rr-2", "payment_id": pid, "amount_minor": 100});
            let (s, owner, path) = (s.clone(), owner.clone(), path.clone());
            tokio::spawn(async move { refund(&s, &owner, &path, body).await })
        })
        .collect();
    holder
        .wait_for(2, || tasks.iter().any(|t| t.is_finished()))
        .await;
    holder.release().await;
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let mut outcomes: Vec<(u16, String)> = answers
        .iter()
        .map(|(st, b)| {
            let code = b["error"]["code"].as_str().unwrap_or("").to_string();
            (st.as_u16(), code)
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [(201, String::new()), (409, "idempotency_conflict".into())],
        "{answers:?}"
    );
    assert_eq!(s.balance(&payer.account_id).await, before + 400);
    assert_eq!(s.ledger_check().await["sum_minor"], 0);
}

/// Issue 8.1: the payment server rechecks a request's expiry inside the
/// commit. A payment that arrives in time but whose transaction is held up
/// past the expiry (here: the payer's account row is locked) is refused
/// `410 request_expired` and never commits — so a terminal that waited past
/// the expiry can settle an in-doubt sale as unpaid, and a retry told `410`
/// is never followed by a charge.
#[tokio::test]
async fn a_payment_held_up_past_its_expiry_never_commits() {
    let Some(url) = common::postgres_only() else {
        return;
    };
    let server = Arc::new(TestServer::start_with(Some(url.clone())).await);
    let (merchant, terminal, phone) = common::shop(&server, 1_000).await;
    let (instruction, idem) =
        phone.instruction_expiring(&terminal, "ord-late", 250, now_ms() + 1_500);

    let mut holder = Holder::connect(&url).await;
    holder.lock("accounts", &phone.account_id).await;
    let paying = tokio::spawn({
        let server = server.clone();
        async move { server.pay(&phone, &instruction, &idem).await }
    });
    holder.wait_for(1, || paying.is_finished()).await;
    // Past the expiry while the payment waits on the lock.
    let expired = now_ms() + 1_600;
    while now_ms() <= expired {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.release().await;

    let (status, body) = paying.await.unwrap();
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"]["code"], "request_expired");
    assert_eq!(server.balance(&merchant.account_id).await, 0);
    assert_eq!(server.ledger_check().await["sum_minor"], 0);
}
