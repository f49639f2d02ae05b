//! Drives the phone's side of the handshake over a framed stream: the
//! terminal must prove its operator-issued identity before anything else.

use wayfare_protocol::handshake::{EstablishedSession, PhoneHandshake};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::HandshakeMessage;

use super::transport::FramedStream;
use super::SessionError;

/// Sends `ClientHello`, reads the answer and verifies it. `Busy` and
/// terminal errors are typed; any verification failure is `Untrusted`.
pub(crate) async fn run(
    stream: &mut FramedStream,
    operator: &PublicKey,
    expected_terminal_id: Option<&str>,
    now_ms: u64,
) -> Result<EstablishedSession, SessionError> {
    let (state, hello) = PhoneHandshake::start()?;
    let sent = stream
        .write_frame(&HandshakeMessage::ClientHello(hello).encode()?)
        .await;
    // A busy terminal may answer and close before reading our hello: read
    // its answer even if the write failed.
    let reply = match stream.read_frame().await {
        Ok(frame) => HandshakeMessage::decode(&frame)?,
        Err(read_error) => return Err(sent.err().unwrap_or(read_error)),
    };
    match reply {
        HandshakeMessage::TerminalHello(reply) => state
            .finish(&reply, operator, expected_terminal_id, now_ms)
            .map_err(SessionError::Untrusted),
        HandshakeMessage::Busy { retry_after_ms } => Err(SessionError::Busy { retry_after_ms }),
        HandshakeMessage::Error(body) => Err(SessionError::Terminal {
            code: body.code,
            reason: body.message,
        }),
        HandshakeMessage::ClientHello(_) => Err(SessionError::Unexpected("client hello")),
    }
}
