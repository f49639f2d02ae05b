//! Test fixtures that need the core's private types: a fake access terminal
//! on the core's framed stream, and wallets opened on a store written as
//! registration would. The stub control center, the clock and the other
//! shared helpers come from the test kit (`wayfare_testkit`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::handshake::respond;
use wayfare_protocol::ids::b64_encode;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{
    ClientHello, HandshakeMessage, PaymentRequest, SessionMessage, TerminalKind as WireKind,
};
use wayfare_protocol::money::Currency;
pub(crate) use wayfare_testkit::stub_center::{dead_url, PayMode, StubCenter};

use crate::clock::now_ms;
use crate::session::transport::FramedStream;
use crate::session::SessionError;
use crate::store::identity::StoredIdentity;
use crate::store::Store;
use crate::{
    DiscoveredTerminal, DiscoverySource, InMemoryKeyStore, KeyStore, MdnsScope, TerminalKind,
    Wallet, WalletConfig,
};

pub(crate) const TERMINAL_ID: &str = "term_test1";
pub(crate) const MERCHANT_ID: &str = "mer_test1";

/// The operator, receipt and terminal keys of a test world.
pub(crate) struct Keys {
    pub operator: SigningKey,
    pub receipt: SigningKey,
    pub terminal: SigningKey,
}

impl Keys {
    pub(crate) fn new() -> Self {
        Self {
            operator: SigningKey::generate().unwrap(),
            receipt: SigningKey::generate().unwrap(),
            terminal: SigningKey::generate().unwrap(),
        }
    }

    /// A valid certificate for the test terminal, issued by `issuer`.
    pub(crate) fn certificate(
        &self,
        issuer: &SigningKey,
        terminal_id: &str,
    ) -> TerminalCertificate {
        TerminalCertificate::issue(
            issuer,
            &CertificateBody {
                version: wayfare_protocol::PROTOCOL_VERSION,
                terminal_id: terminal_id.into(),
                merchant_id: MERCHANT_ID.into(),
                merchant_name: "Corner Café".into(),
                kind: WireKind::Pos,
                terminal_key: self.terminal.public_key(),
                not_before_ms: 0,
                not_after_ms: now_ms() + 3_600_000,
                transit: None,
            },
        )
        .unwrap()
    }
}

/// A payment request from the test terminal.
pub(crate) fn request(order_id: &str, amount_minor: u64, expires_at_ms: u64) -> PaymentRequest {
    PaymentRequest {
        order_id: order_id.into(),
        merchant_id: MERCHANT_ID.into(),
        terminal_id: TERMINAL_ID.into(),
        merchant_name: "Corner Café".into(),
        amount_minor,
        currency: Currency::parse("EUR").unwrap(),
        description: "flat white".into(),
        fare: None,
        created_at_ms: now_ms(),
        expires_at_ms,
    }
}

/// The terminal's side of one connection.
pub(crate) struct TermSide {
    stream: FramedStream,
    channel: Option<SecureChannel>,
}

impl TermSide {
    pub(crate) async fn read_hello(&mut self) -> ClientHello {
        match HandshakeMessage::decode(&self.stream.read_frame().await.unwrap()).unwrap() {
            HandshakeMessage::ClientHello(h) => h,
            other => panic!("expected ClientHello, got {other:?}"),
        }
    }

    pub(crate) async fn send_handshake(&mut self, m: HandshakeMessage) {
        self.stream.write_frame(&m.encode().unwrap()).await.unwrap();
    }

    /// Answers the hello with `cert`, signed by `key`.
    pub(crate) async fn accept(&mut self, key: &SigningKey, cert: &TerminalCertificate) {
        let hello = self.read_hello().await;
        let (reply, channel) = respond(&hello, key, cert).unwrap();
        self.send_handshake(HandshakeMessage::TerminalHello(reply))
            .await;
        self.channel = Some(channel);
    }

    pub(crate) async fn send(&mut self, m: SessionMessage) -> Result<(), SessionError> {
        let sealed = self.channel.as_mut().unwrap().seal(&m).unwrap();
        self.stream.write_frame(&sealed).await
    }

    pub(crate) async fn recv(&mut self) -> Result<SessionMessage, SessionError> {
        let frame = self.stream.read_frame().await?;
        Ok(self.channel.as_mut().unwrap().open(&frame)?)
    }
}

/// Runs `script` as the terminal for the first connection on a fresh port.
pub(crate) async fn spawn_terminal<F, Fut, T>(script: F) -> (u16, tokio::task::JoinHandle<T>)
where
    F: FnOnce(TermSide) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        script(TermSide {
            stream: FramedStream::new(Box::new(tcp)),
            channel: None,
        })
        .await
    });
    (port, task)
}

/// A stub control center for `keys`' world: it publishes the operator key
/// and signs receipts and allowances with the receipt key.
pub(crate) async fn spawn_server(keys: &Keys, mode: PayMode) -> StubCenter {
    StubCenter::for_wallets(keys.operator.public_key(), &keys.receipt, mode).await
}

/// The configuration of a test wallet in `dir`.
pub(crate) fn config(dir: &Path, server_url: &str, keys: &Keys) -> WalletConfig {
    WalletConfig {
        data_dir: dir.to_string_lossy().into_owned(),
        server_url: server_url.into(),
        operator_key: Some(keys.operator.public_key().to_base64()),
        receipt_key: Some(keys.receipt.public_key().to_base64()),
        mdns_scope: MdnsScope::Loopback,
    }
}

/// The configuration of a test wallet in `dir` that pins no keys: it
/// trusts the control center's on first use.
pub(crate) fn unpinned_config(dir: &Path, server_url: &str) -> WalletConfig {
    WalletConfig {
        data_dir: dir.to_string_lossy().into_owned(),
        server_url: server_url.into(),
        operator_key: None,
        receipt_key: None,
        mdns_scope: MdnsScope::Loopback,
    }
}

/// Writes a registered identity into the wallet's store (as `register`
/// would), so tests need no registration server.
pub(crate) async fn preregister(dir: &Path, key_store: &InMemoryKeyStore) {
    let store = Store::open(dir.join("wallet.sled")).await.unwrap();
    let device = SigningKey::generate().unwrap();
    let sealed = key_store.seal(device.seed().to_vec()).unwrap();
    store
        .complete_registration(&StoredIdentity {
            sealed_seed: b64_encode(&sealed),
            account_id: "acc_test".into(),
            device_id: "dev_test".into(),
            handle: "rider-test".into(),
            display_name: "Ann".into(),
            currency: "EUR".into(),
            registered_at_ms: now_ms(),
        })
        .await
        .unwrap();
}

/// An opened wallet; registered when `registered`.
pub(crate) async fn wallet(
    dir: &Path,
    server_url: &str,
    keys: &Keys,
    registered: bool,
) -> Arc<Wallet> {
    let key_store = InMemoryKeyStore::new();
    if registered {
        preregister(dir, &key_store).await;
    }
    let w = Wallet::new(config(dir, server_url, keys), key_store).unwrap();
    w.open().await.unwrap();
    w
}

/// The test terminal, typed in by address.
pub(crate) fn manual(port: u16) -> DiscoveredTerminal {
    DiscoveredTerminal {
        terminal_id: TERMINAL_ID.into(),
        merchant_name: "Corner Café".into(),
        kind: TerminalKind::Pos,
        host: "127.0.0.1".into(),
        port,
        source: DiscoverySource::Manual,
        rssi: None,
        ble_id: None,
    }
}

/// A wallet database in a temporary directory, which a test opens, drops
/// and opens again to check what survives a restart.
pub(crate) struct ScratchDb {
    dir: tempfile::TempDir,
}

impl ScratchDb {
    /// A fresh, empty directory.
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Opens (or reopens) the database.
    pub(crate) async fn open(&self) -> Store {
        Store::open(self.dir.path().join("db"))
            .await
            .expect("the scratch database opens")
    }
}
