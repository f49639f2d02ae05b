//! Server-sent-event streams over a transactional outbox: replay the rows
//! after the client's `Last-Event-ID`, then wait until a commit announces
//! new rows (a wake-up naming the stream's owner), read them, and so on,
//! until the client goes away or the server shuts down. Every event carries
//! its row's sequence number as `id` and its kind as `event`; the response
//! sends a keep-alive comment while nothing happens.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::Stream;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::AppState;
use crate::streams::wakeups::Subscription;

/// Most rows read per query while catching up.
const PAGE: i64 = 100;

/// How often a keep-alive comment is sent on an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The client's `Last-Event-ID`: `None` without the header, an error when
/// it is not a non-negative integer.
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|v| *v >= 0)
                .ok_or_else(|| ApiError::field("last-event-id", "must be a non-negative integer"))
        })
        .transpose()
}

/// The HTTP response for `stream`, with keep-alive comments.
pub(crate) fn response<S>(stream: S) -> impl IntoResponse
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

struct Cursor<E> {
    state: AppState,
    query: &'static str,
    owner: String,
    last_seq: i64,
    on_error: E,
    wake: Subscription,
    shutdown: watch::Receiver<bool>,
    pending: VecDeque<Event>,
    mode: Mode,
}

/// Whether a stream waits for new rows once it has caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Replay, then follow new rows until the client goes away.
    Follow,
    /// Replay, then end the response: a one-shot catch-up for an app woken
    /// in the background (by a push) that must not hold a connection open.
    CatchUp,
}

/// The rows of `owner` after `after_seq`, then live ones as wake-ups of
/// `owner` (or of every stream) arrive on `wake`, until the client goes away
/// or the server shuts down. `query` reads the next rows in order: it binds
/// `$1` to the owner, `$2` to the last sequence number seen and `$3` to the
/// page size, and selects `seq, kind, data`. A failed read is handed to
/// `on_error` (with the owner) and ends the stream. `wake` must be
/// `owner`'s subscription, made before the first row is read, so no commit
/// is missed. With [`Mode::CatchUp`] the stream ends once every row made
/// before it caught up has been sent.
pub(crate) fn replay_then_follow<E>(
    state: AppState,
    query: &'static str,
    owner: String,
    after_seq: i64,
    wake: Subscription,
    mode: Mode,
    on_error: E,
) -> impl Stream<Item = Result<Event, Infallible>> + Send
where
    E: Fn(&str, &ApiError) + Send + Sync,
{
    let shutdown = state.shutdown_signal();
    let cursor = Cursor {
        state,
        query,
        owner,
        last_seq: after_seq,
        on_error,
        wake,
        shutdown,
        pending: VecDeque::new(),
        mode,
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
                Ok(_) if c.mode == Mode::CatchUp => return None,
                Ok(_) => {}
                Err(e) => {
                    (c.on_error)(&c.owner, &e);
                    return None;
                }
            }
            if !wait_for_wake(&mut c).await {
                return None;
            }
        }
    })
}

async fn fetch_after<E>(c: &Cursor<E>) -> Result<Vec<(i64, String, String)>, ApiError> {
    Ok(sqlx::query_as(c.query)
        .bind(c.owner.clone())
        .bind(c.last_seq)
        .bind(PAGE)
        .fetch_all(&c.state.db().pool)
        .await?)
}

/// Waits until a commit concerns the cursor's owner (or wake-ups were
/// lost): only this owner's wake-ups reach it ([`crate::streams::wakeups`]); false
/// when the stream should end.
async fn wait_for_wake<E>(c: &mut Cursor<E>) -> bool {
    loop {
        tokio::select! {
            changed = c.shutdown.changed() => {
                if changed.is_err() || *c.shutdown.borrow() {
                    return false;
                }
            }
            () = c.wake.woken() => return true,
        }
    }
}
