//! This node's half of the cross-node wake-ups ([`super::cluster`]): it
//! `LISTEN`s on the channel the nodes publish to and wakes its own
//! streams.

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::cluster::{Wake, CHANNEL};
use crate::state::AppState;

/// Listens for the other nodes' wake-ups until shutdown and wakes this
/// node's streams. `PgListener` reconnects by itself after a lost
/// connection; then every local stream re-reads its rows, since the
/// notifications sent meanwhile are lost.
pub(crate) async fn listen(url: String, state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut listener = loop {
        match PgListener::connect(&url).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => break l,
                Err(e) => tracing::warn!(error = %e, "LISTEN failed; retrying"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect the wake-up listener; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    };
    loop {
        let notification = tokio::select! {
            n = listener.try_recv() => n,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match notification {
            // The connection was lost and is back: notifications sent in
            // between are gone, so every stream of this node looks again.
            Ok(None) => {
                tracing::warn!("the wake-up listener reconnected; waking every stream");
                state.wake_all_locally();
            }
            Ok(Some(n)) => {
                for line in n.payload().lines() {
                    match Wake::decode(line) {
                        Some(Wake::Account(id)) => state.wake_account_locally(&id),
                        Some(Wake::Terminal(id)) => state.wake_terminal_locally(&id),
                        None => tracing::debug!("ignoring an unknown wake-up line"),
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the wake-up listener lost its connection; reconnecting");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}
