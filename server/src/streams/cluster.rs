//! Several control-center nodes on one PostgreSQL: live delivery across
//! nodes. Rows are the truth (alerts, prompts and terminal events are
//! stored before anyone is woken); what a node lacks is the *wake-up* when
//! another node committed them. So every local wake-up of an account's or a
//! terminal's event streams is also published with PostgreSQL `NOTIFY` on
//! one channel, and each node `LISTEN`s and wakes its own streams (decision
//! 0017). A node hears its own notifications too: a second wake-up only
//! makes a stream look for rows it already sent, which is harmless.
//!
//! Publishing is coalesced ([`Publisher`]): a `NOTIFY` is a transaction of
//! its own with a durable commit, so one per payment would add a WAL flush
//! to every payment. The wake-ups queued while one notification is being
//! sent go out together in the next, one per line of its payload.
//!
//! Each node's listener is [`super::listen`].
//!
//! SQLite is one process's file: nothing to do there.

use sqlx::AnyPool;
use tokio::sync::mpsc;

/// The one `LISTEN`/`NOTIFY` channel.
pub(super) const CHANNEL: &str = "wayfare_wake";

/// The largest payload sent: PostgreSQL's limit is just under 8000 bytes.
const MAX_PAYLOAD: usize = 7_900;
/// The most wake-ups taken from the queue for one round of notifications.
const MAX_ROUND: usize = 4_096;

/// A wake-up as carried in a notification's payload (one per line).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
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

    pub(super) fn decode(payload: &str) -> Option<Self> {
        match payload.split_once(':') {
            Some(("a", id)) if !id.is_empty() => Some(Wake::Account(id.to_string())),
            Some(("t", id)) if !id.is_empty() => Some(Wake::Terminal(id.to_string())),
            _ => None,
        }
    }
}

/// Publishes wake-ups to the other nodes (PostgreSQL only), off the
/// callers' path: the rows are committed already, so a lost notification
/// delays a live delivery (the stream's own reconnect or next wake-up
/// catches up), it never loses data.
#[derive(Clone)]
pub(crate) struct Publisher {
    queue: mpsc::UnboundedSender<Wake>,
}

impl Publisher {
    /// Starts the task that sends the queued wake-ups on `pool`.
    pub(crate) fn start(pool: AnyPool) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_rounds(pool, rx));
        Self { queue }
    }

    /// Queues `wake` for the next notification.
    pub(crate) fn publish(&self, wake: Wake) {
        if self.queue.send(wake).is_err() {
            tracing::debug!("the wake-up publisher has stopped");
        }
    }
}

/// Sends what is queued — at least one wake-up, deduplicated — as few
/// notifications as the payload limit allows, then waits for more.
async fn send_rounds(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<Wake>) {
    let mut round = Vec::new();
    while let Some(first) = rx.recv().await {
        round.push(first);
        while round.len() < MAX_ROUND {
            match rx.try_recv() {
                Ok(wake) => round.push(wake),
                Err(_) => break,
            }
        }
        round.sort();
        round.dedup();
        for payload in payloads(&round) {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "publishing wake-ups to the other nodes failed");
            }
        }
        round.clear();
    }
}

/// The wake-ups as notification payloads, one per line, each payload under
/// [`MAX_PAYLOAD`] bytes.
fn payloads(wakes: &[Wake]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for wake in wakes {
        let line = wake.encode();
        if !current.is_empty() && current.len() + 1 + line.len() > MAX_PAYLOAD {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{payloads, Wake, MAX_PAYLOAD};

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

    #[test]
    fn a_round_is_split_into_payloads_under_the_limit_and_nothing_is_lost() {
        let wakes: Vec<Wake> = (0..2_000)
            .map(|i| Wake::Account(format!("acc_{i:08}")))
            .collect();
        let sent = payloads(&wakes);
        assert!(sent.len() > 1);
        assert!(sent.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let back: Vec<Wake> = sent
            .iter()
            .flat_map(|p| p.lines().map(|l| Wake::decode(l).unwrap()))
            .collect();
        assert_eq!(back, wakes);
    }
}
