//! The phone listener: accepts TCP connections, admits at most a few
//! connections per peer (and overall) into the handshake, and turns each
//! socket into a channel of frames so that every wait in a session is a
//! cancel-safe `recv`.
//!
//! A connection does not hold the terminal (one phone at a time, P3.7)
//! until its handshake is complete (see [`crate::session`]): an anonymous
//! connection that sends nothing, or half a frame, cannot make real phones
//! `Busy`; it only uses one of its peer's few handshake places until
//! `timeouts.handshake_ms` runs out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wayfare_protocol::framing::{payload_len, HEADER_LEN};

use crate::config::ConnectionLimits;
use crate::session::{serve, End};
use crate::Shared;

/// How long running sessions may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Refused connections are logged at `warn` at most this often (each one
/// at `debug`), so a flood cannot flood the log too.
const REFUSAL_WARN_EVERY: Duration = Duration::from_secs(10);

/// Accepts phones until `shutdown`; each admitted connection gets its own
/// session task, which takes the terminal once its handshake is complete.
pub(crate) async fn run_listener(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let admission = Admission::new(shared.config.connections.clone());
    let mut refusals = RefusalLog::default();
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match admission.admit(peer.ip()) {
                    Some(ticket) => {
                        let _ = stream.set_nodelay(true);
                        sessions.spawn(serve(shared.clone(), stream, Peer::Tcp(peer), Some(ticket), shutdown.clone()));
                    }
                    // Closed unread: costs us one accept and one close.
                    None => refusals.note(peer),
                },
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

/// Rate-limited logging of refused connections.
#[derive(Default)]
struct RefusalLog {
    since_warning: u64,
    last_warning: Option<Instant>,
}

impl RefusalLog {
    fn note(&mut self, peer: SocketAddr) {
        tracing::debug!(%peer, "too many connections in the handshake; connection refused");
        self.since_warning += 1;
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_WARN_EVERY)
        {
            tracing::warn!(
                %peer,
                refused = self.since_warning,
                "refusing phone connections: too many are in the handshake (from this peer or overall)"
            );
            self.since_warning = 0;
            self.last_warning = Some(now);
        }
    }
}

/// Counts the connections in the handshake, overall and per peer.
#[derive(Clone)]
pub(crate) struct Admission {
    limits: ConnectionLimits,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// One connection's place in the handshake; given back when dropped
/// (when the session takes the terminal, or ends).
pub(crate) struct Ticket {
    counts: Arc<Mutex<Counts>>,
    peer: IpAddr,
}

impl Admission {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            counts: Arc::default(),
        }
    }

    /// A place in the handshake for a connection from `ip`, or `None` when
    /// its peer or the terminal is at its cap.
    pub(crate) fn admit(&self, ip: IpAddr) -> Option<Ticket> {
        let peer = peer_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let from_peer = counts.per_peer.get(&peer).copied().unwrap_or(0);
        if counts.total >= self.limits.max_handshakes
            || from_peer >= self.limits.max_handshakes_per_peer
        {
            return None;
        }
        counts.total += 1;
        counts.per_peer.insert(peer, from_peer + 1);
        Some(Ticket {
            counts: self.counts.clone(),
            peer,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The address a peer is counted under: IPv4 (also when IPv4-mapped) as
/// is, IPv6 by its /64 network (one host usually holds a whole /64).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_peer: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_handshakes: total,
            max_handshakes_per_peer: per_peer,
        }
    }

    #[test]
    fn a_peer_over_its_cap_is_refused_until_a_place_frees() {
        let admission = Admission::new(limits(10, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert!(admission.admit(a).is_none());
        assert!(admission.admit(b).is_some());
        drop(first);
        assert!(admission.admit(a).is_some());
    }

    #[test]
    fn the_overall_cap_holds_across_peers() {
        let admission = Admission::new(limits(3, 2));
        let tickets: Vec<_> = (1..=3)
            .map(|i| admission.admit(IpAddr::from([192, 0, 2, i])).unwrap())
            .collect();
        assert!(admission.admit(IpAddr::from([192, 0, 2, 9])).is_none());
        drop(tickets);
        let _kept = admission.admit(IpAddr::from([192, 0, 2, 9])).unwrap();
        assert_eq!(admission.counts.lock().unwrap().total, 1);
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let admission = Admission::new(limits(10, 1));
        let _t = admission.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(admission
            .admit("2001:db8:1:2::ffff".parse().unwrap())
            .is_none());
        assert!(admission
            .admit("2001:db8:1:3::1".parse().unwrap())
            .is_some());
        let _v4 = admission.admit("192.0.2.7".parse().unwrap()).unwrap();
        assert!(admission
            .admit("::ffff:192.0.2.7".parse().unwrap())
            .is_none());
    }
}
