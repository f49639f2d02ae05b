//! Per-owner wake-ups for event streams: a commit that added rows for an
//! account (or a terminal) wakes the streams of that owner only, in O(1),
//! however many other streams are connected. (One broadcast channel to
//! every stream made each commit wake all N of them: O(N) work per commit.)
//!
//! Each owner with at least one open stream has an entry: a `watch`
//! channel whose value is bumped by every wake-up. A [`Subscription`]
//! holds a receiver: one made before a stream's first read sees every
//! wake-up after it (`watch` remembers that the value changed even when
//! nobody was waiting), and several wake-ups before the stream looks
//! coalesce into one (the stream reads all new rows anyway). The entry is
//! removed when the owner's last subscription is dropped, so the registry
//! holds only owners with open streams.
//!
//! [`Wakeups::wake_all`] wakes every stream (after wake-ups from other
//! nodes may have been lost, [`crate::streams::cluster`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// The registry of one kind of owner (accounts, or terminals).
#[derive(Clone, Default)]
pub struct Wakeups {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    owners: Mutex<HashMap<String, watch::Sender<u64>>>,
    all: Everyone,
}

/// The "wake every stream" channel.
struct Everyone(watch::Sender<u64>);

impl Default for Everyone {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Shared {
    fn owners(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        // The map stays consistent whatever panicked while holding it.
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Wakeups {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes to the wake-ups of `owner`. Subscribe before the stream
    /// first reads its rows: a commit in between is then not missed.
    pub fn subscribe(&self, owner: &str) -> Subscription {
        let own = {
            let mut owners = self.shared.owners();
            owners
                .entry(owner.to_string())
                .or_insert_with(|| watch::channel(0).0)
                .subscribe()
        };
        Subscription {
            shared: self.shared.clone(),
            owner: owner.to_string(),
            own: Some(own),
            all: self.shared.all.0.subscribe(),
        }
    }

    /// Wakes the streams of `owner` (none open is fine).
    pub fn wake(&self, owner: &str) {
        if let Some(sender) = self.shared.owners().get(owner) {
            sender.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    /// Wakes every stream.
    pub fn wake_all(&self) {
        self.shared.all.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// How many owners have open subscriptions.
    #[cfg(test)]
    pub fn owners(&self) -> usize {
        self.shared.owners().len()
    }
}

/// One stream's wake-ups; dropping it unsubscribes.
pub struct Subscription {
    shared: Arc<Shared>,
    owner: String,
    own: Option<watch::Receiver<u64>>,
    all: watch::Receiver<u64>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Subscription {
    /// Waits for the next wake-up of this owner (or of everyone) since the
    /// last one this subscription saw; returns at once if one came
    /// meanwhile.
    pub async fn woken(&mut self) {
        let Some(own) = self.own.as_mut() else {
            // Unreachable while alive; wait for a wake-all then.
            let _ = self.all.changed().await;
            return;
        };
        // The senders live as long as this subscription (the owner's in
        // the map, everyone's in the registry), so neither errs.
        tokio::select! {
            _ = own.changed() => {}
            _ = self.all.changed() => {}
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Drop our receiver first, then remove the entry if it was the
        // last one; both under the lock subscribe() takes, so a concurrent
        // subscriber of the same owner keeps its entry.
        let mut owners = self.shared.owners();
        drop(self.own.take());
        if owners
            .get(&self.owner)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            owners.remove(&self.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken_soon(s: &mut Subscription) -> bool {
        tokio::time::timeout(Duration::from_millis(50), s.woken())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_wake_up_reaches_its_owner_and_no_one_else() {
        let w = Wakeups::new();
        let mut a1 = w.subscribe("acc_a");
        let mut a2 = w.subscribe("acc_a");
        let mut b = w.subscribe("acc_b");
        w.wake("acc_a");
        assert!(woken_soon(&mut a1).await);
        assert!(woken_soon(&mut a2).await, "every stream of the owner wakes");
        assert!(
            !woken_soon(&mut b).await,
            "another owner's stream stays asleep"
        );
        assert!(!woken_soon(&mut a1).await, "one wake-up wakes once");
        w.wake("acc_nobody");
        assert!(!woken_soon(&mut b).await);
        assert_eq!(
            w.owners(),
            2,
            "waking an owner without streams adds nothing"
        );
    }

    #[tokio::test]
    async fn a_wake_up_before_the_wait_is_not_lost_and_several_coalesce() {
        let w = Wakeups::new();
        let mut a = w.subscribe("acc_a");
        w.wake("acc_a");
        w.wake("acc_a");
        assert!(woken_soon(&mut a).await);
        assert!(!woken_soon(&mut a).await);
    }

    #[tokio::test]
    async fn wake_all_wakes_every_stream() {
        let w = Wakeups::new();
        let mut a = w.subscribe("acc_a");
        let mut b = w.subscribe("acc_b");
        w.wake_all();
        assert!(woken_soon(&mut a).await);
        assert!(woken_soon(&mut b).await);
    }

    #[tokio::test]
    async fn dropped_streams_leave_no_entries() {
        let w = Wakeups::new();
        let a1 = w.subscribe("acc_a");
        let a2 = w.subscribe("acc_a");
        let b = w.subscribe("acc_b");
        assert_eq!(w.owners(), 2);
        drop(a1);
        assert_eq!(w.owners(), 2, "acc_a still has a stream");
        drop(a2);
        drop(b);
        assert_eq!(w.owners(), 0);
        // Resubscribing after the last one went works as new.
        let mut a = w.subscribe("acc_a");
        w.wake("acc_a");
        assert!(woken_soon(&mut a).await);
        drop(a);
        assert_eq!(w.owners(), 0);
    }

    #[tokio::test]
    async fn many_subscribers_come_and_go_concurrently_without_leaks() {
        let w = Wakeups::new();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let w = w.clone();
            tasks.spawn(async move {
                for _ in 0..50 {
                    let mut s = w.subscribe(&format!("acc_{}", i % 7));
                    w.wake(&format!("acc_{}", i % 7));
                    s.woken().await;
                    tokio::task::yield_now().await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(w.owners(), 0);
    }
}
