//! The database: an sqlx `AnyPool` over SQLite or PostgreSQL, the embedded
//! migrations, and the one way to run a write transaction.
//!
//! SQLite allows one writer at a time; a deferred transaction that reads and
//! then writes can fail with `SQLITE_BUSY` no matter how long the busy
//! timeout is. So on SQLite every write goes through one writer task, which
//! also commits concurrent transactions together ([`group_commit`]: one
//! fsync per batch, each transaction in its own savepoint, each caller
//! answered once its batch is durable), and copies the write-ahead log
//! into the database file beside the writer, never inside a commit
//! ([`checkpoint`]). On both backends a transaction that
//! still meets contention (busy, deadlock, serialization failure) is rolled
//! back and run again from the start.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyConnection;
use sqlx::{Any, AnyPool, Transaction};
use tracing::Instrument;

pub use crate::error::is_contention;
use crate::error::{ApiError, ServerError};

mod checkpoint;
pub mod exec;
mod group_commit;
pub(crate) mod observe;
mod sqlite_writer;
#[cfg(test)]
mod test_rows;

use checkpoint::WalState;
use exec::Exec;
use group_commit::{GroupCommit, Reply, Slot, Work};

/// How many times a write transaction is attempted before giving up.
const MAX_ATTEMPTS: u32 = 20;

/// Which database engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The connection pool plus the write discipline of its backend.
#[derive(Clone)]
pub struct Db {
    /// The pool; use it directly for reads.
    pub pool: AnyPool,
    /// SQLite: the one writer, committing in groups.
    writer: Option<GroupCommit>,
    /// SQLite: the writer's commits and the checkpoints run beside it.
    wal: Option<Arc<WalState>>,
    /// PostgreSQL: the URL, for the cross-node wake-up listener.
    postgres_url: Option<String>,
}

/// SQLite: hands `work` to the group-commit writer as a job of kind
/// `$kind` ([`Work`]), retried on contention, and returns its value. A
/// macro because the two kinds differ only in the connection type their
/// closures take.
macro_rules! queue {
    ($writer:expr, $work:expr, $kind:path) => {{
        let slot: Slot<_> = Arc::new(std::sync::Mutex::new(None));
        let work = Arc::new(tokio::sync::Mutex::new($work));
        // The job runs on the writer's thread: in the caller's span, so
        // its log lines carry the request they belong to.
        let span = tracing::Span::current();
        let result = slot.clone();
        let make = move || -> Work {
            let (slot, work, span) = (slot.clone(), work.clone(), span.clone());
            $kind(Box::new(move |conn| {
                let (slot, work) = (slot.clone(), work.clone());
                Box::pin(
                    async move {
                        let mut work = work.lock().await;
                        let value = (*work)(conn).await?;
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                        Ok(())
                    }
                    .instrument(span.clone()),
                )
            }))
        };
        grouped($writer, result, make).await
    }};
}

impl Db {
    /// Connects, configures SQLite (WAL, busy timeout, foreign keys) and
    /// applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, ServerError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 10 })
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    // Every commit invalidates the other connections' page
                    // caches; with the file mapped, re-reading a page is a
                    // memory access instead of a read system call and a copy.
                    sqlx::query("PRAGMA mmap_size = 268435456")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        if backend == Backend::Sqlite {
            // Persistent for the file: readers never block the writer.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        tracing::debug!(?backend, "database ready");
        let (writer, wal) = if backend == Backend::Sqlite {
            let wal = Arc::new(WalState::default());
            checkpoint::start(pool.clone(), &wal);
            (
                Some(GroupCommit::start(pool.clone(), wal.clone(), file_of(url))),
                Some(wal),
            )
        } else {
            (None, None)
        };
        let postgres_url = (backend == Backend::Postgres).then(|| url.to_string());
        Ok(Self {
            pool,
            writer,
            wal,
            postgres_url,
        })
    }

    /// Runs `work` in one write transaction and commits it. On contention
    /// the transaction is rolled back and `work` runs again, so it must do
    /// all its reads inside the transaction. Any error from `work` rolls the
    /// transaction back and is returned. On SQLite the transaction may
    /// share its commit with others running at the same time (a savepoint
    /// each); the answer comes only once that commit is durable.
    pub async fn write_tx<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, ApiError>>
            + Send
            + 'static,
    {
        match &self.writer {
            Some(writer) => queue!(writer, work, Work::Any),
            None => self.alone(work).await,
        }
    }

    /// [`Db::write_tx`] for work written against [`Exec`] (the payment
    /// path): on SQLite it runs on the writer's own connection, each
    /// statement on the writer's thread in the call; on PostgreSQL exactly
    /// like [`Db::write_tx`].
    pub async fn write_exec<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut dyn Exec) -> BoxFuture<'c, Result<T, ApiError>> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => queue!(writer, work, Work::Exec),
            None => {
                let mut work = work;
                self.alone(move |conn| work(conn)).await
            }
        }
    }

    /// PostgreSQL: a transaction of its own, retried on contention.
    async fn alone<T, F>(&self, mut work: F) -> Result<T, ApiError>
    where
        T: Send,
        F: for<'c> FnMut(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, ApiError>> + Send,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = async {
                let mut tx: Transaction<'static, Any> = self.pool.begin().await?;
                match work(&mut tx).await {
                    Ok(value) => {
                        tx.commit().await?;
                        Ok::<T, ApiError>(value)
                    }
                    Err(e) => {
                        if let Err(rollback) = tx.rollback().await {
                            tracing::debug!(error = %rollback, "rollback failed");
                        }
                        Err(e)
                    }
                }
            }
            .await;
            match result {
                Err(e) if e.is_retryable() => retry_or_give_up(attempt).await?,
                other => return other,
            }
        }
    }

    /// SQLite: reports every batch of the writer to `observer` (the
    /// server's `/metrics`); nothing on PostgreSQL, which has no writer.
    /// The first observer set stays.
    pub(crate) fn observe_writes(&self, observer: Arc<dyn observe::WriteObserver>) {
        if let Some(writer) = &self.writer {
            if !writer.observer().set(observer) {
                tracing::debug!("the writer has an observer already");
            }
        }
    }

    /// SQLite: the WAL checkpoints run so far (`/metrics`); `None` on
    /// PostgreSQL.
    pub fn wal_checkpoints(&self) -> Option<u64> {
        self.wal.as_ref().map(|wal| wal.checkpoints())
    }

    /// True on PostgreSQL, where several nodes may share the database.
    pub fn is_postgres(&self) -> bool {
        self.postgres_url.is_some()
    }

    /// The PostgreSQL URL (for `LISTEN`), if that is the backend.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres_url.as_deref()
    }

    /// Closes every connection (used on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Queues the job `make` builds until it commits, is refused, or meets
/// contention too often; the committed job's value is taken from `slot`.
async fn grouped<T>(
    writer: &GroupCommit,
    slot: Slot<T>,
    make: impl Fn() -> Work,
) -> Result<T, ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match writer.run(make()).await {
            Reply::Done(Ok(())) => {
                let value = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                return value.ok_or_else(|| {
                    ApiError::Internal("a committed transaction left no result".into())
                });
            }
            Reply::Done(Err(e)) if e.is_retryable() => retry_or_give_up(attempt).await?,
            Reply::Done(Err(e)) => return Err(e),
            Reply::BatchFailed {
                retryable: true, ..
            } => retry_or_give_up(attempt).await?,
            Reply::BatchFailed { message, .. } => {
                return Err(ApiError::Internal(format!(
                    "the write could not be committed: {message}"
                )))
            }
        }
    }
}

/// The database file behind an SQLite URL, when it is one (not in memory).
fn file_of(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let name = path.to_string_lossy();
    if name.starts_with("file:") || name == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    path.is_file().then(|| path.to_path_buf())
}

/// After contention: waits a little before the next attempt, or gives up
/// with `server_busy` after [`MAX_ATTEMPTS`].
async fn retry_or_give_up(attempt: u32) -> Result<(), ApiError> {
    if attempt >= MAX_ATTEMPTS {
        tracing::warn!(attempt, "write transaction gave up after contention");
        return Err(ApiError::ServerBusy(
            "the server is busy; retry the request in a moment".into(),
        ));
    }
    crate::metrics::tx_retry();
    tracing::debug!(attempt, "write transaction met contention; retrying");
    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5)).await;
    Ok(())
}

/// How a row read inside a write transaction is locked until the commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLock {
    /// Others may read and share-lock the row, but not change it: a reader
    /// that acts on the row's state (a payment alerting a guardian binding)
    /// makes a concurrent change (its revocation) wait for its commit.
    Share,
    /// Exclusive among writers: one transaction at a time works on the row
    /// (PostgreSQL's `FOR NO KEY UPDATE`, the lock an `UPDATE` takes, which
    /// still lets other transactions insert rows referencing it).
    Update,
}

/// The clause that locks the rows of a `SELECT` in a write transaction:
/// ` FOR SHARE` or ` FOR NO KEY UPDATE` on PostgreSQL; nothing on SQLite, where
/// [`Db::write_tx`] already runs one writer at a time.
pub fn lock_clause(conn: &dyn Exec, lock: RowLock) -> &'static str {
    if conn.backend() == Backend::Postgres {
        match lock {
            RowLock::Share => " FOR SHARE",
            RowLock::Update => " FOR NO KEY UPDATE",
        }
    } else {
        ""
    }
}

/// True when the error is a unique-constraint violation.
pub fn is_unique_violation(err: &ApiError) -> bool {
    match err {
        ApiError::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
        _ => false,
    }
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A `u64` that fits a BIGINT column (amounts and times always do).
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A BIGINT read back as `u64` (negative values clamp to 0).
pub fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
