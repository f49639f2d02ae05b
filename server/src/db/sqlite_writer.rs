//! The SQLite writer's own connection (rusqlite): statements run on the
//! writer's thread, in the call, with prepared statements cached, instead
//! of a round trip to an sqlx worker thread each (see [`super::exec`] for
//! why). It shares the database file and its write-ahead log with the sqlx
//! pool; only the writer thread writes, so the two never contend.
//!
//! `rusqlite` is the well-kept synchronous binding of SQLite; it links the
//! same `libsqlite3-sys` build as sqlx (one SQLite in the process).

use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;
use sqlx::error::{DatabaseError, ErrorKind};

use super::checkpoint::{WAL_SIZE_LIMIT_BYTES, WRITER_CHECKPOINT_PAGES};
use super::exec::{Arg, Exec, Outcome, Query, Record, Val};
use super::Backend;
use crate::error::ApiError;

/// Prepared statements kept per connection: every statement of every
/// write path fits.
const STATEMENT_CACHE: usize = 256;

/// Opens the writer's connection to the database file at `path` (already
/// created and migrated by the pool) with the pool's durability settings
/// and the writer's cache and checkpoint settings.
pub(super) fn open(path: &Path, cache_kib: i64) -> Result<rusqlite::Connection, ApiError> {
    let conn = rusqlite::Connection::open(path).map_err(to_api)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(to_api)?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
         PRAGMA mmap_size = 268435456; PRAGMA cache_size = -{cache_kib}; \
         PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}; \
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES};"
    ))
    .map_err(to_api)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The writer connection as an [`Exec`]: each statement runs now, on this
/// thread; the returned future is already complete.
pub(super) struct SqliteExec<'c> {
    /// The writer's connection, inside the batch's transaction (`&mut`:
    /// a connection may move between threads but not be shared).
    pub(super) conn: &'c mut rusqlite::Connection,
}

impl Exec for SqliteExec<'_> {
    fn run(&mut self, query: Query) -> BoxFuture<'_, Result<Outcome, ApiError>> {
        let result = run_now(self.conn, &query).map_err(to_api);
        Box::pin(std::future::ready(result))
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}

/// Prepares (or takes from the cache), binds `$N` by number, steps through
/// every row.
fn run_now(conn: &rusqlite::Connection, query: &Query) -> rusqlite::Result<Outcome> {
    let mut statement = conn.prepare_cached(&query.sql)?;
    let count = statement.parameter_count();
    let order = placeholder_order(&query.sql);
    for index in 1..=count {
        // `$3` is the third argument wherever it stands; SQLite numbers
        // named parameters by first appearance. (Read from the text: asking
        // SQLite for each parameter's name scans its list, quadratic in a
        // many-row INSERT.)
        let number = match order.get(index - 1) {
            Some(&n) if order.len() == count => n,
            _ => statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(index),
        };
        let arg = query.args.get(number.wrapping_sub(1)).ok_or(
            rusqlite::Error::InvalidParameterCount(number, query.args.len()),
        )?;
        statement.raw_bind_parameter(index, arg)?;
    }
    let read_only = statement.readonly();
    let columns = statement.column_count();
    let names: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut records = Vec::new();
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(v) => Val::Int(v),
                ValueRef::Real(v) => Val::Real(v),
                ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Val::Blob(b.to_vec()),
            });
        }
        records.push(Record::new(names.clone(), values));
    }
    drop(rows);
    let affected = if read_only { 0 } else { conn.changes() };
    Ok(Outcome {
        rows: records,
        affected,
    })
}

/// The numbers of the `$N` placeholders of `sql` in order of first
/// appearance: SQLite's parameter 1, 2, …  (Wayfare's statements carry no
/// `$` inside string literals.)
fn placeholder_order(sql: &str) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let mut order: Vec<usize> = Vec::new();
    let mut seen: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            // SQLite allows at most 32,766 parameters.
            if let Ok(n @ 1..=32_766) = sql[start..end].parse::<usize>() {
                if seen.len() <= n {
                    seen.resize(n + 1, false);
                }
                if !seen[n] {
                    seen[n] = true;
                    order.push(n);
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    order
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Arg::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Int(None) | Arg::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
        })
    }
}

/// Runs `sql` (transaction control) on the writer's connection.
pub(super) fn control(conn: &rusqlite::Connection, sql: &str) -> Result<(), ApiError> {
    conn.execute_batch(sql).map_err(to_api)
}

/// A rusqlite error as the `sqlx::Error` the rest of the server reads:
/// SQLite failures keep their extended code, so unique violations
/// (`crate::db::is_unique_violation`) and contention
/// (`crate::db::is_contention`) are recognised exactly as from sqlx.
pub(super) fn to_api(e: rusqlite::Error) -> ApiError {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            let message = message.unwrap_or_else(|| code.to_string());
            ApiError::Database(sqlx::Error::Database(Box::new(SqliteFailure {
                extended_code: code.extended_code,
                message,
            })))
        }
        other => ApiError::Database(sqlx::Error::Protocol(other.to_string())),
    }
}

/// An SQLite failure from the writer's connection.
#[derive(Debug, thiserror::Error)]
#[error("(code: {extended_code}) {message}")]
struct SqliteFailure {
    extended_code: i32,
    message: String,
}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.extended_code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // The extended result codes of SQLITE_CONSTRAINT (sqlite3.h).
        match self.extended_code {
            2067 | 1555 => ErrorKind::UniqueViolation,
            787 => ErrorKind::ForeignKeyViolation,
            1299 => ErrorKind::NotNullViolation,
            275 => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::exec::sql;
    use super::*;
    use crate::db::is_unique_violation;

    fn memory() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)")
            .unwrap();
        conn
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        futures::executor::block_on(f)
    }

    #[test]
    fn placeholders_bind_by_number_wherever_they_stand() {
        let mut conn = memory();
        let mut ex = SqliteExec { conn: &mut conn };
        let q = sql("INSERT INTO t (n, id, note) VALUES ($2, $1, $3)")
            .bind("a")
            .bind(7i64)
            .bind(None::<String>);
        assert_eq!(block(Box::pin(q.execute(&mut ex))).unwrap(), 1);
        let row: (i64, Option<String>) = block(Box::pin(
            sql("UPDATE t SET n = n + $1 WHERE id = $2 RETURNING n, note")
                .bind(3i64)
                .bind("a")
                .fetch_one(&mut ex),
        ))
        .unwrap();
        assert_eq!(row, (10, None));
    }

    #[test]
    fn a_unique_violation_reads_as_one() {
        let mut conn = memory();
        let mut ex = SqliteExec { conn: &mut conn };
        let insert = || sql("INSERT INTO t (id, n) VALUES ($1, 1)").bind("dup");
        block(Box::pin(insert().execute(&mut ex))).unwrap();
        let err = block(Box::pin(insert().execute(&mut ex))).unwrap_err();
        assert!(is_unique_violation(&err), "{err}");
    }

    #[test]
    fn placeholders_are_numbered_by_first_appearance() {
        assert_eq!(
            placeholder_order("VALUES ($2, $1, $2, $10)"),
            vec![2, 1, 10]
        );
        assert_eq!(placeholder_order("SELECT 1"), Vec::<usize>::new());
        assert_eq!(placeholder_order("x = $ AND y = $0"), Vec::<usize>::new());
    }

    #[test]
    fn too_few_arguments_is_an_error() {
        let mut conn = memory();
        let mut ex = SqliteExec { conn: &mut conn };
        let q = sql("INSERT INTO t (id, n) VALUES ($1, $2)").bind("x");
        assert!(block(Box::pin(q.execute(&mut ex))).is_err());
    }
}
