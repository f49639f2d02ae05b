//! The pump between a GATT link and a byte stream (feature `tokio`), shared
//! by the phone (central) and the terminal (peripheral), so that the
//! session code that runs over TCP runs unchanged over BLE.
//!
//! [`attach`] takes the two halves of a link, a [`FragmentSink`] (a GATT
//! write or notification per fragment) and a [`FragmentSource`] (the
//! fragments the peer sent), and returns a [`GattStream`]: the session
//! writes length-prefixed frames into it as it would into a socket; the
//! pump cuts each frame into fragments for the link, and turns the peer's
//! fragments back into length-prefixed frames to be read. A fragment the
//! [`Reassembler`] refuses, or a link that fails, ends the stream with an
//! `InvalidData` or `BrokenPipe` error naming the cause.
//!
//! The platform adapters (btleplug in the core, BlueZ in the terminal)
//! only implement the two traits; [`memory_link`] is an in-memory link
//! for tests and for apps that bridge their own Bluetooth stack.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use thiserror::Error;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf, ReadHalf, WriteHalf,
};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{Fragmenter, GattError, Reassembler};
use crate::framing::{encode_frame, FrameDecoder, HEADER_LEN, MAX_FRAME_LEN};

/// Bytes the in-process pipe between the session and the pump buffers
/// each way: one whole frame, so the session's writes are not held up by
/// the link's pace within a frame.
const PIPE_CAPACITY: usize = MAX_FRAME_LEN + HEADER_LEN;

/// Why a GATT link failed, as the platform adapter reports it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    /// No adapter, Bluetooth off, no BlueZ, or no permission.
    #[error("Bluetooth unavailable: {0}")]
    Unavailable(String),
    /// The peer disconnected or unsubscribed.
    #[error("the Bluetooth peer disconnected")]
    Disconnected,
    /// A GATT operation failed.
    #[error("GATT operation failed: {0}")]
    Failed(String),
}

/// Sends fragments to the peer, one ATT write (phone) or notification
/// (terminal) each, in order. Dropping it closes the link's sending side.
pub trait FragmentSink: Send + 'static {
    /// Sends one fragment of at most `ATT_MTU - 3` bytes.
    fn send(&mut self, fragment: Vec<u8>) -> impl Future<Output = Result<(), LinkError>> + Send;
}

/// Receives the peer's fragments in order.
pub trait FragmentSource: Send + 'static {
    /// The next fragment, or `None` once the link closed.
    fn recv(&mut self) -> impl Future<Output = Option<Vec<u8>>> + Send;
}

/// Why a pump stopped the stream.
#[derive(Debug, Clone, Error)]
enum PumpFailure {
    #[error("Bluetooth fragment refused: {0}")]
    Fragment(#[from] GattError),
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl PumpFailure {
    fn io_error(&self) -> io::Error {
        let kind = match self {
            PumpFailure::Fragment(_) => io::ErrorKind::InvalidData,
            PumpFailure::Link(_) => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, self.clone())
    }
}

type FailureSlot = Arc<Mutex<Option<PumpFailure>>>;

fn record(slot: &FailureSlot, failure: PumpFailure) {
    tracing::warn!(target: "wayfare::gatt", error = %failure, "Bluetooth link ended");
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert(failure);
}

/// A session byte stream carried over a GATT link (see [`attach`]). When
/// it is dropped, the frames already written are still sent; the incoming
/// side stops at once.
#[derive(Debug)]
pub struct GattStream {
    inner: DuplexStream,
    failure: FailureSlot,
    downlink: AbortHandle,
}

impl GattStream {
    fn failure(&self) -> Option<io::Error> {
        let slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().map(PumpFailure::io_error)
    }
}

impl Drop for GattStream {
    fn drop(&mut self) {
        self.downlink.abort();
    }
}

impl AsyncRead for GattStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        // The end of the stream after a failure is that failure.
        if let Poll::Ready(Ok(())) = polled {
            if buf.filled().len() == before && buf.remaining() > 0 {
                if let Some(e) = self.failure() {
                    return Poll::Ready(Err(e));
                }
            }
        }
        polled
    }
}

impl AsyncWrite for GattStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.failure().unwrap_or(e))),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Runs a session byte stream over a GATT link of ATT MTU `mtu`: spawns
/// the pump's two tasks on the current tokio runtime. Fails only for an
/// MTU below 23.
pub fn attach<K: FragmentSink, S: FragmentSource>(
    mtu: u16,
    sink: K,
    source: S,
) -> Result<GattStream, GattError> {
    let fragmenter = Fragmenter::new(mtu)?;
    let reassembler = Reassembler::new(mtu)?;
    let (session_side, pump_side) = tokio::io::duplex(PIPE_CAPACITY);
    let (read, write) = tokio::io::split(pump_side);
    let failure = FailureSlot::default();
    let downlink =
        tokio::spawn(downlink(source, reassembler, write, failure.clone())).abort_handle();
    tokio::spawn(uplink(
        read,
        fragmenter,
        sink,
        failure.clone(),
        downlink.clone(),
    ));
    Ok(GattStream {
        inner: session_side,
        failure,
        downlink,
    })
}

/// Session frames to fragments, until the session closes its side. A
/// failed link also stops the downlink, so the session sees the failure.
async fn uplink<K: FragmentSink>(
    mut read: ReadHalf<DuplexStream>,
    mut fragmenter: Fragmenter,
    mut sink: K,
    failure: FailureSlot,
    downlink: AbortHandle,
) {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            // Our own session wrote these frames: they are well formed.
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return,
            };
            let fragments = match fragmenter.fragment(&frame) {
                Ok(fragments) => fragments,
                Err(e) => return record(&failure, e.into()),
            };
            for fragment in fragments {
                if let Err(e) = sink.send(fragment).await {
                    record(&failure, e.into());
                    downlink.abort();
                    return;
                }
            }
        }
    }
}

/// The peer's fragments to session frames, until the link closes or a
/// fragment is refused; then the session reads the end of the stream.
async fn downlink<S: FragmentSource>(
    mut source: S,
    mut reassembler: Reassembler,
    mut write: WriteHalf<DuplexStream>,
    failure: FailureSlot,
) {
    while let Some(fragment) = source.recv().await {
        match reassembler.push(&fragment) {
            Ok(None) => {}
            Ok(Some(frame)) => {
                let Ok(bytes) = encode_frame(&frame) else {
                    break;
                };
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                record(&failure, e.into());
                break;
            }
        }
    }
    if let Err(e) = reassembler.finish() {
        if !matches!(e, GattError::Broken) {
            record(&failure, e.into());
        }
    }
    let _ = write.shutdown().await;
}

/// The sending half of an in-memory link.
#[derive(Debug, Clone)]
pub struct MemorySink(mpsc::Sender<Vec<u8>>);

/// The receiving half of an in-memory link.
#[derive(Debug)]
pub struct MemorySource(mpsc::Receiver<Vec<u8>>);

impl FragmentSink for MemorySink {
    async fn send(&mut self, fragment: Vec<u8>) -> Result<(), LinkError> {
        self.0
            .send(fragment)
            .await
            .map_err(|_| LinkError::Disconnected)
    }
}

impl FragmentSource for MemorySource {
    async fn recv(&mut self) -> Option<Vec<u8>> {
        self.0.recv().await
    }
}

/// One end of an in-memory link: what it sends, and what it receives.
#[derive(Debug)]
pub struct MemoryEnd {
    /// Fragments to the other end.
    pub sink: MemorySink,
    /// Fragments from the other end.
    pub source: MemorySource,
}

/// An in-memory GATT link: two ends, each sending to the other, holding at
/// most `capacity` fragments in flight each way (as a link's write queue
/// would). It does not check fragment sizes: the receiving
/// [`Reassembler`] does, as it must against a real peer.
pub fn memory_link(capacity: usize) -> (MemoryEnd, MemoryEnd) {
    let (a_tx, a_rx) = mpsc::channel(capacity.max(1));
    let (b_tx, b_rx) = mpsc::channel(capacity.max(1));
    (
        MemoryEnd {
            sink: MemorySink(a_tx),
            source: MemorySource(b_rx),
        },
        MemoryEnd {
            sink: MemorySink(b_tx),
            source: MemorySource(a_rx),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatt::{FLAG_END, FLAG_START};

    async fn echo_pair(mtu: u16) -> (GattStream, GattStream) {
        let (a, b) = memory_link(8);
        (
            attach(mtu, a.sink, a.source).unwrap(),
            attach(mtu, b.sink, b.source).unwrap(),
        )
    }

    #[tokio::test]
    async fn frames_cross_the_link_both_ways_at_each_mtu() {
        for mtu in [23, 185, 512] {
            let (mut phone, mut terminal) = echo_pair(mtu).await;
            for len in [0, 1, 40, 700, MAX_FRAME_LEN] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                phone
                    .write_all(&encode_frame(&payload).unwrap())
                    .await
                    .unwrap();
                let mut got = vec![0u8; HEADER_LEN + len];
                terminal.read_exact(&mut got).await.unwrap();
                assert_eq!(&got[HEADER_LEN..], &payload[..], "mtu {mtu} len {len}");
                terminal.write_all(&got).await.unwrap();
                let mut back = vec![0u8; HEADER_LEN + len];
                phone.read_exact(&mut back).await.unwrap();
                assert_eq!(back, got);
            }
            // Closing one side ends the other's stream cleanly.
            drop(phone);
            let mut rest = Vec::new();
            assert_eq!(terminal.read_to_end(&mut rest).await.unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn a_refused_fragment_ends_the_stream_with_its_cause() {
        let (mut raw, b) = memory_link(8);
        let mut stream = attach(23, b.sink, b.source).unwrap();
        raw.sink.send(vec![0u8; 21]).await.unwrap();
        let err = stream.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds"), "{err}");

        // A link that ends mid-frame.
        let (mut raw, b) = memory_link(8);
        let mut stream = attach(23, b.sink, b.source).unwrap();
        raw.sink.send(vec![FLAG_START, 0, 100, 1, 2]).await.unwrap();
        drop(raw);
        let err = stream.read_u8().await.unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");

        // A whole frame, then a clean end.
        let (mut raw, b) = memory_link(8);
        let mut stream = attach(23, b.sink, b.source).unwrap();
        raw.sink
            .send(vec![FLAG_START | FLAG_END, 0, 2, 7, 8])
            .await
            .unwrap();
        drop(raw);
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, vec![0, 0, 0, 2, 7, 8]);
    }

    #[tokio::test]
    async fn a_failed_link_fails_the_stream() {
        let (a, b) = memory_link(1);
        // The peer stops listening but keeps its sending side open.
        let MemoryEnd {
            sink: _open,
            source,
        } = b;
        drop(source);
        let mut stream = attach(23, a.sink, a.source).unwrap();
        let _ = stream.write_all(&encode_frame(b"hello").unwrap()).await;
        let err = stream.read_u8().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(err.to_string().contains("disconnected"), "{err}");
    }
}
