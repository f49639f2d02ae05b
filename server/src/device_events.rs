//! Events for an account's devices: a transactional outbox
//! (`account_events`, one sequence per account) and the server-sent-event
//! stream `GET /v1/devices/me/events` that replays everything after the
//! client's `Last-Event-ID` and then follows new rows as commits announce
//! them. Generic on purpose: guardian alerts use kind `guardian.alert`;
//! other features (merchant prompts) append their own kinds.
//!
//! Every device of a registered phone has its own account, so "the events
//! of an account" are "the events of that phone".

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::response::sse::Event;
use futures::Stream;
use sqlx::AnyConnection;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use wayfare_protocol::ids::redact;

use crate::error::ApiError;
use crate::state::AppState;

/// Most rows read per query while catching up.
const PAGE: i64 = 100;

/// Appends an event for `account_id` inside the caller's transaction and
/// returns its sequence number (the SSE event id). Call
/// [`AppState::notify_account`] after the commit.
pub async fn append(
    conn: &mut AnyConnection,
    account_id: &str,
    kind: &str,
    data: &str,
    at_ms: i64,
) -> Result<i64, ApiError> {
    sqlx::query("UPDATE accounts SET event_seq = event_seq + 1 WHERE id = $1")
        .bind(account_id.to_string())
        .execute(&mut *conn)
        .await?;
    let (seq,): (i64,) = sqlx::query_as("SELECT event_seq FROM accounts WHERE id = $1")
        .bind(account_id.to_string())
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO account_events (account_id, seq, kind, data, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id.to_string())
    .bind(seq)
    .bind(kind.to_string())
    .bind(data.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

struct Cursor {
    state: AppState,
    account_id: String,
    last_seq: i64,
    wake: broadcast::Receiver<String>,
    shutdown: watch::Receiver<bool>,
    pending: VecDeque<Event>,
}

/// The events of `account_id` after `after_seq`, then live ones, until the
/// client goes away or the server shuts down. `wake` must be subscribed
/// before the stream starts reading, so no commit is missed.
pub fn stream(
    state: AppState,
    account_id: String,
    after_seq: i64,
    wake: broadcast::Receiver<String>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let shutdown = state.shutdown_signal();
    let cursor = Cursor {
        state,
        account_id,
        last_seq: after_seq,
        wake,
        shutdown,
        pending: VecDeque::new(),
    };
    futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if *c.shutdown.borrow() {
                return None;
            }
            if let Some(event) = c.pending.pop_front() {
                return Some((Ok(event), c));
            }
            match fetch_after(&c).await {
                Ok(rows) if !rows.is_empty() => {
                    for (seq, kind, data) in rows {
                        c.last_seq = seq;
                        c.pending
                            .push_back(Event::default().id(seq.to_string()).event(kind).data(data));
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(account = %redact(&c.account_id), error = %e, "device event stream ended");
                    return None;
                }
            }
            if !wait_for_wake(&mut c).await {
                return None;
            }
        }
    })
}

async fn fetch_after(c: &Cursor) -> Result<Vec<(i64, String, String)>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT seq, kind, data FROM account_events WHERE account_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(c.account_id.clone())
    .bind(c.last_seq)
    .bind(PAGE)
    .fetch_all(&c.state.db().pool)
    .await?)
}

/// Waits until a commit concerns this account (or wake-ups were lost);
/// false when the stream should end.
async fn wait_for_wake(c: &mut Cursor) -> bool {
    loop {
        tokio::select! {
            changed = c.shutdown.changed() => {
                if changed.is_err() || *c.shutdown.borrow() {
                    return false;
                }
            }
            msg = c.wake.recv() => match msg {
                Ok(id) if id == c.account_id => return true,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return true,
                Err(RecvError::Closed) => return false,
            }
        }
    }
}
