//! The group-commit writer under concurrency, refusals and logging.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::db::exec::sql;
use crate::db::test_rows::{assert_answers, insert_account, refusal};
use crate::db::Db;

async fn db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    (Db::connect(&url).await.unwrap(), dir)
}

/// Concurrent transactions share commits; a failing one rolls back
/// alone and every caller gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_transaction_in_a_batch_rolls_back_alone() {
    let (db, _dir) = db().await;
    let mut calls = Vec::new();
    for i in 0..200i64 {
        let db = db.clone();
        calls.push(tokio::spawn(async move {
            db.write_tx(move |conn| {
                Box::pin(async move {
                    insert_account(conn, format!("acc_gc_{i}"), "x".into()).await?;
                    if i % 3 == 0 {
                        return Err(refusal());
                    }
                    Ok(i)
                })
            })
            .await
        }));
    }
    assert_answers(calls, 3).await;
    let (stored,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM accounts WHERE id LIKE 'acc_gc_%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        200 - 67,
        "exactly the successful transactions are stored"
    );
}

/// A log line written inside a transaction, on the writer's thread,
/// carries the span of the request that asked for it.
#[tokio::test]
async fn a_transaction_logs_in_its_callers_span() {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Installed before the database starts its writer thread, which
    // takes the subscriber it was started under.
    let _default = tracing::subscriber::set_default(subscriber);
    let (db, _dir) = db().await;
    let span = tracing::info_span!("request", id = "req_in_writer");
    tracing::Instrument::instrument(
        db.write_tx(|_conn| {
            Box::pin(async move {
                tracing::info!("inside the transaction");
                Ok(())
            })
        }),
        span,
    )
    .await
    .unwrap();
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("inside the transaction"))
        .unwrap_or_else(|| panic!("the line was logged: {text}"));
    assert!(line.contains("request{id=\"req_in_writer\"}"), "{line}");
}

/// A transaction that meets a unique violation is answered with it
/// (callers rely on it for idempotent replays) and runs once.
#[tokio::test]
async fn errors_reach_their_caller_and_nothing_is_retried_twice() {
    let (db, _dir) = db().await;
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    for expect_ok in [true, false] {
        let runs = runs.clone();
        let result = db
            .write_tx(move |conn| {
                runs.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    insert_account(conn, "acc_once".into(), "x".into()).await?;
                    Ok(())
                })
            })
            .await;
        assert_eq!(result.is_ok(), expect_ok);
        if !expect_ok {
            assert!(crate::db::is_unique_violation(&result.unwrap_err()));
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// Work written against `Exec` runs on the writer's own connection: in a
/// batch of concurrent payments-like transactions a refused one rolls back
/// alone, every caller gets its own answer, and what was answered is what
/// the pool reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_work_shares_commits_and_a_refusal_rolls_back_alone() {
    let (db, _dir) = db().await;
    let mut calls = Vec::new();
    for i in 0..200i64 {
        let db = db.clone();
        calls.push(tokio::spawn(async move {
            db.write_exec(move |conn| {
                Box::pin(async move {
                    insert_account(conn, format!("acc_ex_{i}"), "x".into()).await?;
                    let (seq,): (i64,) = sql(
                        "UPDATE accounts SET entry_seq = entry_seq + $2 WHERE id = $1 \
                         RETURNING entry_seq",
                    )
                    .bind(format!("acc_ex_{i}"))
                    .bind(i)
                    .fetch_one(conn)
                    .await?;
                    if i % 4 == 0 {
                        return Err(refusal());
                    }
                    Ok(seq)
                })
            })
            .await
        }));
    }
    assert_answers(calls, 4).await;
    let (stored, seqs): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(entry_seq) AS BIGINT) FROM accounts WHERE id LIKE 'acc_ex_%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        stored, 150,
        "exactly the successful transactions are stored"
    );
    let expected: i64 = (0..200i64).filter(|i| i % 4 != 0).sum();
    assert_eq!(seqs, expected, "each stored row has its own update");
}

/// A unique violation met on the writer's own connection reads as one
/// (the payment path turns it into a replay or `order_already_paid`), and
/// work of both kinds, queued together, all commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_work_reports_unique_violations_and_mixes_with_sqlx_work() {
    let (db, _dir) = db().await;
    let insert = |id: &'static str| {
        let db = db.clone();
        async move {
            db.write_exec(move |conn| {
                Box::pin(async move { insert_account(conn, id.into(), "x".into()).await })
            })
            .await
        }
    };
    assert_eq!(insert("acc_twice").await.unwrap(), 1);
    let again = insert("acc_twice").await.unwrap_err();
    assert!(crate::db::is_unique_violation(&again), "{again}");

    let mut calls = Vec::new();
    for i in 0..100i64 {
        let db = db.clone();
        calls.push(tokio::spawn(async move {
            let id = format!("acc_mix_{i}");
            if i % 2 == 0 {
                db.write_exec(move |conn| {
                    let id = id.clone();
                    Box::pin(async move { insert_account(conn, id, "x".into()).await })
                })
                .await
            } else {
                db.write_tx(move |conn| {
                    let id = id.clone();
                    Box::pin(async move { insert_account(conn, id, "x".into()).await })
                })
                .await
            }
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 1);
    }
    let (stored,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM accounts WHERE id LIKE 'acc_mix_%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored, 100);
}
