//! The session's encrypted link to the terminal and where the exchange
//! stands: sealed sends, bounded receives, waiting for `Done`, and the
//! best-effort decline on an error path.

use std::time::Duration;

use wayfare_protocol::channel::SecureChannel;
use wayfare_protocol::messages::{Done, PaymentRequest, SessionMessage};

use super::transport::FramedStream;
use super::SessionError;

/// How long to wait for `Done` after a decline sent on an error path.
pub(super) const ABORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the exchange stands.
pub(super) enum Phase {
    AwaitingRequest,
    Requested(Box<PaymentRequest>),
    /// A top_up terminal's verified offer, awaiting accept or decline.
    Offered(Box<super::top_up::Offered>),
    Finished,
}

/// The link and the exchange's state, behind the session's lock.
pub(super) struct SessionCore {
    pub(super) stream: FramedStream,
    pub(super) channel: SecureChannel,
    pub(super) phase: Phase,
    /// Whether the held tap-in token (or its absence) was presented.
    pub(super) tap_presented: bool,
    /// Whether the identity step (P3.5) happened in this session.
    pub(super) identified: bool,
}

impl SessionCore {
    pub(super) async fn send(&mut self, message: &SessionMessage) -> Result<(), SessionError> {
        let sealed = self.channel.seal(message)?;
        self.stream.write_frame(&sealed).await
    }

    pub(super) async fn receive(
        &mut self,
        within: Duration,
    ) -> Result<SessionMessage, SessionError> {
        let frame = tokio::time::timeout(within, self.stream.read_frame())
            .await
            .map_err(|_| SessionError::Timeout(within.as_secs()))??;
        Ok(self.channel.open(&frame)?)
    }

    /// Reads until the terminal's `Done`.
    pub(super) async fn receive_done(&mut self, within: Duration) -> Result<Done, SessionError> {
        loop {
            match self.receive(within).await? {
                SessionMessage::Done(done) => return Ok(done),
                SessionMessage::Error(body) => {
                    return Err(SessionError::Terminal {
                        code: body.code,
                        reason: body.message,
                    })
                }
                SessionMessage::TapInIssued { .. } => {
                    tracing::debug!(target: "wayfare_core::session", "tap-in token ignored");
                }
                _ => return Err(SessionError::Unexpected("expected Done")),
            }
        }
    }

    /// Best-effort decline on an error path; the session ends either way.
    pub(super) async fn abort(&mut self, reason: &str) {
        let decline = SessionMessage::Decline {
            reason: reason.to_string(),
        };
        if self.send(&decline).await.is_ok() {
            let _ = self.receive_done(ABORT_TIMEOUT).await;
        }
        self.finish().await;
    }

    pub(super) async fn finish(&mut self) {
        self.phase = Phase::Finished;
        self.stream.shutdown().await;
    }
}
