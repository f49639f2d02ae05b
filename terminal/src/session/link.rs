//! The byte stream a session runs over: who is on the other end, and the
//! frames read off it into a channel so that every wait in a session is a
//! cancel-safe `recv`. The transports (TCP [`crate::listener`], NFC, BLE)
//! name their [`Peer`] here.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use wayfare_protocol::framing::{payload_len, HEADER_LEN};

use super::End;

/// Who is on the other end of a session, for the log.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Peer {
    /// A phone connected over TCP from this address.
    Tcp(SocketAddr),
    /// A phone tapped on the NFC reader.
    #[cfg_attr(not(feature = "nfc"), allow(dead_code))]
    Nfc,
    /// A phone connected over Bluetooth LE.
    Ble,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => addr.fmt(f),
            Peer::Nfc => f.write_str("nfc"),
            Peer::Ble => f.write_str("ble"),
        }
    }
}

/// What the reader task delivers.
pub(crate) enum Incoming {
    Frame(Vec<u8>),
    Closed,
    Failed(String),
}

/// Reads frames off the socket into a channel; ends at the first bad
/// frame header (oversized frames are refused before any allocation).
pub(crate) fn spawn_reader<R: AsyncRead + Send + Unpin + 'static>(
    mut read: R,
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
