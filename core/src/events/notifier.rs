//! The nudge: tells the app's [`WalletEventListener`] that events are
//! waiting, from a dedicated thread, so that producers never call foreign
//! code (and never do so while holding a lock).

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

use crate::listener::WalletEventListener;

type Slot = Arc<Mutex<Option<Arc<dyn WalletEventListener>>>>;

/// Per-wallet listener slot and notifier thread. The thread is started with
/// the first listener and ends when the wallet is dropped.
#[derive(Default)]
pub(crate) struct EventHub {
    listener: Slot,
    wake: Mutex<Option<Sender<u32>>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHub")
    }
}

impl EventHub {
    /// Sets (or replaces) the listener, starting the notifier thread once.
    pub(crate) fn set_listener(&self, listener: Arc<dyn WalletEventListener>) {
        if let Ok(mut slot) = self.listener.lock() {
            *slot = Some(listener);
        }
        let Ok(mut wake) = self.wake.lock() else {
            return;
        };
        if wake.is_some() {
            return;
        }
        let (tx, rx) = channel::<u32>();
        let slot = self.listener.clone();
        let spawned = std::thread::Builder::new()
            .name("wayfare-events".into())
            .spawn(move || {
                // Ends when the hub (and so the sender) is dropped.
                while let Ok(mut pending) = rx.recv() {
                    // Coalesce a burst into one nudge with the latest count.
                    while let Ok(newer) = rx.try_recv() {
                        pending = newer;
                    }
                    let listener = slot.lock().ok().and_then(|l| l.clone());
                    if let Some(listener) = listener {
                        if let Err(e) = listener.on_events_available(pending) {
                            tracing::warn!(target: "wayfare_core::events", error = %e, "event listener failed");
                        }
                    }
                }
            });
        match spawned {
            Ok(_) => *wake = Some(tx),
            Err(e) => {
                tracing::error!(target: "wayfare_core::events", error = %e, "cannot start the event notifier thread")
            }
        }
    }

    /// The current listener, if any.
    pub(crate) fn listener(&self) -> Option<Arc<dyn WalletEventListener>> {
        self.listener.lock().ok().and_then(|l| l.clone())
    }

    /// Drops the listener (on `close()`), breaking reference cycles.
    pub(crate) fn clear_listener(&self) {
        if let Ok(mut slot) = self.listener.lock() {
            slot.take();
        }
    }

    /// Wakes the listener with the number of pending events; never blocks
    /// and never calls foreign code on the caller's thread.
    pub(crate) fn nudge(&self, pending: usize) {
        let pending = u32::try_from(pending).unwrap_or(u32::MAX);
        if let Ok(wake) = self.wake.lock() {
            if let Some(tx) = wake.as_ref() {
                let _ = tx.send(pending);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::ListenerError;
    use std::time::Duration;

    struct Forward(Mutex<std::sync::mpsc::Sender<u32>>);

    impl WalletEventListener for Forward {
        fn on_events_available(&self, pending: u32) -> Result<(), ListenerError> {
            let _ = self.0.lock().unwrap().send(pending);
            Ok(())
        }
    }

    #[test]
    fn nudges_reach_the_listener_from_another_thread_until_cleared() {
        let hub = EventHub::default();
        hub.nudge(1); // no listener yet: dropped silently
        let (tx, rx) = std::sync::mpsc::channel();
        hub.set_listener(Arc::new(Forward(Mutex::new(tx))));
        hub.nudge(3);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 3);
        hub.clear_listener();
        assert!(hub.listener().is_none());
        hub.nudge(4);
        drop(hub); // ends the notifier thread, which drops nothing it owns
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_err());
    }
}
