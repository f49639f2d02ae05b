//! Group commit for SQLite: one writer task runs every write transaction,
//! and the transactions that arrive while one commit is on disk go into
//! the next batch — one `COMMIT` (one fsync with `synchronous=FULL`) for
//! the whole batch. A batch first runs without savepoints; when one of its
//! transactions fails, the batch is rolled back and run again with a
//! savepoint per transaction, so a refused payment rolls back alone. Each
//! caller is answered only after its batch is durable, so nothing is
//! acknowledged that a crash could undo.
//!
//! With one writer this also replaces the mutex SQLite needs (one writer
//! at a time): at low load a batch is one transaction and nothing waits;
//! under load the fsync is shared by everything that queued behind it.
//!
//! The writer keeps one connection of its own, taken out of the pool, with
//! a larger page cache: a connection that another one wrote behind must
//! re-read the pages that changed, so batches run on whichever pooled
//! connection came free spent much of their time re-reading the same
//! pages (seen as `pread` and page-cache churn in a profile).
//!
//! Work written against [`Exec`] (the payment path) runs on a second
//! connection of the writer's, a rusqlite one ([`super::sqlite_writer`]),
//! where each statement runs on this thread instead of a round trip to
//! sqlx's worker thread. A batch holding both kinds commits each kind in a
//! transaction of its own, one after the other on this one thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{WalState, WAL_SIZE_LIMIT_BYTES, WRITER_CHECKPOINT_PAGES};
use super::exec::Exec;
use super::observe::{BatchClock, BatchReport, ObserverSlot};
use super::sqlite_writer;
use direct::run_direct;

mod direct;
use crate::error::ApiError;

/// The most transactions in one batch: bounds the latency a batch adds to
/// its first member and the work lost to one failed commit.
const MAX_BATCH: usize = 256;
/// The writer connection's page cache (`PRAGMA cache_size`, negative:
/// KiB): the hot pages of a busy day (accounts, payments' indexes) stay in
/// memory.
const WRITER_CACHE_KIB: i64 = 65_536;

/// One caller's transaction, type-erased: it leaves its result in the
/// caller's slot and says only whether it succeeded.
pub(super) enum Work {
    /// Written against sqlx's connection.
    Any(AnyWork),
    /// Written against [`Exec`]: runs on the writer's rusqlite connection.
    Exec(ExecWork),
}

/// Work on sqlx's connection.
pub(super) type AnyWork =
    Box<dyn for<'c> FnMut(&'c mut AnyConnection) -> BoxFuture<'c, Result<(), ApiError>> + Send>;

/// Work on any [`Exec`].
pub(super) type ExecWork =
    Box<dyn for<'c> FnMut(&'c mut dyn Exec) -> BoxFuture<'c, Result<(), ApiError>> + Send>;

impl Work {
    /// Runs on sqlx's connection, whichever kind it is.
    fn run_any<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<(), ApiError>> {
        match self {
            Work::Any(work) => work(conn),
            Work::Exec(work) => work(conn),
        }
    }
}

/// What the writer tells a caller.
pub(super) enum Reply {
    /// The transaction ran (its result is in the slot if `Ok`) and, if it
    /// succeeded, its batch is committed.
    Done(Result<(), ApiError>),
    /// The batch's commit (or its start) failed: nothing of it is stored.
    BatchFailed {
        /// Contention: running the transaction again may succeed.
        retryable: bool,
        /// Why, for the caller's error.
        message: String,
    },
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Reply>,
    /// When the caller handed it over (its queue time starts).
    queued: Instant,
}

/// The handle callers use; the writer task lives as long as any handle.
#[derive(Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
    /// Who hears of each batch's timings (`/metrics`), once set.
    observer: ObserverSlot,
}

impl GroupCommit {
    /// Starts the writer task on `pool`; it counts its commits in `wal`
    /// for the checkpointer. With `file` (the database's path), [`Exec`]
    /// work runs on a rusqlite connection to it.
    pub(super) fn start(pool: AnyPool, wal: Arc<WalState>, file: Option<PathBuf>) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let observer = ObserverSlot::default();
        let watching = observer.clone();
        // The thread logs where its starter logs (a test's subscriber is
        // the starter thread's only), and each job in its caller's span
        // (`Db::write_tx`). With no subscriber yet, the thread keeps to the
        // process-wide one, which an embedding app may install later.
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let dispatch = (!dispatch.is::<tracing::subscriber::NoSubscriber>()).then_some(dispatch);
        // The writer runs on a thread of its own: each statement is a round
        // trip to sqlx's SQLite thread, and on the shared runtime the
        // writer's every resumption queued behind the request handlers'
        // work (signature checks, JSON) — the batch, and everyone waiting
        // on it, paid that queueing once per statement.
        let spawned = std::thread::Builder::new()
            .name("wayfare-sqlite-writer".into())
            .spawn(move || {
                let _logs = dispatch.as_ref().map(tracing::dispatcher::set_default);
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(writer(pool, rx, wal, file, watching)),
                    Err(e) => tracing::error!(error = %e, "the database writer could not start"),
                }
            });
        if let Err(e) = spawned {
            // Callers are then told the writer has stopped.
            tracing::error!(error = %e, "the database writer thread could not start");
        }
        Self { jobs, observer }
    }

    /// Where the writer reports each batch's timings.
    pub(super) fn observer(&self) -> &ObserverSlot {
        &self.observer
    }

    /// Queues `work` and waits for its batch. Cancel-safe: a caller that
    /// stops waiting does not stop the batch (its transaction may still
    /// commit, exactly as if the answer had been lost on the wire).
    pub(super) async fn run(&self, work: Work) -> Reply {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work,
            reply,
            queued: Instant::now(),
        };
        if self.jobs.send(job).is_err() {
            return Reply::BatchFailed {
                retryable: false,
                message: "the database writer has stopped".into(),
            };
        }
        answer.await.unwrap_or(Reply::BatchFailed {
            retryable: false,
            message: "the database writer stopped during the transaction".into(),
        })
    }
}

/// The writer: takes what is queued (at least one job), runs it as one
/// transaction per kind of work, commits, answers, and reports each
/// batch's timings to `observer`.
async fn writer(
    pool: AnyPool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    wal: Arc<WalState>,
    file: Option<PathBuf>,
    observer: ObserverSlot,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut exec_batch = Vec::with_capacity(MAX_BATCH);
    let mut queued = Vec::with_capacity(MAX_BATCH);
    let mut conn: Option<AnyConnection> = None;
    let mut direct: Option<rusqlite::Connection> = None;
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(path) = &file {
            if direct.is_none() {
                match sqlite_writer::open(path, WRITER_CACHE_KIB) {
                    Ok(opened) => direct = Some(opened),
                    // The jobs then run on sqlx's connection below.
                    Err(e) => {
                        tracing::warn!(error = %e, "the writer's own connection did not open")
                    }
                }
            }
        }
        if let Some(direct_conn) = direct.as_mut() {
            let (exec, any): (Vec<Job>, Vec<Job>) = batch
                .drain(..)
                .partition(|job| matches!(job.work, Work::Exec(_)));
            exec_batch.extend(exec);
            batch.extend(any);
            if !exec_batch.is_empty() {
                let mut clock = start_clock(&exec_batch, &mut queued);
                if run_direct(direct_conn, &mut exec_batch, &mut clock).await {
                    wal.committed();
                } else {
                    // Possibly broken: the next batch opens a new one.
                    direct = None;
                }
                report(&observer, &clock, &queued);
                exec_batch.clear();
            }
            if batch.is_empty() {
                continue;
            }
        }
        let mut clock = start_clock(&batch, &mut queued);
        let writer = match conn.as_mut() {
            Some(writer) => writer,
            None => match own_connection(&pool).await {
                Ok(fresh) => conn.insert(fresh),
                Err(e) => {
                    fail_all(&mut batch, &e);
                    continue;
                }
            },
        };
        if run_batch(writer, &mut batch, &mut clock).await {
            wal.committed();
        } else {
            // The connection may be broken: the next batch takes a new one.
            if let Some(old) = conn.take() {
                let _ = old.close().await;
            }
        }
        report(&observer, &clock, &queued);
        batch.clear();
    }
}

/// Starts timing `batch`, noting in `queued` how long each job waited.
fn start_clock(batch: &[Job], queued: &mut Vec<Duration>) -> BatchClock {
    let clock = BatchClock::start();
    queued.clear();
    queued.extend(
        batch
            .iter()
            .map(|job| clock.started().saturating_duration_since(job.queued)),
    );
    clock
}

/// Tells the observer how the batch timed by `clock` went (its callers
/// have their answers already).
fn report(observer: &ObserverSlot, clock: &BatchClock, queued: &[Duration]) {
    let (statements, commit) = clock.stages();
    observer.report(&BatchReport {
        queued,
        statements,
        commit,
    });
}

/// A connection of the writer's own: out of the pool (its pragmas already
/// applied), with a larger page cache, and checkpoints in its commits only
/// past [`WRITER_CHECKPOINT_PAGES`] (the checkpointer copies the log beside
/// it, see [`super::checkpoint`]).
async fn own_connection(pool: &AnyPool) -> Result<AnyConnection, sqlx::Error> {
    let mut conn = pool.acquire().await?.detach();
    for pragma in [
        format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}"),
        format!("PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}"),
        format!("PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(pragma))
            .fetch_optional(&mut conn)
            .await?;
    }
    Ok(conn)
}

/// Runs a batch optimistically — every job straight in one transaction,
/// no savepoints (two statements fewer per job) — and, only when a job
/// fails, rolls the batch back and runs it again with a savepoint per job
/// so that the failure rolls back alone. Refusals are rare under load
/// (most are answered before a transaction starts), so this is the cheap
/// path nearly always. False when the batch could not be committed.
async fn run_batch(conn: &mut AnyConnection, batch: &mut Vec<Job>, clock: &mut BatchClock) -> bool {
    match run_optimistic(conn, batch, clock).await {
        Ok(None) => true,
        Ok(Some(e)) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                let _ = job.reply.send(Reply::Done(Err(e)));
            }
            true
        }
        Ok(Some(_)) => run_with_savepoints(conn, batch, clock).await,
        Err(e) => {
            fail_all(batch, &e);
            false
        }
    }
}

/// The cheap path: `Ok(None)` when the batch committed (and was answered),
/// `Ok(Some(error))` when a job failed and the batch was rolled back.
async fn run_optimistic(
    conn: &mut AnyConnection,
    batch: &mut Vec<Job>,
    clock: &mut BatchClock,
) -> Result<Option<ApiError>, sqlx::Error> {
    let mut tx = Connection::begin(&mut *conn).await?;
    for job in batch.iter_mut() {
        if let Err(e) = job.work.run_any(&mut tx).await {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rollback of an optimistic batch failed");
            }
            return Ok(Some(e));
        }
    }
    clock.committing();
    tx.commit().await?;
    if batch.len() > 1 {
        tracing::trace!(size = batch.len(), "group commit");
    }
    for job in batch.drain(..) {
        let _ = job.reply.send(Reply::Done(Ok(())));
    }
    Ok(None)
}

/// The careful path, after a job of the batch failed: a savepoint per job.
async fn run_with_savepoints(
    conn: &mut AnyConnection,
    batch: &mut Vec<Job>,
    clock: &mut BatchClock,
) -> bool {
    let mut tx = match Connection::begin(&mut *conn).await {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(batch, &e);
            return false;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        results.push(run_one(&mut tx, &mut job.work).await);
    }
    clock.committing();
    if let Err(e) = tx.commit().await {
        fail_all(batch, &e);
        return false;
    }
    for (job, result) in batch.drain(..).zip(results) {
        let _ = job.reply.send(Reply::Done(result));
    }
    true
}

/// Runs one job in a savepoint: released on success, rolled back alone on
/// error (the batch goes on).
async fn run_one(conn: &mut AnyConnection, work: &mut Work) -> Result<(), ApiError> {
    let mut savepoint = Connection::begin(&mut *conn).await?;
    match work.run_any(&mut savepoint).await {
        Ok(()) => {
            savepoint.commit().await?;
            Ok(())
        }
        Err(e) => {
            if let Err(rollback) = savepoint.rollback().await {
                tracing::debug!(error = %rollback, "rollback to savepoint failed");
            }
            Err(e)
        }
    }
}

fn fail_all(batch: &mut Vec<Job>, e: &sqlx::Error) {
    fail_all_with(batch, super::is_contention(e), &e.to_string());
}

fn fail_all_with(batch: &mut Vec<Job>, retryable: bool, message: &str) {
    tracing::warn!(error = %message, size = batch.len(), retryable, "a write batch failed to commit");
    for job in batch.drain(..) {
        let _ = job.reply.send(Reply::BatchFailed {
            retryable,
            message: message.to_string(),
        });
    }
}

/// Shared by [`super::Db::write_tx`]: the slot a job's result lands in.
pub(super) type Slot<T> = Arc<std::sync::Mutex<Option<T>>>;

#[cfg(test)]
mod tests;
