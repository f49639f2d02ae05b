//! A phone written directly on the protocol crate, speaking to a terminal
//! over TCP: for tests that need a phone the real core never is (one that
//! sends garbage, stalls mid-handshake or presents a forged receipt).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::framing::{encode_frame, payload_len, HEADER_LEN};
use wayfare_protocol::handshake::PhoneHandshake;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::{HandshakeMessage, PaymentRequest, SessionMessage};

use crate::clock::now_ms;

/// How long the phone waits for the terminal: generous, so only a bug
/// fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Reads one frame's payload; `None` when the terminal closed the
/// connection. Panics when the terminal stays silent for 20 s.
pub async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut header))
        .await
        .expect("terminal silent for 20 s")
        .ok()?;
    let len = payload_len(header).expect("a frame header the protocol accepts");
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some(payload)
}

/// One phone's connection to a terminal; `channel` is set once the
/// handshake completed.
pub struct RawPhone {
    /// The TCP connection, for tests that write bytes of their own.
    pub stream: TcpStream,
    /// The session's secure channel, after the handshake.
    pub channel: Option<SecureChannel>,
}

impl RawPhone {
    /// Opens the TCP connection only: the test drives the handshake.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr)
                .await
                .unwrap_or_else(|e| panic!("connecting to the terminal at {addr}: {e}")),
            channel: None,
        }
    }

    /// Connects and completes the handshake, verifying the certificate
    /// against `operator` and, when given, the terminal's id.
    pub async fn handshake(
        addr: SocketAddr,
        operator: &PublicKey,
        terminal_id: Option<&str>,
    ) -> Self {
        let mut phone = Self::connect(addr).await;
        let hs = phone.send_hello().await;
        let reply = match phone.read_handshake().await {
            Some(HandshakeMessage::TerminalHello(reply)) => reply,
            other => panic!("expected TerminalHello, got {other:?}"),
        };
        let established = hs
            .finish(&reply, operator, terminal_id, now_ms())
            .expect("the terminal's hello verifies");
        phone.channel = Some(established.channel);
        phone
    }

    /// Writes `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("writing to the terminal");
    }

    /// Sends a fresh ClientHello; the handshake state to finish with.
    pub async fn send_hello(&mut self) -> PhoneHandshake {
        let (hs, hello) = PhoneHandshake::start().expect("starting a handshake");
        let message = HandshakeMessage::ClientHello(hello)
            .encode()
            .expect("encoding the hello");
        self.send_raw(&encode_frame(&message).expect("framing the hello"))
            .await;
        hs
    }

    /// The next handshake message, or `None` when the terminal closed.
    pub async fn read_handshake(&mut self) -> Option<HandshakeMessage> {
        let frame = read_frame(&mut self.stream).await?;
        Some(HandshakeMessage::decode(&frame).expect("a handshake message"))
    }

    fn channel(&mut self) -> &mut SecureChannel {
        self.channel
            .as_mut()
            .expect("no secure channel: complete the handshake first")
    }

    /// `message` sealed for the terminal, unframed.
    pub fn seal(&mut self, message: &SessionMessage) -> Vec<u8> {
        self.channel().seal(message).expect("sealing a message")
    }

    /// Seals and sends one session message.
    pub async fn send(&mut self, message: &SessionMessage) {
        let sealed = self.seal(message);
        self.send_raw(&encode_frame(&sealed).expect("framing a message"))
            .await;
    }

    /// Sends one message if the connection is still open; `false` when the
    /// terminal already closed it (a phone hanging up does not care).
    pub async fn try_send(&mut self, message: &SessionMessage) -> bool {
        let sealed = self.seal(message);
        let frame = encode_frame(&sealed).expect("framing a message");
        self.stream.write_all(&frame).await.is_ok()
    }

    /// The next session message, or `None` when the terminal closed.
    pub async fn recv(&mut self) -> Option<SessionMessage> {
        let frame = read_frame(&mut self.stream).await?;
        Some(self.channel().open(&frame).expect("opening a sealed frame"))
    }

    /// The next message, which must be a payment request.
    pub async fn expect_request(&mut self) -> PaymentRequest {
        match self.recv().await {
            Some(SessionMessage::PaymentRequest(r)) => r,
            other => panic!("expected a PaymentRequest, got {other:?}"),
        }
    }

    /// The terminal's payment request, after any tap-in token it issued
    /// first (gates issue one before the fare).
    pub async fn payment_request(&mut self) -> PaymentRequest {
        loop {
            match self.recv().await {
                Some(SessionMessage::PaymentRequest(r)) => return r,
                Some(SessionMessage::TapInIssued { .. }) => continue,
                other => panic!("expected a payment request, got {other:?}"),
            }
        }
    }

    /// Reads until the terminal closes the connection (for at most 20 s
    /// of silence).
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.read(&mut buf))
                .await
                .expect("terminal did not close the connection")
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}
