//! The retry pause of the terminal's background loops that talk to the
//! control center (the report and express tap uploaders, the payment event
//! stream): it doubles from a minimum up to a maximum while the control
//! center cannot be reached, is back at the minimum once it answers, and a
//! shutdown cuts it short.

use std::time::Duration;

use tokio::sync::watch;

/// One loop's pause.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `min`, doubling up to `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            current: min,
        }
    }

    /// The uploaders' pause: 0.5 s doubling up to 30 s.
    pub(crate) fn for_uploads() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }

    /// Back to the minimum: the control center answered.
    pub(crate) fn reset(&mut self) {
        self.current = self.min;
    }

    /// The pause the next wait takes, in ms (for logs).
    pub(crate) fn next_ms(&self) -> u64 {
        self.current.as_millis() as u64
    }

    /// Sleeps the current pause, then doubles it; false when `shutdown`
    /// changed first (the loop should stop).
    pub(crate) async fn wait(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(self.current) => {}
            _ = shutdown.changed() => return false,
        }
        self.current = (self.current * 2).min(self.max);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pause_doubles_up_to_the_maximum_and_resets() {
        let (_tx, mut rx) = watch::channel(false);
        let mut b = Backoff::new(Duration::from_millis(5), Duration::from_millis(15));
        assert_eq!(b.next_ms(), 5);
        assert!(b.wait(&mut rx).await);
        assert_eq!(b.next_ms(), 10);
        assert!(b.wait(&mut rx).await);
        assert_eq!(b.next_ms(), 15);
        b.reset();
        assert_eq!(b.next_ms(), 5);
    }

    #[tokio::test]
    async fn a_shutdown_cuts_the_pause_short() {
        let (tx, mut rx) = watch::channel(false);
        let mut b = Backoff::new(Duration::from_secs(3_600), Duration::from_secs(3_600));
        tx.send(true).unwrap();
        assert!(!b.wait(&mut rx).await);
    }
}
