//! The append both outboxes share: take the owner's next event number and
//! insert the row carrying it, inside the caller's transaction.
//!
//! The number comes from an `UPDATE … RETURNING` of a counter on the
//! owner's row, which locks that row until commit, so concurrent appends
//! are numbered one after the other and commit in that order (a stream
//! that has read number n never misses a later commit numbered below n).
//! On PostgreSQL the UPDATE and the INSERT are one statement (a
//! data-modifying `WITH`): one round trip fewer, which counts when the
//! database is across a network (each round trip is also time the owner's
//! row stays locked; decision 0018's amendment). SQLite has no
//! data-modifying `WITH`; there the two run one after the other, in the
//! call on the writer's thread, where a statement costs no round trip.

use crate::db::exec::{sql, Exec, Query};
use crate::db::Backend;
use crate::error::ApiError;

/// The statements of one outbox's append, made by [`numbered!`].
pub(super) struct Numbered {
    /// `UPDATE <owner> SET <counter> = <counter> + 1 WHERE id = $1
    /// RETURNING <counter>` (SQLite).
    pub next: &'static str,
    /// The INSERT with the number as the last placeholder (SQLite).
    pub sqlite: &'static str,
    /// `WITH next AS (<next>) <INSERT … SELECT … FROM next>` (PostgreSQL).
    pub postgres: &'static str,
}

/// Builds a [`Numbered`] from the counter's UPDATE, the INSERT's head and
/// its two tails, so the UPDATE and the column list are written once for
/// both engines: the SQLite tail binds the number as its last placeholder,
/// the PostgreSQL tail selects the counter `FROM next`. Both tails end in
/// `RETURNING seq`.
macro_rules! numbered {
    (next: $next:literal, insert: $insert:literal, sqlite: $sqlite:literal, postgres: $pg:literal $(,)?) => {
        $crate::streams::numbered::Numbered {
            next: $next,
            sqlite: concat!($insert, " ", $sqlite),
            postgres: concat!("WITH next AS (", $next, ") ", $insert, " ", $pg),
        }
    };
}
pub(super) use numbered;

/// Appends a row numbered by `statements`' counter; `owner` is `$1` of
/// both, `bind` adds the row's other values (`$2`…). Returns the number.
pub(super) async fn append(
    conn: &mut dyn Exec,
    statements: &Numbered,
    owner: &str,
    bind: impl FnOnce(Query) -> Query,
) -> Result<i64, ApiError> {
    let postgres = conn.backend() == Backend::Postgres;
    let head = sql(if postgres {
        statements.postgres
    } else {
        statements.sqlite
    });
    let mut insert = bind(head.bind(owner.to_string()));
    if !postgres {
        let (seq,): (i64,) = sql(statements.next)
            .bind(owner.to_string())
            .fetch_one(&mut *conn)
            .await?;
        insert = insert.bind(seq);
    }
    let (seq,): (i64,) = insert.fetch_one(&mut *conn).await?;
    Ok(seq)
}
