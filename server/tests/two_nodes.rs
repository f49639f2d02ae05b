//! Two control-center nodes on one PostgreSQL database, as behind a load
//! balancer (issue 11.6): a payment made through one node reaches the
//! guardian whose event stream is held by the other (PostgreSQL
//! `LISTEN/NOTIFY`, decision 0017), and replay protection, idempotency and
//! the order-once rule hold across the nodes. Runs only when
//! WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::guardians::flat_fare;
use common::{now_ms, postgres_only, read, TestServer};
use reqwest::StatusCode;
use wayfare_protocol::request_auth::sign_request;

#[tokio::test]
async fn a_payment_through_one_node_alerts_the_guardian_on_the_other() {
    let Some(url) = postgres_only() else {
        return;
    };
    let a = TestServer::start_with(Some(url.clone())).await;
    let b = TestServer::start_with(Some(url)).await;

    // Everything is set up through node A; the nodes share the keys only
    // through the database (each has its own data dir), so the rider's
    // device and bindings are A's rows, read by B.
    let rider = a.phone("CNY").await;
    let guardian = a.phone("CNY").await;
    a.top_up(&rider.account_id, 10_000, "CNY").await;
    a.bind(&rider, &guardian, "transit_only").await;
    let tram_co = a.merchant("CNY").await;
    let tram = a.tram_terminal(&tram_co, "Central", 0).await;

    // The guardian's phone holds its stream on node B; the rider pays on A.
    let mut on_b = b.device_stream(&guardian, None).await;
    let (ins, idem) = rider.instruction_with_fare(
        &tram,
        "ride-1",
        200,
        now_ms() + 60_000,
        Some(flat_fare("Central", 4)),
    );
    let (status, paid) = a.pay(&rider, &ins, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let alert = on_b.next().await;
    assert_eq!(alert.event, "guardian.alert");
    assert_eq!(alert.data["amount_minor"], 200);

    // The same instruction through node B is the same payment, not a second.
    let (status, again) = b.pay(&rider, &ins, &idem).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["payment_id"], paid["payment_id"]);
    assert_eq!(b.balance(&rider.account_id).await, 9_800);
    let check = b.ledger_check().await;
    assert_eq!(check["sum_minor"], 0, "{check}");

    // A signed request replayed to the other node is still a replay.
    let sig = sign_request(
        &rider.key,
        &rider.device_id,
        "GET",
        "/v1/wallet",
        b"",
        now_ms(),
    )
    .unwrap();
    let mut answers = Vec::new();
    for node in [&a, &b] {
        let mut req = node.http.get(node.url("/v1/wallet"));
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        answers.push(read(req.send().await.unwrap()).await);
    }
    assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
    assert_eq!(answers[1].0, StatusCode::UNAUTHORIZED, "{}", answers[1].1);
    assert_eq!(answers[1].1["error"]["code"], "replayed_request");
}
