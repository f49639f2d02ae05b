//! Session reports (P1, P3.3): a durable queue in sled and a background
//! uploader that sends them to the control center whenever it is reachable.
//!
//! A report is written and flushed before anything tries to upload it, and
//! removed only after a 2xx answer. A report the server refuses for good
//! (a 4xx other than auth/rate limits) moves to a `rejected_reports` tree
//! so it neither blocks the queue nor gets lost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use wayfare_protocol::ids::redact;

use crate::backoff::Backoff;
use crate::error::{Result, TerminalError};
use crate::platform::PlatformClient;

pub(crate) mod report;

pub use report::Report;

/// The durable queue of reports not yet accepted by the server.
#[derive(Clone)]
pub struct ReportQueue {
    db: sled::Db,
    pending: sled::Tree,
    rejected: sled::Tree,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for ReportQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportQueue")
            .field("pending", &self.len())
            .finish()
    }
}

impl ReportQueue {
    /// Opens (or creates) the queue inside an already open sled database.
    pub fn new(db: sled::Db) -> Result<Self> {
        Ok(Self {
            pending: db.open_tree("reports")?,
            rejected: db.open_tree("rejected_reports")?,
            db,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Opens the sled database at `path` and the queue in it.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::new(open_db(path).await?)
    }

    /// Appends a report and flushes it to disk before returning.
    pub async fn push(&self, report: &Report) -> Result<()> {
        let value = serde_json::to_vec(report)
            .map_err(|e| TerminalError::Store(format!("cannot encode report: {e}")))?;
        let key = self.db.generate_id()?.to_be_bytes();
        self.pending.insert(key, value)?;
        crate::durable::flush(&self.db).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Number of reports waiting for upload.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no report is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Number of reports the server refused for good.
    pub fn rejected_len(&self) -> usize {
        self.rejected.len()
    }

    /// The oldest waiting report and its key. An undecodable entry is moved
    /// to the rejected tree.
    fn oldest(&self) -> Result<Option<(sled::IVec, Report)>> {
        while let Some((key, value)) = self.pending.first()? {
            match serde_json::from_slice::<Report>(&value) {
                Ok(report) => return Ok(Some((key, report))),
                Err(e) => {
                    tracing::error!(error = %e, "undecodable report in the queue; setting it aside");
                    self.rejected.insert(&key, value)?;
                    self.pending.remove(&key)?;
                }
            }
        }
        Ok(None)
    }

    async fn remove(&self, key: &sled::IVec) -> Result<()> {
        self.pending.remove(key)?;
        crate::durable::flush(&self.db).await?;
        Ok(())
    }

    async fn reject(&self, key: &sled::IVec, report: &Report) -> Result<()> {
        let value = serde_json::to_vec(report)
            .map_err(|e| TerminalError::Store(format!("cannot encode report: {e}")))?;
        self.rejected.insert(key, value)?;
        self.pending.remove(key)?;
        crate::durable::flush(&self.db).await?;
        Ok(())
    }

    /// Uploads waiting reports, oldest first, until the queue is empty or
    /// `shutdown` turns true; waits with exponential backoff (0.5 s to
    /// 30 s) while the server is unreachable and sleeps until the next push
    /// when the queue is empty. Cancel-safe: a report is removed only after
    /// the server accepted it.
    pub async fn run_uploader(self, client: PlatformClient, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::for_uploads();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let notified = self.wake.notified();
            let next = match self.oldest() {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the report queue");
                    None
                }
            };
            let Some((key, report)) = next else {
                tokio::select! {
                    _ = notified => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            let outcome = tokio::select! {
                r = client.upload_report(&report) => r,
                _ = shutdown.changed() => return,
            };
            let result = match outcome {
                Ok(()) => {
                    tracing::info!(report = %redact(&report.report_id), kind = %report.kind, order = %redact(&report.order_id), "report uploaded");
                    backoff.reset();
                    self.remove(&key).await
                }
                Err(TerminalError::Platform {
                    retryable: false,
                    message,
                    ..
                }) => {
                    tracing::error!(report = %redact(&report.report_id), %message, "the control center refused a report; setting it aside");
                    self.reject(&key, &report).await
                }
                Err(e) => {
                    tracing::warn!(report = %redact(&report.report_id), error = %e, retry_in_ms = backoff.next_ms(), "report upload failed; will retry");
                    if !backoff.wait(&mut shutdown).await {
                        return;
                    }
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "cannot update the report queue");
            }
        }
    }

    /// The tree of tap-in token ids already honoured by this terminal.
    pub(crate) fn used_tap_in_tokens(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree("used_tap_in_tokens")?)
    }

    /// The tree of sales whose payment outcome is not known yet.
    pub(crate) fn in_doubt_sales(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree("in_doubt_sales")?)
    }

    /// A tree of the terminal's store, by name (the express tap's deny
    /// list, queue and counters).
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree> {
        Ok(self.db.open_tree(name)?)
    }

    /// The store itself, for flushes.
    pub(crate) fn db(&self) -> sled::Db {
        self.db.clone()
    }

    /// The meta tree (e.g. the last event id of the push stream).
    pub(crate) fn meta(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree("meta")?)
    }

    /// Flushes everything to disk.
    pub async fn flush(&self) -> Result<()> {
        crate::durable::flush(&self.db).await?;
        Ok(())
    }
}

/// Opens a sled database without blocking the async runtime.
///
/// sled releases its file lock only when its background threads have let go
/// of the database, a moment after the last handle is dropped; a terminal
/// restarting in the same process can get there first. A lock conflict is
/// therefore retried briefly before it is reported.
pub async fn open_db(path: &Path) -> Result<sled::Db> {
    const LOCK_RETRY: Duration = Duration::from_millis(20);
    const LOCK_PATIENCE: Duration = Duration::from_secs(3);
    let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
    loop {
        let owned = path.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || sled::open(&owned))
            .await
            .map_err(|e| TerminalError::Store(format!("sled open task failed: {e}")))?;
        match opened {
            Ok(db) => return Ok(db),
            // sled reports the conflict as ErrorKind::Other with this text.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(LOCK_RETRY).await;
            }
            Err(e) => {
                return Err(TerminalError::Store(format!(
                    "cannot open {}: {e}",
                    path.display()
                )))
            }
        }
    }
}
