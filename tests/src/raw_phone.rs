//! A phone written directly on the protocol crate, for tests that need a
//! misbehaving phone (the real core never sends a forged receipt).

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::framing::{encode_frame, payload_len, HEADER_LEN};
use wayfare_protocol::handshake::PhoneHandshake;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::{HandshakeMessage, PaymentRequest, SessionMessage};

/// An established session from the phone's side.
pub struct RawPhone {
    stream: TcpStream,
    channel: SecureChannel,
}

async fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let mut payload = vec![0u8; payload_len(header)?];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

impl RawPhone {
    /// Connects and completes the handshake, trusting `operator`.
    pub async fn connect(addr: std::net::SocketAddr, operator: &PublicKey) -> Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        let (phone, hello) = PhoneHandshake::start()?;
        stream
            .write_all(&encode_frame(
                &HandshakeMessage::ClientHello(hello).encode()?,
            )?)
            .await?;
        let reply = HandshakeMessage::decode(&read_frame(&mut stream).await?)?;
        let HandshakeMessage::TerminalHello(reply) = reply else {
            bail!("terminal answered {reply:?} instead of its hello");
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64;
        let established = phone.finish(&reply, operator, None, now)?;
        Ok(Self {
            stream,
            channel: established.channel,
        })
    }

    /// Sends one session message.
    pub async fn send(&mut self, message: &SessionMessage) -> Result<()> {
        let sealed = self.channel.seal(message)?;
        self.stream.write_all(&encode_frame(&sealed)?).await?;
        Ok(())
    }

    /// Receives one session message.
    pub async fn receive(&mut self) -> Result<SessionMessage> {
        let frame = read_frame(&mut self.stream)
            .await
            .context("reading a frame")?;
        Ok(self.channel.open(&frame)?)
    }

    /// Waits for the terminal's payment request.
    pub async fn payment_request(&mut self) -> Result<PaymentRequest> {
        loop {
            match self.receive().await? {
                SessionMessage::PaymentRequest(r) => return Ok(r),
                SessionMessage::TapInIssued { .. } => continue,
                other => bail!("expected a payment request, got {other:?}"),
            }
        }
    }
}
