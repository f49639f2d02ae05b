//! Prometheus metrics of the control center, rendered at `GET /metrics`
//! (the "Metrics" section of `docs/api.md` lists every name and label).
//!
//! **One recorder per server, never the global one.** Several servers run
//! in one process (the tests, the demo), so nothing here installs the
//! process-wide `metrics` recorder: each server's [`AppState`] owns a
//! [`Metrics`], a `PrometheusRecorder` built with
//! `PrometheusBuilder::build_recorder()` and its `PrometheusHandle`. A
//! sample is recorded by pointing the `metrics` macros at that recorder for
//! one synchronous closure (`metrics::with_local_recorder`), which is
//! thread-local and so cannot leak into another server's recorder.
//!
//! Call sites with the state in reach use [`Metrics`] directly. The free
//! helpers ([`payment`], [`refund`], [`tx_retry`], [`subscribers`]) find
//! "their" server through a tokio task-local that the HTTP layer sets
//! around every request and `lib.rs` around every background worker
//! ([`scope`]); outside such a scope (a task spawned from a handler) the
//! sample is dropped rather than credited to some other server.
//!
//! Labels are bounded sets only: route templates (`MatchedPath`, never the
//! raw path), status classes, error codes, stream kinds and outbox names.
//! No account, terminal, payment id or secret ever becomes a label.
//!
//! [`AppState`]: crate::state::AppState

use std::future::Future;
use std::sync::Arc;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub(crate) mod http;
pub(crate) mod scrape;
mod streams;
mod terminals;
mod writer;

pub(crate) use streams::track_stream;

/// Counter: payments by `outcome`.
pub(crate) const PAYMENTS: &str = "wayfare_payments_total";
/// Counter: merchant refunds by `outcome`.
pub(crate) const REFUNDS: &str = "wayfare_refunds_total";
/// Histogram: request latency by `method`, `route` and `status`.
pub(crate) const HTTP_DURATION: &str = "wayfare_http_request_duration_seconds";
/// Counter: write transactions retried after contention.
pub(crate) const TX_RETRIES: &str = "wayfare_db_transaction_retries_total";
/// Gauge: open event streams by `stream`.
pub(crate) const SUBSCRIBERS: &str = "wayfare_event_stream_subscribers";
/// Gauge: undelivered rows by `outbox`.
pub(crate) const OUTBOX_BACKLOG: &str = "wayfare_outbox_backlog";
/// Gauge: age of the oldest undelivered row by `outbox`.
pub(crate) const OUTBOX_AGE: &str = "wayfare_outbox_oldest_age_seconds";
/// Gauge: distinct terminals that made a verified request recently.
pub(crate) const TERMINALS_SEEN: &str = "wayfare_terminals_seen";
/// Counter: SQLite WAL checkpoints run beside the writer (SQLite only).
pub(crate) const WAL_CHECKPOINTS: &str = "wayfare_sqlite_wal_checkpoints_total";
/// Histogram: how long a write transaction waited for the SQLite writer.
pub(crate) const DB_WRITE_QUEUE: &str = "wayfare_db_write_queue_seconds";
/// Histogram: the statements of one SQLite writer batch (`BEGIN` to `COMMIT`).
pub(crate) const DB_BATCH_STATEMENTS: &str = "wayfare_db_batch_statements_seconds";
/// Histogram: one SQLite writer batch's `COMMIT`, its fsync included.
pub(crate) const DB_COMMIT: &str = "wayfare_db_commit_seconds";
/// Histogram: write transactions per SQLite writer batch.
pub(crate) const DB_BATCH_SIZE: &str = "wayfare_db_write_batch_size";
/// Gauge: 1 when the scrape-time database queries succeeded, else 0.
pub(crate) const SCRAPE_DB_UP: &str = "wayfare_metrics_database_up";

/// The event-stream kinds (`stream` label values).
pub(crate) const STREAMS: &[&str] = &["terminal", "device"];

/// Latency buckets (seconds): a payment is a few milliseconds on SQLite,
/// tens under PostgreSQL contention; the top buckets catch stalls.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The writer's stages (seconds): a commit's fsync is a fraction of a
/// millisecond on a good disk; what matters is which stage grows.
const DB_STAGE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Transactions per batch, up to the writer's limit of 256.
const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

tokio::task_local! {
    static CURRENT: Metrics;
}

/// One server's recorder and what is computed at scrape time. Cheap to
/// clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    terminals: terminals::SeenWindow,
}

impl Metrics {
    /// A fresh recorder with every metric described (so `# HELP` lines
    /// exist from the first scrape) and the latency histogram bucketed
    /// (the exporter renders unbucketed histograms as summaries).
    pub(crate) fn new() -> Self {
        let builder = bucketed().unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            inner: Arc::new(Inner {
                recorder,
                handle,
                terminals: terminals::SeenWindow::default(),
            }),
        };
        metrics.record(describe);
        metrics
    }

    /// Runs `f` with this server's recorder behind the `metrics` macros.
    pub(crate) fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        ::metrics::with_local_recorder(&self.inner.recorder, f)
    }

    /// The Prometheus text of everything recorded so far.
    pub(crate) fn render(&self) -> String {
        self.inner.handle.render()
    }

    /// Drains histogram samples into their buckets: keeps memory bounded
    /// between scrapes (run every few seconds by `lib.rs`).
    pub(crate) fn run_upkeep(&self) {
        self.inner.handle.run_upkeep();
    }

    /// Counts a payment attempt's outcome (a bounded label: `completed`,
    /// `replayed`, or an error code).
    pub(crate) fn payment(&self, outcome: &'static str) {
        self.record(|| ::metrics::counter!(PAYMENTS, "outcome" => outcome).increment(1));
    }

    /// Counts a refund attempt's outcome.
    pub(crate) fn refund(&self, outcome: &'static str) {
        self.record(|| ::metrics::counter!(REFUNDS, "outcome" => outcome).increment(1));
    }

    /// Counts one retried write transaction.
    pub(crate) fn tx_retry(&self) {
        self.record(|| ::metrics::counter!(TX_RETRIES).increment(1));
    }

    /// Moves the open-stream gauge of `stream` (`terminal`, `device`).
    pub(crate) fn subscribers(&self, stream: &'static str, delta: f64) {
        self.record(|| ::metrics::gauge!(SUBSCRIBERS, "stream" => stream).increment(delta));
    }

    /// Notes that `terminal_id` made a verified request now. The id stays
    /// in memory (never a label); only the count is exported.
    pub(crate) fn terminal_seen(&self, terminal_id: &str) {
        self.inner.terminals.seen(terminal_id);
    }

    /// How many distinct terminals were seen within the window.
    pub(crate) fn terminals_seen_recently(&self) -> usize {
        self.inner.terminals.count_recent()
    }
}

/// The exporter's builder with the histograms' buckets (unbucketed ones
/// would render as summaries).
fn bucketed() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    let mut builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(DB_BATCH_SIZE.into()), BATCH_SIZE_BUCKETS)?;
    for stage in [DB_WRITE_QUEUE, DB_BATCH_STATEMENTS, DB_COMMIT] {
        builder = builder.set_buckets_for_metric(Matcher::Full(stage.into()), DB_STAGE_BUCKETS)?;
    }
    Ok(builder)
}

/// `# HELP` text for every metric, and the series that start at 0.
fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        PAYMENTS,
        "Payment requests (POST /v1/payments) by outcome: completed, replayed, or the error code"
    );
    describe_counter!(
        REFUNDS,
        "Merchant refund requests by outcome: completed, replayed, or the error code"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by method, route template and status class"
    );
    describe_counter!(
        TX_RETRIES,
        "Write transactions retried after database contention"
    );
    describe_gauge!(SUBSCRIBERS, "Open server-sent-event streams by stream kind");
    describe_histogram!(
        DB_WRITE_QUEUE,
        Unit::Seconds,
        "SQLite: how long each write transaction waited for the one writer (hand-over to the start of its batch)"
    );
    describe_histogram!(
        DB_BATCH_STATEMENTS,
        Unit::Seconds,
        "SQLite: the statements of one writer batch, BEGIN to COMMIT"
    );
    describe_histogram!(
        DB_COMMIT,
        Unit::Seconds,
        "SQLite: one writer batch's COMMIT, its fsync (and any checkpoint of the writer's) included"
    );
    describe_histogram!(
        DB_BATCH_SIZE,
        Unit::Count,
        "SQLite: write transactions committed together in one writer batch"
    );
    describe_gauge!(
        OUTBOX_BACKLOG,
        "Undelivered rows by outbox (gateway: SMS/push messages, billing: billing exports)"
    );
    describe_gauge!(
        OUTBOX_AGE,
        Unit::Seconds,
        "Age of the oldest undelivered row by outbox (0 when empty)"
    );
    describe_gauge!(TERMINALS_SEEN, "Distinct terminals that made a verified signed request within the window (this server instance)");
    describe_gauge!(
        SCRAPE_DB_UP,
        "1 when the scrape-time database queries succeeded, else 0"
    ); // Series that exist from the start, so rates and alerts see a 0
       // rather than no data.
    ::metrics::counter!(TX_RETRIES).absolute(0);
    for stream in STREAMS {
        ::metrics::gauge!(SUBSCRIBERS, "stream" => *stream).set(0.0);
    }
}

/// Runs `future` with `metrics` as the current server's metrics for the
/// free helpers below (the HTTP layer wraps every request in it, `lib.rs`
/// every background worker).
pub(crate) fn scope<F: Future>(metrics: Metrics, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(metrics, future)
}

fn with_current(f: impl FnOnce(&Metrics)) {
    // Outside a scope: dropped on purpose (see the module comment).
    let _ = CURRENT.try_with(f);
}

/// Counts a payment outcome on the current server.
#[allow(dead_code)] // the HTTP layer counts payments; kept for in-handler call sites
pub(crate) fn payment(outcome: &'static str) {
    with_current(|m| m.payment(outcome));
}

/// Counts a refund outcome on the current server.
#[allow(dead_code)] // the HTTP layer counts refunds; kept for in-handler call sites
pub(crate) fn refund(outcome: &'static str) {
    with_current(|m| m.refund(outcome));
}

/// Counts one retried write transaction on the current server: called by
/// the retry loop of `db` (inside a request or a worker, so in a scope).
#[allow(dead_code)] // called from db once its retry loop is wired
pub(crate) fn tx_retry() {
    with_current(Metrics::tx_retry);
}

/// Moves the open-stream gauge of `stream` on the current server. Streams
/// outlive the request's scope: prefer [`track_stream`], whose guard keeps
/// its server and decrements on drop.
#[allow(dead_code)] // track_stream is the usual way
pub(crate) fn subscribers(stream: &'static str, delta: f64) {
    with_current(|m| m.subscribers(stream, delta));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_servers_keep_their_own_counts() {
        let a = Metrics::new();
        let b = Metrics::new();
        scope(a.clone(), async { tx_retry() }).await;
        scope(a.clone(), async { payment("completed") }).await;
        b.refund("replayed");
        tx_retry(); // outside any scope: nobody's
        let (ra, rb) = (a.render(), b.render());
        assert!(
            ra.contains("wayfare_db_transaction_retries_total 1"),
            "{ra}"
        );
        assert!(
            ra.contains("wayfare_payments_total{outcome=\"completed\"} 1"),
            "{ra}"
        );
        assert!(!ra.contains("wayfare_refunds_total{"), "{ra}");
        assert!(
            rb.contains("wayfare_refunds_total{outcome=\"replayed\"} 1"),
            "{rb}"
        );
        assert!(
            !rb.contains("wayfare_db_transaction_retries_total 1"),
            "{rb}"
        );
    }
}
