//! The phone listener: accepts TCP connections, serves one phone at a
//! time (P3.7) and answers `Busy` to the others, and turns each socket into
//! a channel of frames so that every wait in a session is a cancel-safe
//! `recv`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use wayfare_protocol::framing::{encode_frame, payload_len, HEADER_LEN};
use wayfare_protocol::messages::HandshakeMessage;

use crate::session::{serve, End};
use crate::Shared;

/// How many phones may be told `Busy` at the same time; more are dropped.
const BUSY_RESPONDERS: usize = 8;
/// How long running sessions may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Accepts phones until `shutdown`, serving one at a time and answering
/// `Busy` to the others.
pub(crate) async fn run_listener(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let responders = Arc::new(Semaphore::new(BUSY_RESPONDERS));
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Ok(permit) = shared.slot.clone().try_acquire_owned() {
                        sessions.spawn(serve(shared.clone(), stream, peer, permit, shutdown.clone()));
                    } else if let Ok(permit) = responders.clone().try_acquire_owned() {
                        sessions.spawn(answer_busy(shared.clone(), stream, peer, permit));
                    } else {
                        tracing::warn!(%peer, "too many phones waiting; dropping the connection");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a phone connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(joined) = sessions.join_next(), if !sessions.is_empty() => {
                if let Err(e) = joined {
                    if e.is_panic() {
                        tracing::error!("a phone session panicked; the terminal keeps running");
                    }
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("phone sessions still running at shutdown were aborted");
        sessions.abort_all();
    }
}

/// Tells a second phone that the terminal is busy (P3.7). The phone's
/// hello is read first so that closing does not reset the connection
/// before the phone reads the answer.
async fn answer_busy(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    let timeouts = &shared.config.timeouts;
    let (read, mut write) = stream.into_split();
    let (mut rx, reader) = spawn_reader(read);
    let _ = tokio::time::timeout(Duration::from_millis(timeouts.handshake_ms), rx.recv()).await;
    let busy = HandshakeMessage::Busy {
        retry_after_ms: timeouts.busy_retry_after_ms,
    };
    let sent = async {
        let frame = encode_frame(&busy.encode().map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
        write.write_all(&frame).await?;
        write.shutdown().await
    };
    match tokio::time::timeout(Duration::from_millis(timeouts.step_ms), sent).await {
        Ok(Ok(())) => tracing::info!(%peer, "answered Busy: another phone is being served"),
        _ => tracing::debug!(%peer, "could not tell a phone that the terminal is busy"),
    }
    reader.abort();
}

/// What the reader task delivers.
pub(crate) enum Incoming {
    Frame(Vec<u8>),
    Closed,
    Failed(String),
}

/// Reads frames off the socket into a channel; ends at the first bad
/// frame header (oversized frames are refused before any allocation).
pub(crate) fn spawn_reader(
    mut read: OwnedReadHalf,
) -> (mpsc::Receiver<Incoming>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4);
    let handle = tokio::spawn(async move {
        loop {
            let mut header = [0u8; HEADER_LEN];
            if let Err(e) = read.read_exact(&mut header).await {
                let _ = tx
                    .send(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        Incoming::Closed
                    } else {
                        Incoming::Failed(format!("read failed: {e}"))
                    })
                    .await;
                return;
            }
            let len = match payload_len(header) {
                Ok(len) => len,
                Err(e) => {
                    let _ = tx.send(Incoming::Failed(e.to_string())).await;
                    return;
                }
            };
            let mut payload = vec![0u8; len];
            if let Err(e) = read.read_exact(&mut payload).await {
                let _ = tx
                    .send(Incoming::Failed(format!(
                        "stream ended inside a frame: {e}"
                    )))
                    .await;
                return;
            }
            if tx.send(Incoming::Frame(payload)).await.is_err() {
                return;
            }
        }
    });
    (rx, handle)
}

/// The next frame, or why there is none.
pub(crate) fn frame_of(incoming: Option<Incoming>) -> Result<Vec<u8>, End> {
    match incoming {
        None | Some(Incoming::Closed) => Err(End::Closed),
        Some(Incoming::Failed(e)) => Err(End::Protocol(e)),
        Some(Incoming::Frame(frame)) => Ok(frame),
    }
}
