//! The open-event-stream gauge. A stream outlives the request that opened
//! it (the body is polled after the handler returned), so the guard keeps
//! its own server's [`Metrics`] and decrements on drop — when the client
//! goes away, the stream ends or the server shuts down.

use futures::{Stream, StreamExt};

use super::Metrics;
use crate::state::AppState;

/// Counts one open stream of kind `stream` until dropped.
struct SubscriberGuard {
    metrics: Metrics,
    stream: &'static str,
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.metrics.subscribers(self.stream, -1.0);
    }
}

/// `inner`, counted in `wayfare_event_stream_subscribers{stream}` while it
/// is alive.
pub(crate) fn track_stream<S>(
    state: &AppState,
    stream: &'static str,
    inner: S,
) -> impl Stream<Item = S::Item> + Send
where
    S: Stream + Send,
{
    let metrics = state.metrics().clone();
    metrics.subscribers(stream, 1.0);
    let guard = SubscriberGuard { metrics, stream };
    inner.map(move |item| {
        let _alive = &guard;
        item
    })
}
