//! Over-the-air top-up, whole system (issue 12.2): the rider's core starts
//! a top-up through a checkout provider, the test plays the provider and
//! posts signed callbacks to the control center over loopback HTTP, and
//! the core's event queue yields the completion with the balance right.
//! Forged, replayed and wrong-amount callbacks are refused and move
//! nothing. On SQLite, and on PostgreSQL when WAYFARE_TEST_DATABASE_URL is
//! set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use wayfare_testkit::now_ms;

use serde_json::{json, Value};
use wayfare_cli::local::{LocalSystem, RiderWallet};
use wayfare_core::{HistoryKind, TopUp, TopUpStatus, TopUpStream, WalletError, WalletEventBody};
use wayfare_server::{sign_callback, FundingConfig, FUNDING_SIGNATURE_HEADER};

const SECRET: &str = "checkout-callback-secret-0123456789";
/// Long enough for a loaded machine; the wait ends as soon as the event
/// arrives.
const EVENT_WAIT: Duration = Duration::from_secs(60);

fn funding() -> FundingConfig {
    FundingConfig::default()
        .with_sandbox(&["CNY"])
        .with_checkout(
            "card",
            SECRET,
            "https://checkout.invalid/pay/{reference}?amount={amount_minor}",
            &["CNY"],
        )
}

fn databases() -> Vec<Option<String>> {
    let mut urls = vec![None];
    match std::env::var("WAYFARE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => urls.push(Some(url)),
        _ => eprintln!("WAYFARE_TEST_DATABASE_URL not set: PostgreSQL variant skipped"),
    }
    urls
}

/// The provider's side: posts `body` to the control center's callback URL
/// signed with `secret` at `timestamp_s`.
struct Provider {
    http: reqwest::Client,
    url: String,
}

impl Provider {
    fn new(system: &LocalSystem) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{}/v1/funding/card/callbacks", system.base_url()),
        }
    }

    async fn post(&self, body: &Value, secret: &str) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        let now = (now_ms() / 1_000) as i64;
        self.post_raw(&bytes, &sign_callback(secret.as_bytes(), now, &bytes))
            .await
    }

    async fn post_raw(&self, bytes: &[u8], signature: &str) -> (u16, Value) {
        let answer = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header(FUNDING_SIGNATURE_HEADER, signature)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("callback delivered");
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }
}

fn callback(reference: &str, provider_ref: &str, amount: u64, status: &str) -> Value {
    json!({"provider_reference": provider_ref, "reference": reference,
        "amount_minor": amount, "currency": "CNY", "status": status})
}

async fn next_outcome(stream: &TopUpStream) -> TopUp {
    tokio::time::timeout(EVENT_WAIT, stream.next())
        .await
        .expect("the top-up outcome arrives")
        .expect("top-up stream")
}

/// The queued top-up events of `rider`, acknowledged as the app would.
async fn drain_top_up_events(rider: &RiderWallet) -> Vec<WalletEventBody> {
    let events = rider.wallet.events();
    let mut bodies = Vec::new();
    for event in events.pending(100).unwrap() {
        if matches!(
            event.body,
            WalletEventBody::TopUpCompleted { .. } | WalletEventBody::TopUpFailed { .. }
        ) {
            assert!(events.acknowledge(event.event_id).await.unwrap());
            bodies.push(event.body);
        }
    }
    bodies
}

async fn a_checkout_top_up_confirmed_by_the_provider(database_url: Option<String>) {
    let system = LocalSystem::start_with_funding(database_url, funding())
        .await
        .expect("control center");
    let rider = system.rider("Mei", None).await.expect("rider");
    let account = rider.wallet.account();
    let providers = account.top_up_providers().await.unwrap();
    assert_eq!(
        providers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["card", "sandbox"]
    );
    let stream = account.top_up_stream();

    let started = account.top_up("card".into(), 5_000).await.unwrap();
    assert_eq!(started.status, TopUpStatus::Pending);
    assert_eq!(started.formatted_amount, "¥50.00");
    let reference = started.reference.clone();
    assert_eq!(
        started.checkout_url.as_deref(),
        Some(format!("https://checkout.invalid/pay/{reference}?amount=5000").as_str())
    );
    assert_eq!(rider.balance().await.unwrap(), 0);
    assert_eq!(
        account
            .top_up_status(reference.clone())
            .await
            .unwrap()
            .status,
        TopUpStatus::Pending
    );
    assert!(drain_top_up_events(&rider).await.is_empty());

    // The provider's page was paid; the test is the provider now.
    let provider = Provider::new(&system);
    let provider_ref = format!("ch_{}", &reference[3..]);
    let good = callback(&reference, &provider_ref, 5_000, "succeeded");
    // Forged (another secret), then a wrong amount: refused, nothing moves.
    let (status, refused) = provider.post(&good, "an-attacker-guessed-this-one").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (401, Some("bad_signature"))
    );
    let wrong = callback(&reference, &provider_ref, 50_000, "succeeded");
    let (status, refused) = provider.post(&wrong, SECRET).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("callback_mismatch"))
    );
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("amount_minor"));
    assert_eq!(rider.balance().await.unwrap(), 0);

    // The genuine callback confirms it; the core hears it on its stream
    // and finds it in its event queue.
    let (status, confirmed) = provider.post(&good, SECRET).await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("confirmed"))
    );
    let outcome = next_outcome(&stream).await;
    assert_eq!(outcome.reference, reference);
    assert_eq!(outcome.status, TopUpStatus::Confirmed);
    assert_eq!(outcome.amount_minor, 5_000);
    let events = drain_top_up_events(&rider).await;
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        WalletEventBody::TopUpCompleted { top_up } => {
            assert_eq!(
                (top_up.reference.as_str(), top_up.amount_minor),
                (reference.as_str(), 5_000)
            );
            assert!(top_up.top_up_id.as_deref().unwrap().starts_with("top_"));
        }
        other => panic!("expected TopUpCompleted, got {other:?}"),
    }
    assert_eq!(rider.balance().await.unwrap(), 5_000);
    let history = account.history(10).await.unwrap();
    assert_eq!(history[0].kind, HistoryKind::TopUp);
    assert_eq!(history[0].amount_minor, 5_000);

    // Replayed by the provider (the same delivery, and signed afresh): the
    // same answer, no second top-up, no second event.
    let (status, again) = provider.post(&good, SECRET).await;
    assert_eq!((status, &again), (200, &confirmed));
    assert_eq!(rider.balance().await.unwrap(), 5_000);
    assert_eq!(
        account
            .top_up_status(reference.clone())
            .await
            .unwrap()
            .status,
        TopUpStatus::Confirmed
    );
    assert!(drain_top_up_events(&rider).await.is_empty());
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);

    // A declined card: the app is told, nothing is added.
    let declined = account.top_up("card".into(), 800).await.unwrap();
    let failed = json!({"provider_reference": format!("ch_{}", &declined.reference[3..]),
        "reference": declined.reference, "amount_minor": 800, "currency": "CNY",
        "status": "failed", "reason": "card declined"});
    let (status, _) = provider.post(&failed, SECRET).await;
    assert_eq!(status, 200);
    let outcome = next_outcome(&stream).await;
    assert_eq!(
        (outcome.status, outcome.failure_reason.as_deref()),
        (TopUpStatus::Failed, Some("card declined"))
    );
    let events = drain_top_up_events(&rider).await;
    assert!(
        matches!(&events[..], [WalletEventBody::TopUpFailed { top_up }] if top_up.reference == declined.reference),
        "{events:?}"
    );
    assert_eq!(rider.balance().await.unwrap(), 5_000);

    // The sandbox provider is test money, confirmed at once; an unknown
    // provider is an error the app can act on.
    let sandbox = account.top_up("sandbox".into(), 300).await.unwrap();
    assert_eq!(
        (sandbox.status, sandbox.checkout_url),
        (TopUpStatus::Confirmed, None)
    );
    assert_eq!(rider.balance().await.unwrap(), 5_300);
    assert!(matches!(
        &drain_top_up_events(&rider).await[..],
        [WalletEventBody::TopUpCompleted { top_up }] if top_up.reference == sandbox.reference
    ));
    assert!(matches!(
        account.top_up("paypal".into(), 100).await,
        Err(WalletError::TopUpUnavailable { .. })
    ));
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    stream.cancel();
}

#[tokio::test]
async fn an_over_the_air_top_up_is_confirmed_by_a_signed_callback() {
    wayfare_e2e::init();
    for url in databases() {
        a_checkout_top_up_confirmed_by_the_provider(url).await;
    }
}
