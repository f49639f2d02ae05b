//! The phone listener: accepts TCP connections, admits at most a few
//! connections per peer (and overall) into the handshake
//! ([`crate::admission`]), and serves each socket as a session, which turns
//! it into a channel of frames so that every wait in a session is a
//! cancel-safe `recv` ([`crate::session::link`]).
//!
//! A connection does not hold the terminal (one phone at a time, P3.7)
//! until its handshake is complete (see [`crate::session`]): an anonymous
//! connection that sends nothing, or half a frame, cannot make real phones
//! `Busy`; it only uses one of its peer's few handshake places until
//! `timeouts.handshake_ms` runs out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::admission::Admission;
use crate::session::link::Peer;
use crate::session::serve;
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
