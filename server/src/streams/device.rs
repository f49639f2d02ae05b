//! Events for an account's devices: a transactional outbox
//! (`account_events`, one sequence per account) and the server-sent-event
//! stream `GET /v1/devices/me/events` that replays everything after the
//! client's `Last-Event-ID` and then follows new rows as commits announce
//! them. Generic on purpose: guardian alerts use kind `guardian.alert`;
//! other features (merchant prompts) append their own kinds.
//!
//! Every device of a registered phone has its own account, so "the events
//! of an account" are "the events of that phone".

use std::convert::Infallible;

use axum::response::sse::Event;
use futures::Stream;
use wayfare_protocol::ids::redact;

use crate::db::exec::Exec;
use crate::error::ApiError;
use crate::state::AppState;
use crate::streams::numbered::{self, numbered, Numbered};
use crate::streams::sse;
use crate::streams::wakeups::Subscription;

/// The rows after a sequence number (see [`sse::replay_then_follow`]).
const FETCH_AFTER: &str =
    "SELECT seq, kind, data FROM account_events WHERE account_id = $1 AND seq > $2 \
     ORDER BY seq LIMIT $3";

/// An account's events are numbered by `accounts.event_seq`.
const APPEND: Numbered = numbered!(
    next: "UPDATE accounts SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
    insert: "INSERT INTO account_events (account_id, seq, kind, data, created_at_ms)",
    sqlite: "VALUES ($1, $5, $2, $3, $4) RETURNING seq",
    postgres: "SELECT $1, event_seq, $2, $3, $4 FROM next RETURNING seq",
);

/// Appends an event for `account_id` inside the caller's transaction and
/// returns its sequence number (the SSE event id). Call
/// [`AppState::notify_account`] after the commit.
pub async fn append(
    conn: &mut dyn Exec,
    account_id: &str,
    kind: &str,
    data: &str,
    at_ms: i64,
) -> Result<i64, ApiError> {
    numbered::append(conn, &APPEND, account_id, |row| {
        row.bind(kind.to_string())
            .bind(data.to_string())
            .bind(at_ms)
    })
    .await
}

/// The events of `account_id` after `after_seq`, then (with
/// [`sse::Mode::Follow`]) live ones, until the client goes away or the
/// server shuts down. `wake` must be subscribed
/// before the stream starts reading, so no commit is missed.
pub fn stream(
    state: AppState,
    account_id: String,
    after_seq: i64,
    wake: Subscription,
    mode: sse::Mode,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    sse::replay_then_follow(
        state,
        FETCH_AFTER,
        account_id,
        after_seq,
        wake,
        mode,
        |id, e| {
            tracing::warn!(account = %redact(id), error = %e, "device event stream ended");
        },
    )
}
