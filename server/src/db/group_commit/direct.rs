//! The writer's batches of `Exec` work, on its own rusqlite connection
//! ([`crate::db::sqlite_writer`]): the same discipline as the sqlx path in
//! `mod.rs` — optimistic first, a savepoint per job after a refusal, each
//! caller answered once the batch is durable.

use super::{fail_all_with, Job, Reply, Work};
use crate::db::observe::BatchClock;
use crate::db::sqlite_writer::{self, SqliteExec};
use crate::error::ApiError;

/// `run_batch` on the writer's rusqlite connection, for [`Exec`] work:
/// optimistic first, a savepoint per job after a failure. False when the
/// batch could not be committed.
pub(super) async fn run_direct(
    conn: &mut rusqlite::Connection,
    batch: &mut Vec<Job>,
    clock: &mut BatchClock,
) -> bool {
    let failed = |batch: &mut Vec<Job>, e: ApiError| {
        fail_all_with(batch, e.is_retryable(), &e.to_string());
        false
    };
    if let Err(e) = sqlite_writer::control(conn, "BEGIN IMMEDIATE") {
        return failed(batch, e);
    }
    let mut refused = None;
    for job in batch.iter_mut() {
        if let Err(e) = run_exec(conn, &mut job.work).await {
            refused = Some(e);
            break;
        }
    }
    let Some(refusal) = refused else {
        clock.committing();
        return match commit_direct(conn) {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.reply.send(Reply::Done(Ok(())));
                }
                true
            }
            Err(e) => failed(batch, e),
        };
    };
    rollback_direct(conn);
    if batch.len() == 1 {
        if let Some(job) = batch.pop() {
            let _ = job.reply.send(Reply::Done(Err(refusal)));
        }
        return true;
    }
    // The careful path: a savepoint per job.
    if let Err(e) = sqlite_writer::control(conn, "BEGIN IMMEDIATE") {
        return failed(batch, e);
    }
    let mut results = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let result = match sqlite_writer::control(conn, "SAVEPOINT job") {
            Ok(()) => run_exec(conn, &mut job.work).await,
            Err(e) => Err(e),
        };
        let end = if result.is_ok() {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = sqlite_writer::control(conn, end) {
            rollback_direct(conn);
            return failed(batch, e);
        }
        results.push(result);
    }
    clock.committing();
    if let Err(e) = commit_direct(conn) {
        return failed(batch, e);
    }
    for (job, result) in batch.drain(..).zip(results) {
        let _ = job.reply.send(Reply::Done(result));
    }
    true
}

/// One job on the writer's rusqlite connection.
async fn run_exec(conn: &mut rusqlite::Connection, work: &mut Work) -> Result<(), ApiError> {
    let mut exec = SqliteExec { conn };
    match work {
        Work::Exec(work) => work(&mut exec).await,
        Work::Any(_) => Err(ApiError::Internal(
            "sqlx work reached the writer's rusqlite connection".into(),
        )),
    }
}

/// Commits; on failure the transaction is rolled back (nothing of it is
/// stored) and the error returned.
fn commit_direct(conn: &mut rusqlite::Connection) -> Result<(), ApiError> {
    sqlite_writer::control(conn, "COMMIT").inspect_err(|_| rollback_direct(conn))
}

/// Ends the open transaction, if any, storing nothing.
fn rollback_direct(conn: &mut rusqlite::Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = sqlite_writer::control(conn, "ROLLBACK") {
            tracing::debug!(error = %e, "rollback on the writer's connection failed");
        }
    }
}
