//! The SQLite writer's batches ([`crate::db::observe`]) as histograms:
//! where a write's time went, seen from `/metrics`.

use super::{Metrics, DB_BATCH_SIZE, DB_BATCH_STATEMENTS, DB_COMMIT, DB_WRITE_QUEUE};
use crate::db::observe::{BatchReport, WriteObserver};

/// The SQLite writer's batches, as four histograms.
impl WriteObserver for Metrics {
    fn batch(&self, report: &BatchReport<'_>) {
        self.record(|| {
            let queue = ::metrics::histogram!(DB_WRITE_QUEUE);
            for waited in report.queued {
                queue.record(waited.as_secs_f64());
            }
            ::metrics::histogram!(DB_BATCH_SIZE).record(report.queued.len() as f64);
            ::metrics::histogram!(DB_BATCH_STATEMENTS).record(report.statements.as_secs_f64());
            ::metrics::histogram!(DB_COMMIT).record(report.commit.as_secs_f64());
        });
    }
}
