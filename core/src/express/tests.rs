//! Express taps end to end on the phone: allowances fetched from the fake
//! control center over HTTP, the card driven with the APDUs a gate sends
//! (`SELECT`, then `EXPRESS`), the taps checked as the gate checks them.

use std::sync::Arc;
use std::time::Duration;

use wayfare_protocol::apdu::{CommandApdu, ReaderLink, ResponseApdu, StatusWord};
use wayfare_protocol::express::{
    Allowance, AllowanceBody, ExpressOffer, ExpressTap, ExpressTapBody, CHALLENGE_LEN,
};
use wayfare_protocol::keys::random_bytes;

use crate::clock::now_ms;
use crate::listener::ListenerError;
use crate::nfc::{NfcCard, NfcListener};
use crate::session::TerminalSession;
use crate::testing::{spawn_server, wallet, Keys, PayMode, StubCenter};
use crate::{ExpressSettings, Wallet, WalletError};

const GATE: &str = "trm_gate0001";

struct Quiet;

impl NfcListener for Quiet {
    fn on_session(&self, _session: Arc<TerminalSession>) -> Result<(), ListenerError> {
        Ok(())
    }
    fn on_tap_failed(&self, _reason: String) -> Result<(), ListenerError> {
        Ok(())
    }
}

struct World {
    keys: Keys,
    server: StubCenter,
    _dir: tempfile::TempDir,
    wallet: Arc<Wallet>,
    card: Arc<NfcCard>,
}

async fn world() -> World {
    let keys = Keys::new();
    let server = spawn_server(&keys, PayMode::Pay).await;
    let dir = tempfile::tempdir().unwrap();
    let wallet = wallet(dir.path(), &server.url, &keys, true).await;
    let card = wallet.terminals().nfc_card(Arc::new(Quiet));
    World {
        keys,
        server,
        _dir: dir,
        wallet,
        card,
    }
}

fn on(per_tap: u64, total: u64) -> ExpressSettings {
    ExpressSettings {
        enabled: true,
        per_tap_max_minor: per_tap,
        total_max_minor: total,
    }
}

fn offer(amount_minor: u64) -> ExpressOffer {
    ExpressOffer {
        terminal_id: GATE.into(),
        merchant_name: "City Metro".into(),
        line: "T1".into(),
        station: "Harbour".into(),
        amount_minor,
        currency: "EUR".into(),
        challenge: random_bytes::<CHALLENGE_LEN>().unwrap().to_vec(),
        at_ms: now_ms(),
    }
}

impl World {
    /// `SELECT` as a gate sends it: the allowance's bytes (empty when
    /// express is not offered).
    async fn select(&self) -> Vec<u8> {
        let select = CommandApdu::select_wayfare().encode().unwrap();
        let answer = ResponseApdu::parse(&self.card.process_apdu(select).await).unwrap();
        assert_eq!(answer.status, StatusWord::Ok);
        answer.data
    }

    /// `EXPRESS` with raw offer bytes.
    async fn express_raw(&self, bytes: &[u8]) -> ResponseApdu {
        let command = ReaderLink::express_command(bytes).unwrap();
        ResponseApdu::parse(&self.card.process_apdu(command).await).unwrap()
    }

    /// A whole gate tap: select, then offer; the verified tap or the
    /// status word.
    async fn tap(&self, o: &ExpressOffer) -> Result<ExpressTapBody, StatusWord> {
        let data = self.select().await;
        let answer = self.express_raw(&o.encode().unwrap()).await;
        if answer.status != StatusWord::Ok {
            return Err(answer.status);
        }
        let allowance = self.gate_allowance(data);
        let tap = ExpressTap::from_bytes(answer.data);
        Ok(tap.verify_for_offer(&allowance, o).unwrap())
    }

    /// The gate's check of the `SELECT` answer.
    fn gate_allowance(&self, data: Vec<u8>) -> AllowanceBody {
        assert!(!data.is_empty(), "the card presented no allowance");
        Allowance::from_bytes(data)
            .verify(&self.keys.receipt.public_key(), now_ms())
            .unwrap()
    }

    fn issued(&self) -> usize {
        self.server.state.lock().unwrap().express.issued.len()
    }
}

#[tokio::test]
async fn a_gate_charges_the_phone_offline_and_counters_survive_a_restart() {
    let w = world().await;
    let status = w
        .wallet
        .express()
        .set_settings(on(300, 1_000))
        .await
        .unwrap();
    assert!(status.ready && !status.needs_refresh, "{status:?}");
    let info = status.allowance.unwrap();
    assert_eq!((info.per_tap_max_minor, info.total_max_minor), (300, 1_000));
    assert!(
        info.allowance_hint.ends_with('…'),
        "{}",
        info.allowance_hint
    );
    assert_eq!(w.issued(), 1);

    let first = w.tap(&offer(250)).await.unwrap();
    assert_eq!((first.counter, first.spent_before_minor), (1, 0));
    let second = w.tap(&offer(200)).await.unwrap();
    assert_eq!((second.counter, second.spent_before_minor), (2, 250));
    assert_eq!(first.allowance_id, second.allowance_id);

    let status = w.wallet.express().status().unwrap();
    let info = status.allowance.clone().unwrap();
    assert_eq!((info.spent_minor, info.taps), (450, 2));
    let pending: Vec<_> = status
        .pending_taps
        .iter()
        .map(|t| (t.counter, t.amount_minor, t.station.as_str()))
        .collect();
    assert_eq!(pending, [(1, 250, "Harbour"), (2, 200, "Harbour")]);

    // A restart keeps the counter and the spending.
    w.wallet.close().await;
    w.wallet.open().await.unwrap();
    assert_eq!(w.wallet.express().status().unwrap(), status);
    let third = w.tap(&offer(100)).await.unwrap();
    assert_eq!((third.counter, third.spent_before_minor), (3, 450));
    // Nothing was fetched again.
    assert_eq!(w.issued(), 1);
}

#[tokio::test]
async fn the_phone_declines_what_the_rider_or_the_allowance_does_not_allow() {
    let w = world().await;
    // Express off (the default): plain SELECT, EXPRESS declined.
    assert!(!w.wallet.express().settings().unwrap().enabled);
    assert!(w.select().await.is_empty());
    assert_eq!(w.tap(&offer(100)).await, Err(StatusWord::NotAllowed));

    // The server lowers the per-tap cap to 250.
    w.server.state.lock().unwrap().express.per_tap_max_minor = Some(250);
    w.wallet.express().set_settings(on(300, 700)).await.unwrap();
    // Above the rider's per-tap cap, then above the allowance's.
    assert_eq!(w.tap(&offer(301)).await, Err(StatusWord::NotAllowed));
    assert_eq!(w.tap(&offer(260)).await, Err(StatusWord::NotAllowed));
    // Another currency.
    let mut usd = offer(100);
    usd.currency = "USD".into();
    assert_eq!(w.tap(&usd).await, Err(StatusWord::NotAllowed));
    // Up to the total, not beyond.
    assert_eq!(w.tap(&offer(250)).await.unwrap().counter, 1);
    assert_eq!(w.tap(&offer(250)).await.unwrap().counter, 2);
    assert_eq!(w.tap(&offer(201)).await, Err(StatusWord::NotAllowed));
    // Declines used no counter.
    let last = w.tap(&offer(200)).await.unwrap();
    assert_eq!((last.counter, last.spent_before_minor), (3, 500));
    // Used up: no allowance presented, nothing more signed.
    assert!(w.select().await.is_empty());
    assert_eq!(w.tap(&offer(1)).await, Err(StatusWord::NotAllowed));
    let status = w.wallet.express().status().unwrap();
    assert!(!status.ready && status.needs_refresh);
    assert_eq!(status.pending_taps.len(), 3);
}

#[tokio::test]
async fn malformed_truncated_and_oversized_offers_are_wrong_data() {
    let w = world().await;
    w.wallet
        .express()
        .set_settings(on(300, 1_000))
        .await
        .unwrap();
    w.select().await;
    let good = offer(100).encode().unwrap();
    assert_eq!(
        w.express_raw(&good[..good.len() - 3]).await.status,
        StatusWord::WrongData
    );
    assert_eq!(
        w.express_raw(&[0xFF; 40]).await.status,
        StatusWord::WrongData
    );
    assert_eq!(w.express_raw(&[]).await.status, StatusWord::WrongData);
    // A station longer than an offer may carry (encoded by hand: the
    // protocol's encoder refuses it).
    let mut long = offer(100);
    long.station = "S".repeat(40);
    let mut bytes = Vec::new();
    ciborium::into_writer(&long, &mut bytes).unwrap();
    assert!(bytes.len() <= 255);
    assert_eq!(w.express_raw(&bytes).await.status, StatusWord::WrongData);
    // A short challenge.
    let mut short = offer(100);
    short.challenge = vec![1; 4];
    let mut bytes = Vec::new();
    ciborium::into_writer(&short, &mut bytes).unwrap();
    assert_eq!(w.express_raw(&bytes).await.status, StatusWord::WrongData);
    // An offer too long for one APDU can only come chained: not an
    // express command at all.
    let chained = CommandApdu {
        cla: 0x90,
        ins: 0xE2,
        p1: 0,
        p2: 0,
        data: vec![0xA5; 200],
        le: None,
    }
    .encode()
    .unwrap();
    let answer = ResponseApdu::parse(&w.card.process_apdu(chained).await).unwrap();
    assert_ne!(answer.status, StatusWord::Ok);
    // Nothing was signed; a genuine offer still works, with counter 1.
    assert!(w.wallet.express().status().unwrap().pending_taps.is_empty());
    assert_eq!(w.tap(&offer(100)).await.unwrap().counter, 1);
}

#[tokio::test]
async fn an_expired_allowance_is_not_presented_and_refresh_replaces_it() {
    let w = world().await;
    w.server.state.lock().unwrap().express.ttl_ms = Some(300);
    w.wallet
        .express()
        .set_settings(on(300, 1_000))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(w.select().await.is_empty());
    assert_eq!(w.tap(&offer(100)).await, Err(StatusWord::NotAllowed));
    let status = w.wallet.express().status().unwrap();
    assert!(!status.ready && status.needs_refresh);

    w.server.state.lock().unwrap().express.ttl_ms = None;
    let status = w.wallet.express().refresh().await.unwrap();
    assert!(status.ready && !status.needs_refresh);
    assert_eq!(w.issued(), 2);
    assert_eq!(w.tap(&offer(100)).await.unwrap().counter, 1);
    // Not due: refresh asks nothing.
    w.wallet.express().refresh().await.unwrap();
    assert_eq!(w.issued(), 2);
}

#[tokio::test]
async fn offline_the_phone_keeps_its_allowance_until_the_rider_lowers_the_caps() {
    let w = world().await;
    let express = w.wallet.express();
    express.set_settings(on(300, 1_000)).await.unwrap();
    w.server.state.lock().unwrap().express.down = true;

    // Raised caps while offline: the error says so, the old allowance
    // still pays at the gate.
    let err = express.set_settings(on(500, 2_000)).await.unwrap_err();
    assert!(
        matches!(
            err,
            WalletError::Network {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    let status = express.status().unwrap();
    assert!(status.ready && status.needs_refresh, "{status:?}");
    assert_eq!(status.allowance.unwrap().total_max_minor, 1_000);
    assert!(express.refresh().await.is_err());
    assert!(express.status().unwrap().ready);
    assert_eq!(w.tap(&offer(300)).await.unwrap().counter, 1);

    // Back online: a new allowance with the new caps; the tap made under
    // the old one stays pending.
    w.server.state.lock().unwrap().express.down = false;
    let status = express.refresh().await.unwrap();
    let info = status.allowance.unwrap();
    assert_eq!(
        (info.per_tap_max_minor, info.total_max_minor, info.taps),
        (500, 1_000, 0)
    );
    assert_eq!(status.pending_taps.len(), 1);
    assert_eq!(w.tap(&offer(450)).await.unwrap().counter, 1);

    // Lowered below the allowance's caps while offline: forgotten.
    w.server.state.lock().unwrap().express.down = true;
    assert!(express.set_settings(on(200, 400)).await.is_err());
    let status = express.status().unwrap();
    assert!(status.allowance.is_none() && !status.ready);
    assert!(status.settings.enabled);
    assert_eq!(w.tap(&offer(100)).await, Err(StatusWord::NotAllowed));
}

#[tokio::test]
async fn switching_off_forgets_the_allowance_even_offline() {
    let w = world().await;
    let express = w.wallet.express();
    express.set_settings(on(300, 1_000)).await.unwrap();
    let off = ExpressSettings {
        enabled: false,
        ..on(300, 1_000)
    };
    let status = express.set_settings(off.clone()).await.unwrap();
    assert!(status.allowance.is_none() && !status.ready && !status.needs_refresh);
    assert_eq!(w.server.state.lock().unwrap().express.revocations, 1);
    assert!(w.select().await.is_empty());
    assert_eq!(w.tap(&offer(100)).await, Err(StatusWord::NotAllowed));
    // Refresh does nothing while off.
    express.refresh().await.unwrap();
    assert_eq!(w.issued(), 1);

    // On again, then off with the server unreachable: still off here.
    express.set_settings(on(300, 1_000)).await.unwrap();
    w.server.state.lock().unwrap().express.down = true;
    let status = express.set_settings(off).await.unwrap();
    assert!(status.allowance.is_none() && !status.settings.enabled);
    assert_eq!(w.tap(&offer(100)).await, Err(StatusWord::NotAllowed));
}

#[tokio::test]
async fn sync_drops_settled_taps_and_a_debt_blocks_express() {
    let w = world().await;
    let express = w.wallet.express();
    express.set_settings(on(300, 1_000)).await.unwrap();
    let first = w.tap(&offer(250)).await.unwrap();
    w.tap(&offer(200)).await.unwrap();
    {
        let mut s = w.server.state.lock().unwrap();
        s.express.debt_minor = 150;
        s.express.blocked = true;
        s.express.settled.push(serde_json::json!({
            "allowance_id": first.allowance_id, "counter": 1, "terminal_id": GATE,
            "amount_minor": 250, "charged_minor": 100, "debt_minor": 150,
            "payment_id": "pay_x1", "tapped_at_ms": 1, "settled_at_ms": 2,
        }));
    }
    let account = express.sync().await.unwrap();
    assert!(account.blocked);
    assert_eq!(account.debt_minor, 150);
    assert_eq!(account.settled_taps.len(), 1);
    assert_eq!(
        account.settled_taps[0].payment_id.as_deref(),
        Some("pay_x1")
    );
    assert_eq!(
        account
            .pending_taps
            .iter()
            .map(|t| t.counter)
            .collect::<Vec<_>>(),
        [2]
    );
    // Blocked: no allowance held, the gate runs the full session.
    assert!(express.status().unwrap().allowance.is_none());
    assert!(w.select().await.is_empty());
    // Refresh says why, with the debt.
    let err = express.refresh().await.unwrap_err();
    assert!(
        matches!(
            err,
            WalletError::ExpressBlocked {
                debt_minor: Some(150),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("top-up"), "{err}");

    // A top-up clears it.
    {
        let mut s = w.server.state.lock().unwrap();
        s.express.blocked = false;
        s.express.debt_minor = 0;
    }
    assert!(express.refresh().await.unwrap().ready);
}

#[tokio::test]
async fn a_zero_balance_gets_no_allowance_and_bad_caps_are_refused() {
    let w = world().await;
    let express = w.wallet.express();
    for bad in [on(0, 100), on(200, 100)] {
        assert!(matches!(
            express.set_settings(bad).await,
            Err(WalletError::InvalidInput { .. })
        ));
    }
    assert!(!express.settings().unwrap().enabled);
    // The server never allows more than the balance.
    w.server.state.lock().unwrap().balance = 400;
    let status = express.set_settings(on(300, 1_000)).await.unwrap();
    assert_eq!(status.allowance.unwrap().total_max_minor, 400);
    w.server.state.lock().unwrap().balance = 0;
    let err = express.set_settings(on(300, 2_000)).await.unwrap_err();
    assert!(
        matches!(err, WalletError::InsufficientFunds { .. }),
        "{err:?}"
    );
    assert!(express.status().unwrap().allowance.is_none());
}
