//! Sessions against a fake terminal written with the protocol crate.

use std::sync::{Arc, Mutex};

use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{
    Done, DoneOutcome, HandshakeMessage, PaymentRequest, SessionMessage,
};

use crate::clock::now_ms;
use crate::listener::{ListenerError, WalletListener};
use crate::payments::{PaymentFailure, PaymentOutcome};
use crate::session::PaymentRequestInfo;
use crate::testing::{dead_url, manual, request, spawn_terminal, wallet, Keys, TERMINAL_ID};
use crate::{DoneKind, TerminalKind, WalletError};

fn done(outcome: DoneOutcome, message: &str) -> SessionMessage {
    SessionMessage::Done(Done {
        outcome,
        message: message.into(),
    })
}

/// A terminal certified by `keys` that offers `offer`, answers the phone's
/// first message with `farewell` and returns that message.
async fn offering(
    keys: &Keys,
    offer: PaymentRequest,
    farewell: SessionMessage,
) -> (u16, tokio::task::JoinHandle<SessionMessage>) {
    let cert = keys.certificate(&keys.operator, TERMINAL_ID);
    let terminal_key = SigningKey::from_seed(keys.terminal.seed()).unwrap();
    spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        t.send(SessionMessage::PaymentRequest(offer)).await.unwrap();
        let answer = t.recv().await.unwrap();
        t.send(farewell).await.unwrap();
        answer
    })
    .await
}

#[tokio::test]
async fn handshake_request_and_decline() {
    let keys = Keys::new();
    let terminal_key = keys.terminal.public_key();
    // Registered wallet, but no identity step asked for: nothing about the
    // rider is sent; the phone's first message is its decline.
    let offer = request("ord_1", 250, now_ms() + 60_000);
    let farewell = done(DoneOutcome::Cancelled, "Cancelled by the rider");
    let (port, terminal) = offering(&keys, offer, farewell).await;

    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    let info = session.terminal();
    assert_eq!(info.terminal_id, TERMINAL_ID);
    assert_eq!(info.merchant_name, "Corner Café");
    assert_eq!(info.kind, TerminalKind::Pos);
    assert_eq!(info.key_id, terminal_key.key_id());

    let req = session.next_payment_request().await.unwrap();
    assert_eq!(req.order_id, "ord_1");
    assert_eq!(req.amount_minor, 250);
    assert_eq!(req.formatted_amount, "€2.50");
    // Asking again returns the same request.
    assert_eq!(session.next_payment_request().await.unwrap(), req);

    let end = session.decline("changed my mind".into()).await.unwrap();
    assert_eq!(end.outcome, DoneKind::Cancelled);
    assert_eq!(
        terminal.await.unwrap(),
        SessionMessage::Decline {
            reason: "changed my mind".into()
        }
    );
    assert_eq!(w.payments().pending_count().unwrap(), 0);
    // The session is over.
    assert!(matches!(
        session.confirm().await,
        Err(WalletError::SessionFailed { .. })
    ));
}

#[tokio::test]
async fn rogue_certificate_is_refused_before_any_payment_request() {
    let keys = Keys::new();
    let rogue = wayfare_protocol::keys::SigningKey::generate().unwrap();
    let cert = keys.certificate(&rogue, TERMINAL_ID);
    let terminal_key = wayfare_protocol::keys::SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let (port, terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        // The phone must hang up without sending anything encrypted.
        let _ = t
            .send(SessionMessage::PaymentRequest(request(
                "ord_1",
                250,
                now_ms() + 60_000,
            )))
            .await;
        t.recv().await
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let err = w.terminals().connect(manual(port)).await.unwrap_err();
    assert!(
        matches!(err, WalletError::TerminalUntrusted { .. }),
        "{err:?}"
    );
    assert!(
        terminal.await.unwrap().is_err(),
        "the phone sent a message to a rogue terminal"
    );
}

#[tokio::test]
async fn certificate_for_another_terminal_is_refused() {
    let keys = Keys::new();
    let cert = keys.certificate(&keys.operator, "term_other");
    let terminal_key = wayfare_protocol::keys::SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let (port, _terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        let _ = t.recv().await;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let err = w.terminals().connect(manual(port)).await.unwrap_err();
    assert!(
        matches!(err, WalletError::TerminalUntrusted { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn busy_terminal_maps_to_terminal_busy() {
    let keys = Keys::new();
    let (port, _terminal) = spawn_terminal(|mut t| async move {
        t.read_hello().await;
        t.send_handshake(HandshakeMessage::Busy {
            retry_after_ms: 1_500,
        })
        .await;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let err = w.terminals().connect(manual(port)).await.unwrap_err();
    assert_eq!(err, WalletError::TerminalBusy);
}

#[tokio::test]
async fn unreachable_terminal_is_typed() {
    let keys = Keys::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let err = w.terminals().connect(manual(port)).await.unwrap_err();
    assert!(
        matches!(err, WalletError::TerminalUnreachable { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn cancel_aborts_the_wait_for_a_request() {
    let keys = Keys::new();
    let cert = keys.certificate(&keys.operator, TERMINAL_ID);
    let terminal_key = wayfare_protocol::keys::SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (port, _terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        // Never sends a request; holds the connection until the test ends.
        let _ = released.await;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    let waiting = {
        let session = session.clone();
        tokio::spawn(async move { session.next_payment_request().await })
    };
    // On the test's current-thread runtime, yielding lets the spawned task
    // run until it blocks reading from the terminal.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    session.cancel();
    assert_eq!(waiting.await.unwrap(), Err(WalletError::Cancelled));
    assert_eq!(
        session.next_payment_request().await,
        Err(WalletError::Cancelled)
    );
    drop(release);
}

#[derive(Default)]
struct Recorder {
    requests: Mutex<Vec<PaymentRequestInfo>>,
    failures: Mutex<Vec<PaymentFailure>>,
    completed: Mutex<Vec<PaymentOutcome>>,
}

impl WalletListener for Recorder {
    fn on_payment_request(&self, request: PaymentRequestInfo) -> Result<(), ListenerError> {
        self.requests.lock().unwrap().push(request);
        Ok(())
    }
    fn on_payment_completed(&self, outcome: PaymentOutcome) -> Result<(), ListenerError> {
        self.completed.lock().unwrap().push(outcome);
        Ok(())
    }
    fn on_payment_failed(&self, failure: PaymentFailure) -> Result<(), ListenerError> {
        self.failures.lock().unwrap().push(failure);
        Ok(())
    }
    fn on_guardian_alert(&self, _alert: crate::GuardianAlert) -> Result<(), ListenerError> {
        Ok(())
    }
}

#[tokio::test]
async fn confirm_unregistered_keeps_the_session_and_expired_requests_are_refused() {
    let keys = Keys::new();
    let offer = request("ord_2", 100, now_ms() + 60_000);
    let farewell = done(DoneOutcome::Cancelled, "Cancelled");
    let (port, terminal) = offering(&keys, offer, farewell).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, false).await;
    let recorder = Arc::new(Recorder::default());
    w.set_listener(recorder.clone());
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    assert_eq!(recorder.requests.lock().unwrap().len(), 1);
    assert_eq!(session.confirm().await, Err(WalletError::NotRegistered));
    // Nothing was recorded and the session is still usable.
    assert_eq!(w.payments().pending_count().unwrap(), 0);
    session.decline("not registered".into()).await.unwrap();
    assert!(matches!(
        terminal.await.unwrap(),
        SessionMessage::Decline { .. }
    ));
}

#[tokio::test]
async fn expired_request_is_refused_locally_without_recording() {
    let keys = Keys::new();
    let offer = request("ord_3", 100, 1);
    let farewell = done(DoneOutcome::Cancelled, "Expired");
    let (port, terminal) = offering(&keys, offer, farewell).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    session.next_payment_request().await.unwrap();
    assert_eq!(session.confirm().await, Err(WalletError::RequestExpired));
    assert_eq!(w.payments().pending_count().unwrap(), 0);
    assert!(matches!(
        terminal.await.unwrap(),
        SessionMessage::Decline { .. }
    ));
}

/// What a Kotlin/Swift/Python caller does: no tokio runtime on its thread;
/// uniffi polls the future inside `async_compat` (the core's runtime).
#[tokio::test]
async fn works_from_a_foreign_thread_without_a_runtime() {
    let keys = Keys::new();
    let offer = request("ord_f", 100, now_ms() + 60_000);
    let farewell = done(DoneOutcome::Cancelled, "Cancelled");
    let (port, terminal) = offering(&keys, offer, farewell).await;
    let dir = tempfile::tempdir().unwrap();
    let config = crate::testing::config(dir.path(), &dead_url(), &keys);
    let foreign = std::thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let w = crate::Wallet::new(config, crate::InMemoryKeyStore::new()).unwrap();
        let compat = uniffi::deps::async_compat::Compat::new;
        futures::executor::block_on(compat(async {
            w.open().await.unwrap();
            let session = w.terminals().connect(manual(port)).await.unwrap();
            let req = session.next_payment_request().await.unwrap();
            let end = session.decline("no".into()).await.unwrap();
            w.close().await;
            (req.order_id, end.outcome)
        }))
    });
    let (order, outcome) = tokio::task::spawn_blocking(move || foreign.join().unwrap())
        .await
        .unwrap();
    assert_eq!(order, "ord_f");
    assert_eq!(outcome, DoneKind::Cancelled);
    assert!(matches!(
        terminal.await.unwrap(),
        SessionMessage::Decline { .. }
    ));
}

/// Issue 8.3: a terminal that types another merchant's name into its
/// request is shown (and recorded) under the name the operator certified.
#[tokio::test]
async fn the_rider_sees_the_certified_merchant_name_not_the_requests() {
    let keys = Keys::new();
    let cert = keys.certificate(&keys.operator, TERMINAL_ID);
    let terminal = wayfare_protocol::keys::SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let (port, _term) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal, &cert).await;
        let mut spoofed = request("ord_spoof", 250, now_ms() + 60_000);
        spoofed.merchant_name = "City Hospital Donations".into();
        t.send(SessionMessage::PaymentRequest(spoofed))
            .await
            .unwrap();
        let _ = t.recv().await;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let session = w.terminals().connect(manual(port)).await.unwrap();
    let req = session.next_payment_request().await.unwrap();
    assert_eq!(req.merchant_name, "Corner Café");
    assert_eq!(req.merchant_name, session.terminal().merchant_name);
}
