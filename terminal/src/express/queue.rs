//! Accepted express taps, kept in the store until the control center has
//! settled them, and the counters this gate has seen per allowance (a
//! replayed tap is refused even before upload).

use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::{watch, Notify};
use wayfare_protocol::ids::redact;

use crate::backoff::Backoff;
use crate::error::{Result, TerminalError};
use crate::platform::PlatformClient;

pub(crate) use super::types::{QueuedTap, TapResult};

/// Most taps per upload (the server's limit).
const BATCH: usize = 100;

/// The queue and the seen counters.
pub(crate) struct ExpressQueue {
    db: sled::Db,
    pending: sled::Tree,
    seen: sled::Tree,
    wake: Notify,
}

impl ExpressQueue {
    pub(crate) fn open(db: sled::Db, pending: sled::Tree, seen: sled::Tree) -> Self {
        Self {
            db,
            pending,
            seen,
            wake: Notify::new(),
        }
    }

    /// The highest counter this gate took under `allowance_id`.
    pub(crate) fn last_seen(&self, allowance_id: &str) -> Result<Option<u32>> {
        Ok(self
            .seen
            .get(allowance_id.as_bytes())?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map(u32::from_be_bytes))
    }

    /// Records the tap and its counter together, durably, before the gate
    /// opens. Refused if the counter is not above the last one seen.
    pub(crate) fn accept(&self, allowance_id: &str, counter: u32, tap: &QueuedTap) -> Result<()> {
        let value = serde_json::to_vec(tap)
            .map_err(|e| TerminalError::Store(format!("cannot encode an express tap: {e}")))?;
        let key = self.db.generate_id()?.to_be_bytes();
        (&self.pending, &self.seen)
            .transaction(|(pending, seen)| {
                let last = seen
                    .get(allowance_id.as_bytes())?
                    .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                    .map(u32::from_be_bytes);
                if last.is_some_and(|last| counter <= last) {
                    return Err(ConflictableTransactionError::Abort(()));
                }
                seen.insert(allowance_id.as_bytes(), &counter.to_be_bytes())?;
                pending.insert(&key, value.as_slice())?;
                Ok(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(()) => {
                    TerminalError::Store("a replayed express tap counter".into())
                }
                TransactionError::Storage(e) => e.into(),
            })?;
        self.db.flush()?;
        self.wake.notify_one();
        Ok(())
    }

    /// Taps waiting for upload.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    fn oldest(&self) -> Vec<(sled::IVec, QueuedTap)> {
        let mut out = Vec::new();
        for entry in self.pending.iter().take(BATCH) {
            let Ok((key, value)) = entry else { break };
            match serde_json::from_slice(&value) {
                Ok(tap) => out.push((key, tap)),
                Err(e) => {
                    tracing::error!(error = %e, "undecodable express tap in the queue; dropping it");
                    let _ = self.pending.remove(&key);
                }
            }
        }
        out
    }

    /// Uploads queued taps, oldest first, with backoff (0.5 s to 30 s)
    /// while the control center is unreachable. A tap leaves the queue only
    /// once the control center answered for it.
    pub(crate) async fn run_uploader(
        self: Arc<Self>,
        platform: PlatformClient,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Backoff::for_uploads();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let notified = self.wake.notified();
            let batch = self.oldest();
            if batch.is_empty() {
                tokio::select! {
                    _ = notified => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let taps: Vec<QueuedTap> = batch.iter().map(|(_, t)| t.clone()).collect();
            let outcome = tokio::select! {
                r = platform.upload_express_taps(&taps) => r,
                _ = shutdown.changed() => return,
            };
            match outcome {
                Ok(results) if results.len() == batch.len() => {
                    backoff.reset();
                    for ((key, tap), result) in batch.iter().zip(results) {
                        log_result(tap, &result);
                        if let Err(e) = self.pending.remove(key) {
                            tracing::error!(error = %e, "cannot update the express queue");
                        }
                    }
                    if let Err(e) = crate::durable::flush(&self.db).await {
                        tracing::error!(error = %e, "cannot flush the express queue");
                    }
                }
                Ok(results) => {
                    tracing::error!(
                        sent = batch.len(),
                        answered = results.len(),
                        "the control center answered a different number of express taps; retrying"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, queued = batch.len(), retry_in_ms = backoff.next_ms(), "express tap upload failed; will retry");
                    if !backoff.wait(&mut shutdown).await {
                        return;
                    }
                }
            }
        }
    }
}

fn log_result(tap: &QueuedTap, result: &TapResult) {
    let allowance = wayfare_protocol::express::ExpressTap::from_base64(&tap.tap)
        .and_then(|t| t.peek())
        .map(|b| redact(&b.allowance_id))
        .unwrap_or_default();
    match result.status.as_str() {
        "charged" | "already_settled" => {
            tracing::info!(%allowance, status = %result.status, "express tap settled")
        }
        "partly_charged" => {
            tracing::warn!(%allowance, debt_minor = result.debt_minor, "express tap settled with a debt")
        }
        _ => {
            tracing::error!(%allowance, reason = %result.reason.as_deref().unwrap_or("?"), "the control center refused an express tap")
        }
    }
}
