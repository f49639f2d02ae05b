//! Terminal events: a transactional outbox (`terminal_events`, one sequence
//! per terminal) and the server-sent-event stream that replays missed rows
//! and then follows new ones as commits announce them.

use std::convert::Infallible;

use crate::db::exec::Exec;
use crate::streams::numbered::{self, numbered, Numbered};
use axum::response::sse::Event;
use futures::Stream;
use wayfare_protocol::ids::redact;

use crate::error::ApiError;
use crate::state::AppState;
use crate::streams::sse;
use crate::streams::wakeups::Subscription;

/// The rows after a sequence number (see [`sse::replay_then_follow`]).
const FETCH_AFTER: &str =
    "SELECT seq, kind, data FROM terminal_events WHERE terminal_id = $1 AND seq > $2 \
     ORDER BY seq LIMIT $3";

/// A terminal's events are numbered by `terminals.event_seq`.
const APPEND: Numbered = numbered!(
    next: "UPDATE terminals SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
    insert: "INSERT INTO terminal_events (terminal_id, seq, kind, payment_id, data, created_at_ms)",
    sqlite: "VALUES ($1, $6, $2, $3, $4, $5) RETURNING seq",
    postgres: "SELECT $1, event_seq, $2, $3, $4, $5 FROM next RETURNING seq",
);

/// Appends an event for `terminal_id` inside the caller's transaction and
/// returns its sequence number. Call [`AppState::notify_terminal`] after
/// the commit.
pub async fn append(
    conn: &mut dyn Exec,
    terminal_id: &str,
    kind: &str,
    payment_id: &str,
    data: &str,
    at_ms: i64,
) -> Result<i64, ApiError> {
    numbered::append(conn, &APPEND, terminal_id, |row| {
        row.bind(kind.to_string())
            .bind(payment_id.to_string())
            .bind(data.to_string())
            .bind(at_ms)
    })
    .await
}

/// The latest sequence number of a terminal (0 when it has no events).
pub async fn latest_seq(state: &AppState, terminal_id: &str) -> Result<i64, ApiError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT event_seq FROM terminals WHERE id = $1")
        .bind(terminal_id.to_string())
        .fetch_optional(&state.db().pool)
        .await?;
    Ok(row.map(|r| r.0).unwrap_or(0))
}

/// The events of `terminal_id` after `after_seq`, then live ones, until the
/// client goes away or the server shuts down. `wake` must be subscribed
/// before `after_seq` was read, so no commit falls between the two.
pub fn stream(
    state: AppState,
    terminal_id: String,
    after_seq: i64,
    wake: Subscription,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    sse::replay_then_follow(
        state,
        FETCH_AFTER,
        terminal_id,
        after_seq,
        wake,
        sse::Mode::Follow,
        |id, e| {
            tracing::warn!(terminal = %redact(id), error = %e, "event stream ended");
        },
    )
}
