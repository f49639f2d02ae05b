//! Several control-center nodes on one PostgreSQL: live delivery across
//! nodes. Rows are the truth (alerts, prompts and terminal events are
//! stored before anyone is woken); what a node lacks is the *wake-up* when
//! another node committed them. So every local wake-up of an account's or a
//! terminal's event streams is also published with PostgreSQL `NOTIFY` on
//! one channel, and each node `LISTEN`s and wakes its own streams (decision
//! 0017). A node hears its own notifications too: a second wake-up only
//! makes a stream look for rows it already sent, which is harmless.
//!
//! SQLite is one process's file: nothing to do there.

use sqlx::postgres::PgListener;
use sqlx::AnyPool;
use tokio::sync::watch;

use crate::state::AppState;

/// The one `LISTEN`/`NOTIFY` channel.
const CHANNEL: &str = "wayfare_wake";

/// A wake-up as carried in a notification's payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The device event streams of an account.
    Account(String),
    /// The event streams of a terminal.
    Terminal(String),
}

impl Wake {
    fn encode(&self) -> String {
        match self {
            Wake::Account(id) => format!("a:{id}"),
            Wake::Terminal(id) => format!("t:{id}"),
        }
    }

    fn decode(payload: &str) -> Option<Self> {
        match payload.split_once(':') {
            Some(("a", id)) if !id.is_empty() => Some(Wake::Account(id.to_string())),
            Some(("t", id)) if !id.is_empty() => Some(Wake::Terminal(id.to_string())),
            _ => None,
        }
    }
}

/// Publishes `wake` to the other nodes (PostgreSQL only), off the caller's
/// path: the rows are committed already, so a lost notification delays a
/// live delivery (the stream's own reconnect or next wake-up catches up),
/// it never loses data.
pub(crate) fn publish(pool: &AnyPool, wake: Wake) {
    let pool = pool.clone();
    tokio::spawn(async move {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(wake.encode())
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "publishing a wake-up to the other nodes failed");
        }
    });
}

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
            Ok(Some(n)) => match Wake::decode(n.payload()) {
                Some(Wake::Account(id)) => state.wake_account_locally(&id),
                Some(Wake::Terminal(id)) => state.wake_terminal_locally(&id),
                None => tracing::debug!("ignoring an unknown wake-up payload"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "the wake-up listener lost its connection; reconnecting");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Wake;

    #[test]
    fn payloads_round_trip_and_garbage_is_ignored() {
        for wake in [
            Wake::Account("acc_1".into()),
            Wake::Terminal("ter:x".into()),
        ] {
            assert_eq!(Wake::decode(&wake.encode()), Some(wake));
        }
        for bad in ["", "a:", "x:acc_1", "acc_1"] {
            assert_eq!(Wake::decode(bad), None, "{bad}");
        }
    }
}
