//! The card handler driven as a reader would drive it: refusals by status
//! word, a whole handshake over APDUs against a fake terminal, a forged
//! terminal refused, and a lost field closing the session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wayfare_protocol::apdu::{CommandApdu, ReaderLink, ResponseApdu, StatusWord};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::SessionMessage;

use super::{NfcCard, NfcListener};
use crate::clock::now_ms;
use crate::listener::ListenerError;
use crate::session::TerminalSession;
use crate::testing::{dead_url, request, spawn_terminal, wallet, Keys, TERMINAL_ID};
use crate::WalletError;

#[derive(Default)]
struct Inbox {
    sessions: Mutex<Vec<Arc<TerminalSession>>>,
    failures: Mutex<Vec<String>>,
}

impl NfcListener for Inbox {
    fn on_session(&self, session: Arc<TerminalSession>) -> Result<(), ListenerError> {
        self.sessions.lock().unwrap().push(session);
        Ok(())
    }
    fn on_tap_failed(&self, reason: String) -> Result<(), ListenerError> {
        self.failures.lock().unwrap().push(reason);
        Ok(())
    }
}

fn status(answer: &[u8]) -> StatusWord {
    ResponseApdu::parse(answer).unwrap().status
}

async fn card(keys: &Keys) -> (tempfile::TempDir, Arc<NfcCard>, Arc<Inbox>) {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(dir.path(), &dead_url(), keys, true).await;
    let inbox = Arc::new(Inbox::default());
    let card = w.terminals().nfc_card(inbox.clone());
    (dir, card, inbox)
}

/// One `EXCHANGE` as a reader sends it: chained commands, then `GET
/// RESPONSE` until the answer is whole.
async fn exchange(card: &NfcCard, piece: &[u8]) -> Result<Vec<u8>, StatusWord> {
    let commands = ReaderLink::exchange_commands(piece).unwrap();
    let last = commands.len() - 1;
    let mut answer = Vec::new();
    for (i, command) in commands.into_iter().enumerate() {
        let response = card.process_apdu(command).await;
        if i < last {
            assert_eq!(status(&response), StatusWord::Ok);
            continue;
        }
        let mut next = ReaderLink::gather(&mut answer, &response).map_err(|_| status(&response))?;
        while let Some(left) = next {
            let response = card.process_apdu(ReaderLink::get_response(left)).await;
            next = ReaderLink::gather(&mut answer, &response).unwrap();
        }
    }
    Ok(answer)
}

/// Carries bytes between a terminal's TCP socket and the card until the
/// card's session ends or `rounds` exchanges have passed.
async fn pump(card: &NfcCard, mut tcp: TcpStream, rounds: usize) {
    let mut buf = vec![0u8; 8192];
    for _ in 0..rounds {
        let piece = match tokio::time::timeout(Duration::from_millis(30), tcp.read(&mut buf)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        };
        match exchange(card, &piece).await {
            Ok(answer) if !answer.is_empty() => {
                if tcp.write_all(&answer).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

#[tokio::test]
async fn commands_out_of_place_get_their_status_words() {
    let keys = Keys::new();
    let (_dir, card, _) = card(&keys).await;
    // Nothing selected yet.
    assert_eq!(
        status(&card.process_apdu(vec![0x80, 0xD0, 0, 0, 1, 0xAA]).await),
        StatusWord::ConditionsNotSatisfied
    );
    // Another application (a payment card's AID).
    let visa = CommandApdu {
        data: vec![0xA0, 0, 0, 0, 0x03, 0x10, 0x10],
        ..CommandApdu::select_wayfare()
    };
    assert_eq!(
        status(&card.process_apdu(visa.encode().unwrap()).await),
        StatusWord::NotFound
    );
    // Truncated, and a body shorter than its Lc.
    assert_eq!(
        status(&card.process_apdu(vec![0x80]).await),
        StatusWord::WrongLength
    );
    assert_eq!(
        status(&card.process_apdu(vec![0x80, 0xD0, 0, 0, 9, 1]).await),
        StatusWord::WrongLength
    );
    let select = CommandApdu::select_wayfare().encode().unwrap();
    assert_eq!(status(&card.process_apdu(select).await), StatusWord::Ok);
    // An unknown instruction, and GET RESPONSE with nothing to get.
    assert_eq!(
        status(&card.process_apdu(vec![0x80, 0x42, 0, 0]).await),
        StatusWord::InsNotSupported
    );
    assert_eq!(
        status(&card.process_apdu(ReaderLink::get_response(0)).await),
        StatusWord::ConditionsNotSatisfied
    );
}

#[tokio::test]
async fn a_session_runs_over_apdus_until_the_field_is_lost() {
    let keys = Keys::new();
    let cert = keys.certificate(&keys.operator, TERMINAL_ID);
    let terminal_key = SigningKey::from_seed(keys.terminal.seed()).unwrap();
    let (port, terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
        t.send(SessionMessage::PaymentRequest(request(
            "ord_n",
            300,
            now_ms() + 60_000,
        )))
        .await
        .unwrap();
        // The phone leaves the field: the connection closes.
        t.recv().await
    })
    .await;
    let (_dir, card, inbox) = card(&keys).await;
    let select = CommandApdu::select_wayfare().encode().unwrap();
    assert_eq!(status(&card.process_apdu(select).await), StatusWord::Ok);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    pump(&card, tcp, 10).await;
    let session = inbox
        .sessions
        .lock()
        .unwrap()
        .pop()
        .expect("a verified session");
    assert_eq!(session.terminal().terminal_id, TERMINAL_ID);
    let asked = session.next_payment_request().await.unwrap();
    assert_eq!(
        (asked.order_id.as_str(), asked.amount_minor),
        ("ord_n", 300)
    );

    card.deactivated();
    // The session sees its terminal gone, at once.
    let paid = tokio::time::timeout(Duration::from_secs(5), session.confirm())
        .await
        .expect("no hang after the field is lost");
    assert!(paid.is_err());
    assert!(terminal.await.unwrap().is_err());
    // A fresh tap starts over: EXCHANGE before SELECT is refused again.
    assert_eq!(
        status(&card.process_apdu(vec![0x80, 0xD0, 0, 0, 1, 0xAA]).await),
        StatusWord::ConditionsNotSatisfied
    );
}

#[tokio::test]
async fn a_reader_whose_terminal_is_not_the_operators_gets_no_session() {
    let keys = Keys::new();
    let impostor = Keys::new();
    // Certified by another operator's key.
    let cert = impostor.certificate(&impostor.operator, TERMINAL_ID);
    let terminal_key = SigningKey::from_seed(impostor.terminal.seed()).unwrap();
    let (port, _terminal) = spawn_terminal(move |mut t| async move {
        t.accept(&terminal_key, &cert).await;
    })
    .await;
    let (_dir, card, inbox) = card(&keys).await;
    let select = CommandApdu::select_wayfare().encode().unwrap();
    assert_eq!(status(&card.process_apdu(select).await), StatusWord::Ok);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    pump(&card, tcp, 10).await;
    assert!(inbox.sessions.lock().unwrap().is_empty());
    let failures = inbox.failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let expected = WalletError::TerminalUntrusted {
        reason: String::new(),
    }
    .to_string();
    let head = expected.split(':').next().unwrap();
    assert!(failures[0].starts_with(head), "{}", failures[0]);
    // The card then tells the reader the session is over.
    assert_eq!(
        exchange(&card, &[]).await,
        Err(StatusWord::ConditionsNotSatisfied)
    );
}
