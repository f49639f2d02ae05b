//! SQLite WAL checkpoints mostly off the writer's path. By default SQLite
//! copies the write-ahead log back into the database file from inside the
//! commit that pushes the log past 1,000 pages: that commit, and every
//! caller queued behind the one writer, waits for the whole copy. Here a
//! task of its own runs a `PASSIVE` checkpoint on a pooled connection a
//! few times a second while there are new commits, so the copying happens
//! beside the writer. A passive checkpoint never blocks the writer or a
//! reader; what it cannot copy yet (pages a reader still needs) the next
//! one does.
//!
//! The log can only start over from its beginning when a checkpoint has
//! copied every frame and the writer has not appended since: a checkpoint
//! beside a busy writer never quite catches up (a first version without
//! the writer's own checkpoint grew the log by 18 MB/s under load, without
//! bound). So the writer still checkpoints, at [`WRITER_CHECKPOINT_PAGES`]
//! instead of 1,000: by then the checkpointer has copied nearly all of the
//! log, the writer copies only its tail, and its next transaction starts
//! the log over. Durability is unchanged: a commit is durable once its log
//! frames are synced (`synchronous = FULL`), before any checkpoint.
//!
//! Measured on the payment's own statements (11 per payment, batches of
//! 256, this 2-core machine): the writer committed 1,337 payments/s with
//! SQLite's automatic checkpoints and 1,808 without them in its path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::AnyPool;

/// How often the checkpointer looks for new commits.
const EVERY: Duration = Duration::from_millis(200);
/// The log size (pages) at which the writer's own commit checkpoints
/// (`PRAGMA wal_autocheckpoint`): the log then starts over. 16 MiB.
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 4_096;
/// The log file is truncated back to this size after a checkpoint let the
/// writer start it over (`PRAGMA journal_size_limit`), so one burst does
/// not leave a large file behind.
pub(super) const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// What the writer and the checkpointer share.
#[derive(Default)]
pub(super) struct WalState {
    /// Commits the writer made (bumped after each durable batch).
    commits: AtomicU64,
    /// Checkpoints that ran.
    checkpoints: AtomicU64,
}

impl WalState {
    /// Called by the writer after a batch committed.
    pub(super) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Checkpoints run so far (for `/metrics` and the tests).
    pub(super) fn checkpoints(&self) -> u64 {
        self.checkpoints.load(Ordering::Relaxed)
    }
}

/// Starts the checkpointer for `pool`. It stops when `state` is dropped
/// (the last handle of the database is gone) or the pool is closed.
pub(super) fn start(pool: AnyPool, state: &Arc<WalState>) {
    let state = Arc::downgrade(state);
    tokio::spawn(run(pool, state));
}

async fn run(pool: AnyPool, state: Weak<WalState>) {
    let mut seen = 0;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = state.upgrade() else {
            return;
        };
        let commits = shared.commits.load(Ordering::Relaxed);
        if commits == seen {
            continue;
        }
        if pool.is_closed() {
            return;
        }
        // Busy (1) means a concurrent checkpoint or a reader held it off;
        // the next tick tries again.
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            Ok((busy, log_frames, copied)) => {
                seen = commits;
                shared.checkpoints.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(busy, log_frames, copied, "WAL checkpoint");
            }
            Err(e) if pool.is_closed() => {
                tracing::debug!(error = %e, "checkpointer stops: the pool is closed");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    use wayfare_testkit::poll::{wait_until, PATIENCE};

    use super::super::test_rows::insert_account;
    use super::super::Db;

    /// Accounts in the database file itself, read as if the log did not
    /// exist (`immutable`): only checkpointed rows are there (-1 while the
    /// file cannot be read yet).
    async fn in_the_file(path: &std::path::Path) -> i64 {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .expect("a file URL")
            .immutable(true)
            .read_only(true);
        // Read while the checkpointer writes, the file may be caught half
        // copied: that too is "not yet".
        let Ok(mut conn) = options.connect().await else {
            return -1;
        };
        let n =
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM accounts WHERE id LIKE 'acc_ckpt_%'")
                .fetch_one(&mut conn)
                .await
                .map_or(-1, |(n,)| n);
        let _ = conn.close().await;
        n
    }

    /// Under a steady stream of commits the log starts over instead of
    /// growing: its file stays near the writer's checkpoint size while
    /// far more than that is written through it.
    #[tokio::test]
    async fn the_log_stays_bounded_under_a_steady_stream_of_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let page = 4096;
        let bound = (super::WRITER_CHECKPOINT_PAGES as u64 + 512) * (page + 24);
        // Rows of three pages, 64 at a time (so they share commits): twice
        // the bound in all goes through the log.
        let mut written = 0;
        let mut round = 0;
        while written < 2 * bound {
            let mut rows = Vec::new();
            for n in 0..64 {
                let db = db.clone();
                rows.push(tokio::spawn(async move {
                    db.write_tx(move |conn| {
                        Box::pin(async move {
                            insert_account(
                                conn,
                                format!("acc_stream_{round}_{n}"),
                                "x".repeat(12_000),
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .await
                }));
            }
            for row in rows {
                row.await.unwrap().unwrap();
            }
            written += 64 * 3 * page;
            round += 1;
        }
        let log = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        assert!(
            log <= bound,
            "the log is {log} bytes after {written} written through it"
        );
    }

    /// A handful of commits is far from the writer's own checkpoint
    /// threshold, so rows reach the database file only through the
    /// checkpointer.
    #[tokio::test]
    async fn commits_reach_the_database_file_through_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let before = db.wal_checkpoints().expect("SQLite has a checkpointer");
        for i in 0..20 {
            db.write_tx(move |conn| {
                Box::pin(async move {
                    insert_account(conn, format!("acc_ckpt_{i}"), "x".into()).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        }
        // The count moves just after the copy (when the checkpoint's answer
        // is back), so both are waited for.
        wait_until(
            PATIENCE,
            "the commits are checkpointed into the file",
            || {
                let (path, db) = (path.clone(), db.clone());
                async move {
                    in_the_file(&path).await == 20 && db.wal_checkpoints().unwrap_or(0) > before
                }
            },
        )
        .await;
    }
}
