//! The payment flow end to end inside the core: fake terminal, fake
//! control center, real store.

use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::messages::{Done, DoneOutcome, SessionMessage};

use crate::clock::now_ms;
use crate::testing::{
    config, dead_url, manual, preregister, request, spawn_server, spawn_terminal, wallet, Keys,
    PayMode, TERMINAL_ID,
};
use crate::{DoneKind, InMemoryKeyStore, Wallet, WalletError};

/// A terminal that sends one request, then answers a receipt with
/// `on_receipt` and a decline with `Cancelled`; returns what the phone sent.
async fn terminal(
    keys: &Keys,
    order: &str,
    on_receipt: DoneOutcome,
) -> (u16, tokio::task::JoinHandle<SessionMessage>) {
    let cert = keys.certificate(&keys.operator, TERMINAL_ID);
    let terminal_key = SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let receipt_key: PublicKey = keys.receipt.public_key();
    let req = request(order, 250, now_ms() + 60_000);
    spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        t.send(SessionMessage::PaymentRequest(req.clone()))
            .await
            .unwrap();
        let answer = t.recv().await.unwrap();
        let outcome = match &answer {
            SessionMessage::Receipt { receipt } => {
                let body = receipt.verify(&receipt_key).unwrap();
                body.matches(&req).unwrap();
                on_receipt
            }
            _ => DoneOutcome::Cancelled,
        };
        t.send(SessionMessage::Done(Done {
            outcome,
            message: "done".into(),
        }))
        .await
        .unwrap();
        answer
    })
    .await
}

#[tokio::test]
async fn confirm_pays_stores_the_receipt_and_hands_it_to_the_terminal() {
    let keys = Keys::new();
    let server = spawn_server(&keys, PayMode::Pay).await;
    let (port, term) = terminal(&keys, "ord_ok", DoneOutcome::Accepted).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &server.url, &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    let outcome = session.confirm().await.unwrap();
    assert_eq!(outcome.amount_minor, 250);
    assert_eq!(outcome.balance_after_minor, 750);
    assert_eq!(
        outcome.terminal_done.as_ref().unwrap().outcome,
        DoneKind::Accepted
    );
    assert!(matches!(
        term.await.unwrap(),
        SessionMessage::Receipt { .. }
    ));
    let receipts = w.payments().receipts(10).unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].payment_id, outcome.payment_id);
    assert_eq!(receipts[0].order_id, "ord_ok");
    assert_eq!(w.payments().pending_count().unwrap(), 0);
    assert_eq!(server.state.lock().unwrap().posts, 1);
}

#[tokio::test]
async fn terminal_refusal_after_payment_is_typed_and_the_receipt_is_kept() {
    let keys = Keys::new();
    let server = spawn_server(&keys, PayMode::Pay).await;
    let (port, _term) = terminal(&keys, "ord_refused", DoneOutcome::Refused).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &server.url, &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    let err = session.confirm().await.unwrap_err();
    assert!(
        matches!(err, WalletError::TerminalRefused { .. }),
        "{err:?}"
    );
    assert_eq!(w.payments().receipts(10).unwrap().len(), 1);
}

#[tokio::test]
async fn insufficient_funds_fails_the_intent_and_declines() {
    let keys = Keys::new();
    let server = spawn_server(&keys, PayMode::Fail(402, "insufficient_funds")).await;
    let (port, term) = terminal(&keys, "ord_poor", DoneOutcome::Accepted).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &server.url, &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    assert_eq!(
        session.confirm().await,
        Err(WalletError::InsufficientFunds {
            balance_minor: Some(1_000),
            amount_minor: 250
        })
    );
    assert!(matches!(
        term.await.unwrap(),
        SessionMessage::Decline { .. }
    ));
    assert_eq!(w.payments().pending_count().unwrap(), 0);
    // A failed intent is not re-sent by settlement.
    assert!(w.payments().settle_pending().await.unwrap().is_empty());
    assert_eq!(server.state.lock().unwrap().posts, 1);
}

#[tokio::test]
async fn network_down_leaves_the_payment_pending_and_open_settles_it_once() {
    let keys = Keys::new();
    let (port, term) = terminal(&keys, "ord_offline", DoneOutcome::Accepted).await;
    let dir = tempfile::tempdir().unwrap();
    let key_store = InMemoryKeyStore::new();
    preregister(dir.path(), &key_store).await;

    // First run: the control center is unreachable.
    let w = Wallet::new(config(dir.path(), &dead_url(), &keys), key_store.clone()).unwrap();
    w.open().await.unwrap();
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    let err = session.confirm().await.unwrap_err();
    assert!(matches!(err, WalletError::PaymentPending { .. }), "{err:?}");
    assert!(err.to_string().contains("settled automatically"));
    assert!(err.to_string().contains("not be charged twice"));
    // An unknown outcome is never a decline: the terminal hears "pending".
    match term.await.unwrap() {
        SessionMessage::PaymentPending { order_id } => assert_eq!(order_id, "ord_offline"),
        other => panic!("expected PaymentPending, got {other:?}"),
    }
    assert_eq!(w.payments().pending_count().unwrap(), 1);
    w.close().await;
    drop(session);
    drop(w);

    // Second run: the server is back; it never saw the first attempt.
    let server = spawn_server(&keys, PayMode::Pay).await;
    let w = Wallet::new(config(dir.path(), &server.url, &keys), key_store.clone()).unwrap();
    let report = w.open().await.unwrap();
    assert_eq!(report.still_pending, 0);
    assert_eq!(report.settled.len(), 1);
    assert_eq!(report.settled[0].receipt.order_id, "ord_offline");
    assert!(report.settled[0].terminal_done.is_none());
    assert_eq!(w.payments().receipts(10).unwrap().len(), 1);
    assert!(w.payments().settle_pending().await.unwrap().is_empty());
    assert_eq!(server.state.lock().unwrap().posts, 1);
}

#[tokio::test]
async fn lost_response_is_recovered_with_the_same_key_and_charged_once() {
    let keys = Keys::new();
    let server = spawn_server(&keys, PayMode::CommitThenFail).await;
    let (port, _term) = terminal(&keys, "ord_lost", DoneOutcome::Accepted).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &server.url, &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    assert!(matches!(
        session.confirm().await,
        Err(WalletError::PaymentPending { .. })
    ));
    assert_eq!(w.payments().pending_count().unwrap(), 1);
    // Still failing: stays pending.
    assert!(w.payments().settle_pending().await.unwrap().is_empty());
    assert_eq!(w.payments().pending_count().unwrap(), 1);

    server.state.lock().unwrap().mode = PayMode::Pay;
    let settled = w.payments().settle_pending().await.unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].balance_after_minor, 750);
    let state = server.state.lock().unwrap();
    assert_eq!(state.balance, 750, "charged exactly once");
    assert_eq!(state.results.len(), 1);
    // The session retried the same instruction before giving up, then the
    // two settlements sent it once each.
    assert!(state.posts >= 4, "posts: {}", state.posts);
    drop(state);
    assert_eq!(w.payments().pending_count().unwrap(), 0);
}

#[tokio::test]
async fn paying_the_same_order_again_reuses_the_recorded_instruction() {
    let keys = Keys::new();
    let server = spawn_server(&keys, PayMode::CommitThenFail).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &server.url, &keys, true).await;

    let (port, _term) = terminal(&keys, "ord_same", DoneOutcome::Accepted).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    assert!(matches!(
        session.confirm().await,
        Err(WalletError::PaymentPending { .. })
    ));

    // The rider taps again; the terminal asks for the same order.
    server.state.lock().unwrap().mode = PayMode::Pay;
    let (port, term) = terminal(&keys, "ord_same", DoneOutcome::Accepted).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    let outcome = session.confirm().await.unwrap();
    assert!(matches!(
        term.await.unwrap(),
        SessionMessage::Receipt { .. }
    ));
    assert_eq!(outcome.balance_after_minor, 750);
    let state = server.state.lock().unwrap();
    assert_eq!(state.balance, 750, "charged exactly once");
    assert_eq!(state.results.len(), 1);
    drop(state);
    assert_eq!(w.payments().pending_count().unwrap(), 0);
    assert_eq!(w.payments().receipts(10).unwrap().len(), 1);
    assert!(outcome.summary().contains("€2.50"));
}
