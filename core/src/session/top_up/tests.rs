//! Kiosk top-ups on the phone: what offers and receipts are accepted, and
//! sessions against a fake top_up terminal and a fake control center.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{Done, DoneOutcome, SessionMessage, TerminalKind as WireKind};
use wayfare_protocol::money::Currency;
use wayfare_protocol::top_up::{
    TopUpClaim, TopUpOffer, TopUpOfferBody, TopUpReceipt, TopUpReceiptBody,
};

use super::{check_offer, check_receipt};
use crate::clock::now_ms;
use crate::session::{SessionError, TerminalInfo};
use crate::testing::{dead_url, manual, spawn_terminal, wallet, Keys, MERCHANT_ID, TERMINAL_ID};
use crate::{DoneKind, TapOutcome, TerminalKind, WalletError};

fn copy(key: &SigningKey) -> SigningKey {
    SigningKey::from_seed(key.seed()).unwrap()
}

/// A certificate of `kind` for `terminal_id`, held by `terminal`.
fn certificate(
    keys: &Keys,
    terminal: &SigningKey,
    terminal_id: &str,
    kind: WireKind,
) -> TerminalCertificate {
    TerminalCertificate::issue(
        &keys.operator,
        &CertificateBody {
            version: 1,
            terminal_id: terminal_id.into(),
            merchant_id: MERCHANT_ID.into(),
            merchant_name: "Station kiosk".into(),
            kind,
            terminal_key: terminal.public_key(),
            not_before_ms: 0,
            not_after_ms: now_ms() + 3_600_000,
            transit: None,
        },
    )
    .unwrap()
}

fn offer_body(cert: &TerminalCertificate, terminal_id: &str, order_id: &str) -> TopUpOfferBody {
    TopUpOfferBody {
        version: 1,
        order_id: order_id.into(),
        terminal_id: terminal_id.into(),
        merchant_id: MERCHANT_ID.into(),
        amount_minor: 2_000,
        currency: Currency::parse("EUR").unwrap(),
        created_at_ms: now_ms() - 1_000,
        expires_at_ms: now_ms() + 120_000,
        certificate: cert.clone(),
    }
}

/// What the connected terminal looks like after the handshake.
fn connected(keys: &Keys) -> TerminalInfo {
    TerminalInfo {
        terminal_id: TERMINAL_ID.into(),
        merchant_id: MERCHANT_ID.into(),
        merchant_name: "Station kiosk".into(),
        kind: TerminalKind::TopUp,
        certificate_valid_until_ms: now_ms() + 3_600_000,
        key_id: keys.terminal.public_key().key_id(),
    }
}

#[test]
fn an_offer_of_the_connected_top_up_terminal_is_accepted() {
    let keys = Keys::new();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let offer = TopUpOffer::issue(&keys.terminal, &offer_body(&cert, TERMINAL_ID, "o1")).unwrap();
    let offered = check_offer(
        offer,
        &keys.operator.public_key(),
        &connected(&keys),
        now_ms(),
    )
    .unwrap();
    let info = offered.info();
    assert_eq!((info.order_id.as_str(), info.amount_minor), ("o1", 2_000));
    assert_eq!(info.formatted_amount, "€20.00");
    assert_eq!(info.merchant_name, "Station kiosk");
}

#[test]
fn offers_not_from_the_connected_top_up_terminal_are_refused() {
    let keys = Keys::new();
    let operator = keys.operator.public_key();
    let here = connected(&keys);
    let now = now_ms();

    // Another genuine top_up terminal's offer, relayed to this session.
    let elsewhere = SigningKey::generate().unwrap();
    let cert = certificate(&keys, &elsewhere, "term_elsewhere", WireKind::TopUp);
    let relayed =
        TopUpOffer::issue(&elsewhere, &offer_body(&cert, "term_elsewhere", "o1")).unwrap();
    let err = check_offer(relayed, &operator, &here, now).unwrap_err();
    assert!(
        matches!(err, SessionError::Mismatch(m) if m.contains("another terminal")),
        "{err}"
    );

    // This terminal's id, certified for another key than the handshake's.
    let cert = certificate(&keys, &elsewhere, TERMINAL_ID, WireKind::TopUp);
    let other_key = TopUpOffer::issue(&elsewhere, &offer_body(&cert, TERMINAL_ID, "o1")).unwrap();
    let err = check_offer(other_key, &operator, &here, now).unwrap_err();
    assert!(
        matches!(err, SessionError::Mismatch(m) if m.contains("key")),
        "{err}"
    );

    // A POS terminal cannot offer top-ups.
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::Pos);
    let pos = TopUpOffer::issue(&keys.terminal, &offer_body(&cert, TERMINAL_ID, "o1")).unwrap();
    assert!(matches!(
        check_offer(pos, &operator, &here, now),
        Err(SessionError::Untrusted(_))
    ));

    // Not certified by the pinned operator.
    let rogue = Keys::new();
    let cert = certificate(&rogue, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let forged = TopUpOffer::issue(&keys.terminal, &offer_body(&cert, TERMINAL_ID, "o1")).unwrap();
    assert!(matches!(
        check_offer(forged, &operator, &here, now),
        Err(SessionError::Untrusted(_))
    ));

    // Expired.
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let mut stale = offer_body(&cert, TERMINAL_ID, "o1");
    stale.created_at_ms = now - 300_000;
    stale.expires_at_ms = now - 1_000;
    let stale = TopUpOffer::issue(&keys.terminal, &stale).unwrap();
    assert!(matches!(
        check_offer(stale, &operator, &here, now),
        Err(SessionError::Untrusted(_))
    ));
}

fn receipt_for(
    keys: &Keys,
    signer: &SigningKey,
    offer: &TopUpOfferBody,
    top_up_id: &str,
) -> String {
    TopUpReceipt::issue(
        signer,
        &TopUpReceiptBody {
            version: 1,
            top_up_id: top_up_id.into(),
            order_id: offer.order_id.clone(),
            terminal_id: offer.terminal_id.clone(),
            merchant_id: offer.merchant_id.clone(),
            payer: "pn_rider".into(),
            amount_minor: offer.amount_minor,
            currency: offer.currency.clone(),
            completed_at_ms: now_ms(),
        },
    )
    .map(|r| r.to_base64())
    .unwrap_or_else(|_| panic!("{}", keys.receipt.public_key().key_id()))
}

#[test]
fn only_the_servers_receipt_for_this_offer_is_accepted() {
    let keys = Keys::new();
    let key = keys.receipt.public_key();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let offer = offer_body(&cert, TERMINAL_ID, "o1");
    let good = receipt_for(&keys, &keys.receipt, &offer, "top_1");
    assert_eq!(
        check_receipt(&good, &key, &offer, "top_1")
            .unwrap()
            .order_id,
        "o1"
    );

    let other_order = receipt_for(
        &keys,
        &keys.receipt,
        &offer_body(&cert, TERMINAL_ID, "o2"),
        "top_1",
    );
    let err = check_receipt(&other_order, &key, &offer, "top_1").unwrap_err();
    assert!(err.contains("another top-up"), "{err}");
    let mut more = offer.clone();
    more.amount_minor = 20_000;
    let other_amount = receipt_for(&keys, &keys.receipt, &more, "top_1");
    assert!(check_receipt(&other_amount, &key, &offer, "top_1").is_err());
    let forged = receipt_for(&keys, &keys.operator, &offer, "top_1");
    assert!(check_receipt(&forged, &key, &offer, "top_1")
        .unwrap_err()
        .contains("verify"));
    assert!(check_receipt(&good, &key, &offer, "top_2").is_err());
    assert!(check_receipt("not a receipt", &key, &offer, "top_1").is_err());
}

fn done(outcome: DoneOutcome, message: &str) -> SessionMessage {
    SessionMessage::Done(Done {
        outcome,
        message: message.into(),
    })
}

/// A fake control center answering every request with `answer(body)`;
/// returns its URL and the bodies it received.
async fn fake_server(
    answer: impl Fn(&Value) -> (u16, Value) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (answer, log) = (answer.clone(), log.clone());
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let body = loop {
                    let n = tcp.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if raw.len() >= end + 4 + length {
                            break raw[end + 4..end + 4 + length].to_vec();
                        }
                    }
                };
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, reply) = answer(&body);
                log.lock().unwrap().push(body);
                let reply = reply.to_string();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = tcp.write_all(head.as_bytes()).await;
                let _ = tcp.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

/// A top_up terminal that offers `offer`, then records what the phone
/// sends until it answers `Done`.
async fn kiosk(
    keys: &Keys,
    offer: TopUpOfferBody,
) -> (u16, tokio::task::JoinHandle<Vec<SessionMessage>>) {
    let cert = offer.certificate.clone();
    let key = copy(&keys.terminal);
    spawn_terminal(move |mut t| async move {
        t.accept(&key, &cert).await;
        let signed = TopUpOffer::issue(&key, &offer).unwrap();
        t.send(SessionMessage::TopUpOffer { offer: signed })
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Ok(m) = t.recv().await {
            let end = match &m {
                SessionMessage::TopUpReceipt { .. } => {
                    Some(done(DoneOutcome::Accepted, "Receipt printed"))
                }
                SessionMessage::PaymentPending { .. } => {
                    Some(done(DoneOutcome::InDoubt, "Kept in doubt"))
                }
                SessionMessage::Decline { .. } => Some(done(DoneOutcome::Cancelled, "Declined")),
                _ => None,
            };
            got.push(m);
            if let Some(end) = end {
                let _ = t.send(end).await;
                break;
            }
        }
        got
    })
    .await
}

fn kiosk_manual(port: u16) -> crate::DiscoveredTerminal {
    crate::DiscoveredTerminal {
        kind: TerminalKind::TopUp,
        ..manual(port)
    }
}

#[tokio::test]
async fn an_accepted_offer_is_claimed_once_and_its_receipt_handed_to_the_terminal() {
    let keys = Keys::new();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let offer = offer_body(&cert, TERMINAL_ID, "cash-1");
    let (port, terminal) = kiosk(&keys, offer.clone()).await;
    let receipt_key = copy(&keys.receipt);
    let device_offer = offer.clone();
    let (url, seen) = fake_server(move |_| {
        let receipt = receipt_for(&Keys::new(), &receipt_key, &device_offer, "top_1");
        (201, json!({"top_up_id": "top_1", "receipt": receipt, "amount_minor": 2000, "currency": "EUR", "balance_minor": 2500}))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &url, &keys, true).await;
    let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();

    let tapped = session.tap().await.unwrap();
    let TapOutcome::TopUpOffered { offer: info } = tapped else {
        panic!("expected an offer: {tapped:?}")
    };
    assert_eq!(
        (info.order_id.as_str(), info.amount_minor),
        ("cash-1", 2_000)
    );
    assert_eq!(session.next_top_up_offer().await.unwrap(), info);
    // Not a payment: confirm() is refused and nothing is sent.
    assert!(matches!(
        session.confirm().await,
        Err(WalletError::SessionFailed { .. })
    ));

    let outcome = session.accept_top_up().await.unwrap();
    assert_eq!(outcome.top_up_id, "top_1");
    assert_eq!(
        (outcome.amount_minor, outcome.balance_minor),
        (2_000, 2_500)
    );
    assert_eq!(
        outcome.terminal_done.map(|d| d.outcome),
        Some(DoneKind::Accepted)
    );
    let got = terminal.await.unwrap();
    assert!(
        matches!(&got[..], [SessionMessage::TopUpReceipt { receipt }] if receipt.to_base64() == outcome.receipt_base64)
    );

    // The claim sent is this device's, for this offer.
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let claim = TopUpClaim::from_base64(sent[0]["claim"].as_str().unwrap()).unwrap();
    let body = claim.peek().unwrap();
    assert_eq!(
        (body.account_id.as_str(), body.order_id.as_str()),
        ("acc_test", "cash-1")
    );
    assert_eq!(
        body.offer_digest,
        TopUpOffer::from_base64(sent[0]["offer"].as_str().unwrap())
            .unwrap()
            .digest()
    );
}

#[tokio::test]
async fn a_receipt_for_another_order_leaves_the_top_up_pending() {
    let keys = Keys::new();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let offer = offer_body(&cert, TERMINAL_ID, "cash-2");
    let (port, terminal) = kiosk(&keys, offer.clone()).await;
    let receipt_key = copy(&keys.receipt);
    let other = offer_body(&cert, TERMINAL_ID, "cash-other");
    let (url, _) = fake_server(move |_| {
        let receipt = receipt_for(&Keys::new(), &receipt_key, &other, "top_1");
        (201, json!({"top_up_id": "top_1", "receipt": receipt, "amount_minor": 2000, "currency": "EUR", "balance_minor": 2000}))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &url, &keys, true).await;
    let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();
    session.next_top_up_offer().await.unwrap();
    let err = session.accept_top_up().await.unwrap_err();
    assert!(
        matches!(&err, WalletError::TopUpPending { order_id, reason } if order_id == "cash-2" && reason.contains("another top-up")),
        "{err:?}"
    );
    let got = terminal.await.unwrap();
    assert_eq!(
        got,
        vec![SessionMessage::PaymentPending {
            order_id: "cash-2".into()
        }]
    );
}

#[tokio::test]
async fn an_unreachable_server_leaves_the_top_up_pending_and_the_terminal_told() {
    let keys = Keys::new();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let (port, terminal) = kiosk(&keys, offer_body(&cert, TERMINAL_ID, "cash-3")).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();
    session.tap().await.unwrap();
    let err = session.accept_top_up().await.unwrap_err();
    assert!(
        matches!(&err, WalletError::TopUpPending { reason, .. } if reason.contains("not lost")),
        "{err:?}"
    );
    assert_eq!(
        terminal.await.unwrap(),
        vec![SessionMessage::PaymentPending {
            order_id: "cash-3".into()
        }]
    );
}

#[tokio::test]
async fn server_refusals_are_typed_and_the_offer_declined() {
    for (code, status) in [("top_up_already_claimed", 409), ("offer_expired", 410)] {
        let keys = Keys::new();
        let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
        let (port, terminal) = kiosk(&keys, offer_body(&cert, TERMINAL_ID, "cash-4")).await;
        let (url, _) =
            fake_server(move |_| (status, json!({"error": {"code": code, "message": "no"}}))).await;
        let dir = tempfile::tempdir().unwrap();
        let w = wallet(dir.path(), &url, &keys, true).await;
        let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();
        session.tap().await.unwrap();
        let err = session.accept_top_up().await.unwrap_err();
        match code {
            "offer_expired" => assert_eq!(err, WalletError::TopUpOfferExpired),
            _ => assert!(
                matches!(err, WalletError::TopUpAlreadyClaimed { .. }),
                "{err:?}"
            ),
        }
        assert!(matches!(
            &terminal.await.unwrap()[..],
            [SessionMessage::Decline { .. }]
        ));
    }
}

#[tokio::test]
async fn an_offer_relayed_from_another_terminal_is_declined() {
    let keys = Keys::new();
    let own = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let key = copy(&keys.terminal);
    let elsewhere = SigningKey::generate().unwrap();
    let theirs = certificate(&keys, &elsewhere, "term_elsewhere", WireKind::TopUp);
    let relayed =
        TopUpOffer::issue(&elsewhere, &offer_body(&theirs, "term_elsewhere", "cash-5")).unwrap();
    let (port, terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&key, &own).await;
        t.send(SessionMessage::TopUpOffer { offer: relayed })
            .await
            .unwrap();
        let answer = t.recv().await;
        let _ = t.send(done(DoneOutcome::Cancelled, "Declined")).await;
        answer
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), &keys, true).await;
    let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();
    let err = session.tap().await.unwrap_err();
    assert!(
        matches!(&err, WalletError::SessionFailed { reason } if reason.contains("another terminal")),
        "{err:?}"
    );
    assert!(matches!(
        terminal.await.unwrap(),
        Ok(SessionMessage::Decline { .. })
    ));
    assert!(matches!(
        session.accept_top_up().await,
        Err(WalletError::SessionFailed { .. })
    ));
}

#[tokio::test]
async fn a_declined_offer_credits_nothing() {
    let keys = Keys::new();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let (port, terminal) = kiosk(&keys, offer_body(&cert, TERMINAL_ID, "cash-6")).await;
    let (url, seen) = fake_server(|_| (500, json!({}))).await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &url, &keys, true).await;
    let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();
    session.next_top_up_offer().await.unwrap();
    let end = session.decline_top_up("not mine".into()).await.unwrap();
    assert_eq!(end.outcome, DoneKind::Cancelled);
    assert_eq!(
        terminal.await.unwrap(),
        vec![SessionMessage::Decline {
            reason: "not mine".into()
        }]
    );
    assert!(seen.lock().unwrap().is_empty());
    assert!(matches!(
        session.accept_top_up().await,
        Err(WalletError::SessionFailed { .. })
    ));
}

#[tokio::test]
async fn an_unknown_outcome_is_retried_with_the_same_claim_bytes() {
    let keys = Keys::new();
    let cert = certificate(&keys, &keys.terminal, TERMINAL_ID, WireKind::TopUp);
    let offer = offer_body(&cert, TERMINAL_ID, "cash-7");
    let (port, terminal) = kiosk(&keys, offer.clone()).await;
    let receipt_key = copy(&keys.receipt);
    let calls = std::sync::atomic::AtomicU32::new(0);
    let (url, seen) = fake_server(move |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            return (
                503,
                json!({"error": {"code": "server_busy", "message": "busy"}}),
            );
        }
        let receipt = receipt_for(&Keys::new(), &receipt_key, &offer, "top_7");
        (
            201,
            json!({"top_up_id": "top_7", "receipt": receipt, "balance_minor": 2000}),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &url, &keys, true).await;
    let session = w.terminals().connect(kiosk_manual(port)).await.unwrap();
    session.tap().await.unwrap();
    let outcome = session.accept_top_up().await.unwrap();
    assert_eq!(outcome.top_up_id, "top_7");
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter().all(|b| b == &sent[0]),
        "one claim, re-sent byte for byte"
    );
    assert!(matches!(
        &terminal.await.unwrap()[..],
        [SessionMessage::TopUpReceipt { .. }]
    ));
}
