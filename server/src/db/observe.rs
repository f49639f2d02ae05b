//! What the SQLite writer measures about each batch, for whoever watches
//! (the server's `/metrics`). Where a write's time goes is the first
//! question under load: waiting for the one writer, running its
//! statements, or the commit's fsync. The database knows nothing of the
//! metrics recorder; the server hands it an observer once it has one.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Receives the writer's measurements, on the writer's thread, after the
/// batch's callers were answered (so watching adds nothing to a write's
/// latency).
pub(crate) trait WriteObserver: Send + Sync {
    /// One batch ran (committed or failed).
    fn batch(&self, report: &BatchReport<'_>);
}

/// One batch of the writer.
pub(crate) struct BatchReport<'a> {
    /// How long each of its transactions waited in the queue: from the
    /// caller's hand-over to the start of the batch.
    pub(crate) queued: &'a [Duration],
    /// From `BEGIN` to the last `COMMIT`'s start: the statements (and, after
    /// a refusal, the rollback and the rerun with savepoints).
    pub(crate) statements: Duration,
    /// The `COMMIT`, its fsync included (zero when it never got there).
    pub(crate) commit: Duration,
}

/// Where the writer finds its observer, set at most once, after the
/// writer started (the server makes its metrics after the database).
#[derive(Clone, Default)]
pub(super) struct ObserverSlot(Arc<OnceLock<Arc<dyn WriteObserver>>>);

impl ObserverSlot {
    /// Sets the observer; false if one was set already (it stays).
    pub(super) fn set(&self, observer: Arc<dyn WriteObserver>) -> bool {
        self.0.set(observer).is_ok()
    }

    /// Reports `report` to the observer, if there is one.
    pub(super) fn report(&self, report: &BatchReport<'_>) {
        if let Some(observer) = self.0.get() {
            observer.batch(report);
        }
    }
}

/// Times one batch: started when the batch is taken, told when its
/// `COMMIT` starts. A batch rerun after a refusal commits once, at the
/// end; the last `COMMIT` is the one timed.
pub(super) struct BatchClock {
    started: Instant,
    committing: Option<Instant>,
}

impl BatchClock {
    /// The batch starts now.
    pub(super) fn start() -> Self {
        Self {
            started: Instant::now(),
            committing: None,
        }
    }

    /// When the batch started (its jobs' queue time ends here).
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// The `COMMIT` starts now.
    pub(super) fn committing(&mut self) {
        self.committing = Some(Instant::now());
    }

    /// (statements, commit) as of now.
    pub(super) fn stages(&self) -> (Duration, Duration) {
        match self.committing {
            Some(at) => (at - self.started, at.elapsed()),
            None => (self.started.elapsed(), Duration::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(usize, bool)>>);

    impl WriteObserver for Seen {
        fn batch(&self, report: &BatchReport<'_>) {
            self.0
                .lock()
                .unwrap()
                .push((report.queued.len(), report.commit > Duration::ZERO));
        }
    }

    #[test]
    fn the_first_observer_stays_and_reports_reach_it() {
        let slot = ObserverSlot::default();
        let report = BatchReport {
            queued: &[Duration::ZERO; 3],
            statements: Duration::ZERO,
            commit: Duration::from_micros(1),
        };
        slot.report(&report); // nobody watches yet: dropped
        let first = Arc::new(Seen::default());
        assert!(slot.set(first.clone()));
        assert!(!slot.set(Arc::new(Seen::default())));
        slot.report(&report);
        assert_eq!(*first.0.lock().unwrap(), vec![(3, true)]);
    }

    #[test]
    fn statements_end_where_the_commit_starts() {
        let started = Instant::now() - Duration::from_millis(10);
        let never = BatchClock {
            started,
            committing: None,
        };
        let (statements, commit) = never.stages();
        assert!(statements >= Duration::from_millis(10));
        assert_eq!(commit, Duration::ZERO, "no COMMIT, no commit time");
        let clock = BatchClock {
            started,
            committing: Some(started + Duration::from_millis(4)),
        };
        let (statements, commit) = clock.stages();
        assert_eq!(statements, Duration::from_millis(4));
        assert!(commit >= Duration::from_millis(6), "{commit:?}");
    }
}
