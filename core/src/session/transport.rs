//! Length-prefixed frames over a byte stream (TCP today; the same framing
//! serves BLE L2CAP). Lengths are checked against `MAX_FRAME_LEN` before
//! any buffer is allocated.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wayfare_protocol::framing::{encode_frame, payload_len, HEADER_LEN};

use super::SessionError;

/// A bidirectional byte stream.
pub(crate) trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// Frames over a stream. A read interrupted by cancellation leaves the
/// stream mid-frame, so the session marks itself finished afterwards.
pub(crate) struct FramedStream {
    stream: Box<dyn ByteStream>,
}

impl FramedStream {
    /// Wraps a connected stream.
    pub(crate) fn new(stream: Box<dyn ByteStream>) -> Self {
        Self { stream }
    }

    /// Reads one frame's payload. A clean end of stream between frames is
    /// `Closed`.
    pub(crate) async fn read_frame(&mut self) -> Result<Vec<u8>, SessionError> {
        let mut header = [0u8; HEADER_LEN];
        match self.stream.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(SessionError::Closed)
            }
            Err(e) => return Err(e.into()),
        }
        let len = payload_len(header)?;
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await?;
        Ok(payload)
    }

    /// Writes one frame.
    pub(crate) async fn write_frame(&mut self, payload: &[u8]) -> Result<(), SessionError> {
        let frame = encode_frame(payload)?;
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Closes the write side (best effort).
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfare_protocol::framing::MAX_FRAME_LEN;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_or_truncated_are_refused() {
        let (a, b) = tokio::io::duplex(64);
        let mut left = FramedStream::new(Box::new(a));
        let mut right = FramedStream::new(Box::new(b));
        let writer = tokio::spawn(async move {
            left.write_frame(b"hello").await.unwrap();
            left.write_frame(&[9u8; 300]).await.unwrap();
            left
        });
        assert_eq!(right.read_frame().await.unwrap(), b"hello");
        assert_eq!(right.read_frame().await.unwrap(), vec![9u8; 300]);
        drop(writer.await.unwrap());
        assert!(matches!(
            right.read_frame().await,
            Err(SessionError::Closed)
        ));

        let (mut raw, b) = tokio::io::duplex(64);
        let mut right = FramedStream::new(Box::new(b));
        raw.write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes())
            .await
            .unwrap();
        assert!(matches!(
            right.read_frame().await,
            Err(SessionError::Protocol(_))
        ));

        let (mut raw, b) = tokio::io::duplex(64);
        let mut right = FramedStream::new(Box::new(b));
        raw.write_all(&[0, 0, 0, 10, 1, 2]).await.unwrap();
        drop(raw);
        assert!(matches!(right.read_frame().await, Err(SessionError::Io(_))));
    }
}
