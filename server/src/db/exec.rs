//! One way to run a statement inside a write transaction, whatever runs
//! it: [`Exec`] is implemented by sqlx's `AnyConnection` (PostgreSQL, and
//! SQLite where no file of its own can be opened) and by the SQLite
//! writer's own connection ([`super::sqlite_writer`]), which runs each
//! statement on the writer's thread, in the call.
//!
//! Why: sqlx runs every SQLite statement on a worker thread of its own
//! connection, so each statement of a payment was two thread switches, and
//! those switches were most of the server's CPU time under load (a `perf`
//! profile: 48% of the samples in the two threads' kernel time). The
//! payment path writes through [`Exec`], so the same code serves both
//! engines, and on SQLite no statement leaves the writer's thread.
//!
//! A statement is built like an sqlx query ([`sql`]`(…).bind(…)`), with
//! `$1`, `$2`, … placeholders on both engines; rows come back as
//! [`Record`]s, decoded by column name into any `serde` type.

use std::borrow::Cow;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::de::{self, DeserializeOwned, IntoDeserializer};
use sqlx::{AnyConnection, Column, Row, ValueRef};

use super::Backend;
use crate::error::ApiError;

/// Runs statements inside a transaction that someone else began and will
/// commit: the payment path's view of the database.
pub trait Exec: Send {
    /// Runs `query`; its rows when it returns any, and the rows changed.
    fn run(&mut self, query: Query) -> BoxFuture<'_, Result<Outcome, ApiError>>;
    /// The engine, for the few statements written per engine (row locks).
    fn backend(&self) -> Backend;
}

/// What a statement did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The rows it returned (a `SELECT`, or `RETURNING`).
    pub rows: Vec<Record>,
    /// The rows it inserted, updated or deleted.
    pub affected: u64,
}

/// One bound value. NULLs keep their type: PostgreSQL types every
/// parameter, and a NULL text where a BIGINT is expected is an error.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A BIGINT (or SQLite INTEGER), possibly NULL.
    Int(Option<i64>),
    /// A TEXT, possibly NULL.
    Text(Option<String>),
    /// A boolean (SQLite stores 0/1).
    Bool(bool),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

/// A statement and its arguments (`$1` is the first).
#[derive(Clone, Debug)]
pub struct Query {
    /// The SQL, with `$N` placeholders.
    pub sql: Cow<'static, str>,
    /// The arguments, `$1` first.
    pub args: Vec<Arg>,
    /// Whether the caller reads rows (sqlx: `fetch` rather than `execute`).
    pub returns_rows: bool,
}

/// Starts a statement: `sql("UPDATE … WHERE id = $1").bind(id)`.
pub fn sql(text: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: text.into(),
        args: Vec::new(),
        returns_rows: false,
    }
}

impl Query {
    /// Binds the next `$N`.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs it; the rows changed.
    pub async fn execute(self, conn: &mut dyn Exec) -> Result<u64, ApiError> {
        Ok(conn.run(self).await?.affected)
    }

    /// Runs it; every row, as `T` (a struct by column name, a tuple by
    /// position).
    pub async fn fetch_all<T: DeserializeOwned>(
        mut self,
        conn: &mut dyn Exec,
    ) -> Result<Vec<T>, ApiError> {
        self.returns_rows = true;
        conn.run(self)
            .await?
            .rows
            .into_iter()
            .map(Record::decode)
            .collect()
    }

    /// Runs it; the first row as `T`, if there is one.
    pub async fn fetch_optional<T: DeserializeOwned>(
        mut self,
        conn: &mut dyn Exec,
    ) -> Result<Option<T>, ApiError> {
        self.returns_rows = true;
        let first = conn.run(self).await?.rows.into_iter().next();
        first.map(Record::decode).transpose()
    }

    /// Runs it; the first row as `T`, which must exist.
    pub async fn fetch_one<T: DeserializeOwned>(self, conn: &mut dyn Exec) -> Result<T, ApiError> {
        self.fetch_optional(conn)
            .await?
            .ok_or(ApiError::Database(sqlx::Error::RowNotFound))
    }
}

/// A value read from a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One row: its columns' names (shared by the rows of one result) and
/// values.
#[derive(Clone, Debug)]
pub struct Record {
    names: Arc<[String]>,
    values: Vec<Val>,
}

impl Record {
    /// A row of `values` under the column `names`.
    pub fn new(names: Arc<[String]>, values: Vec<Val>) -> Self {
        Self { names, values }
    }

    /// The row as `T`: a struct by column name, or a tuple by position.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        T::deserialize(self).map_err(|e| ApiError::Database(sqlx::Error::Decode(Box::new(e))))
    }
}

/// Why a row did not decode into the type asked for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl de::Error for DecodeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        DecodeError(msg.to_string())
    }
}

impl<'de> de::Deserializer<'de> for Val {
    type Error = DecodeError;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Val::Null => visitor.visit_none(),
            Val::Int(v) => visitor.visit_i64(v),
            Val::Real(v) => visitor.visit_f64(v),
            Val::Text(v) => visitor.visit_string(v),
            Val::Blob(v) => visitor.visit_byte_buf(v),
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Val::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    /// SQLite has no booleans: 0 and 1.
    fn deserialize_bool<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Val::Int(v) => visitor.visit_bool(v != 0),
            other => other.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl IntoDeserializer<'_, DecodeError> for Val {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Record {
    type Error = DecodeError;

    /// A row is a map from column name to value.
    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let names = self.names;
        let pairs = names.iter().cloned().zip(self.values);
        let mut map = de::value::MapDeserializer::new(pairs);
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    /// A tuple takes the columns in order.
    fn deserialize_tuple<V: de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let mut seq = de::value::SeqDeserializer::new(self.values.into_iter());
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq
        tuple_struct map struct enum identifier ignored_any
    }
}

/// sqlx: each statement through the connection (on SQLite, a round trip to
/// the connection's worker thread).
impl Exec for AnyConnection {
    fn run(&mut self, query: Query) -> BoxFuture<'_, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(query.sql.into_owned()));
            for arg in query.args {
                q = match arg {
                    Arg::Int(v) => q.bind(v),
                    Arg::Text(v) => q.bind(v),
                    Arg::Bool(v) => q.bind(v),
                };
            }
            if !query.returns_rows {
                let done = q.execute(&mut *self).await?;
                return Ok(Outcome {
                    rows: Vec::new(),
                    affected: done.rows_affected(),
                });
            }
            let rows = q.fetch_all(&mut *self).await?;
            let affected = rows.len() as u64;
            let mut names: Option<Arc<[String]>> = None;
            let mut records = Vec::with_capacity(rows.len());
            for row in rows {
                let names = names
                    .get_or_insert_with(|| {
                        row.columns().iter().map(|c| c.name().to_string()).collect()
                    })
                    .clone();
                records.push(Record::new(names, any_values(&row)?));
            }
            Ok(Outcome {
                rows: records,
                affected,
            })
        })
    }

    fn backend(&self) -> Backend {
        if self.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The values of an sqlx row, each decoded by its own type.
fn any_values(row: &sqlx::any::AnyRow) -> Result<Vec<Val>, ApiError> {
    use sqlx::any::AnyTypeInfoKind as K;
    let mut values = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            values.push(Val::Null);
            continue;
        }
        let kind = raw.type_info().kind();
        values.push(match kind {
            K::Null => Val::Null,
            K::Bool => Val::Int(i64::from(row.try_get::<bool, _>(i)?)),
            K::SmallInt | K::Integer | K::BigInt => Val::Int(row.try_get::<i64, _>(i)?),
            K::Real | K::Double => Val::Real(row.try_get::<f64, _>(i)?),
            K::Text => Val::Text(row.try_get::<String, _>(i)?),
            K::Blob => Val::Blob(row.try_get::<Vec<u8>, _>(i)?),
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Val)]) -> Record {
        Record::new(
            pairs.iter().map(|(n, _)| n.to_string()).collect(),
            pairs.iter().map(|(_, v)| v.clone()).collect(),
        )
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Binding {
        id: String,
        limit: Option<i64>,
        active: bool,
    }

    #[test]
    fn rows_decode_by_name_and_by_position() {
        let r = row(&[
            ("id", Val::Text("bnd_1".into())),
            ("limit", Val::Null),
            ("active", Val::Int(1)),
        ]);
        assert_eq!(
            r.clone().decode::<Binding>().unwrap(),
            Binding {
                id: "bnd_1".into(),
                limit: None,
                active: true
            }
        );
        let (id, limit, active): (String, Option<i64>, i64) = r.decode().unwrap();
        assert_eq!((id.as_str(), limit, active), ("bnd_1", None, 1));
    }

    #[test]
    fn a_wrong_type_or_missing_column_is_an_error_not_a_panic() {
        let r = row(&[("seq", Val::Text("x".into()))]);
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Absent {
            absent: i64,
        }
        assert!(r.clone().decode::<Absent>().is_err());
        assert!(r.clone().decode::<(i64,)>().is_err());
        assert!(r.decode::<(String, String)>().is_err(), "too few columns");
    }

    #[test]
    fn nulls_keep_their_type() {
        assert_eq!(Arg::from(None::<i64>), Arg::Int(None));
        assert_eq!(Arg::from(None::<String>), Arg::Text(None));
    }
}
