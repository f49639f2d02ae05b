//! A minimal reader of server-sent events over a `reqwest` response: the
//! control center's device and terminal event streams, read the way the
//! apps and terminals read them.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

/// How long [`SseReader::next`] waits for an event: generous, so only a
/// bug fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

/// One event: its id, name and JSON data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `id:` line, as sent.
    pub id: String,
    /// The `event:` line.
    pub event: String,
    /// The `data:` lines, parsed as JSON.
    pub data: Value,
}

impl SseEvent {
    /// The id as a number (the control center numbers its events), for
    /// ordering checks and `Last-Event-ID`.
    pub fn number(&self) -> i64 {
        self.id
            .parse()
            .unwrap_or_else(|_| panic!("event id {:?} is not a number", self.id))
    }
}

type ByteStream = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// Reads events from an open `text/event-stream` response.
pub struct SseReader {
    stream: ByteStream,
    buffer: String,
}

impl SseReader {
    /// Takes an answered stream request; panics unless it is a 200 event
    /// stream, since every test opening one expects that.
    pub fn new(resp: reqwest::Response) -> Self {
        assert_eq!(
            resp.status(),
            reqwest::StatusCode::OK,
            "event stream status"
        );
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            kind.starts_with("text/event-stream"),
            "content type {kind:?}"
        );
        Self {
            stream: resp.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event with data (comments and keep-alives skipped); panics
    /// after 60 s or when the stream ends.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(PATIENCE, self.next_inner())
            .await
            .expect("no server-sent event within 60 s")
    }

    async fn next_inner(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return event;
                }
                continue;
            }
            let chunk = self
                .stream
                .next()
                .await
                .expect("the event stream ended")
                .expect("reading the event stream");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// One block's event, or `None` for a comment or keep-alive.
fn parse(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().into();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().into();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data)
        .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data:?}"));
    Some(SseEvent { id, event, data })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn blocks_with_data_are_events_and_keep_alives_are_not() {
        let e = parse("id: 7\nevent: payment.completed\ndata: {\"a\":1}\n\n").unwrap();
        assert_eq!(
            (e.id.as_str(), e.event.as_str(), e.number()),
            ("7", "payment.completed", 7)
        );
        assert_eq!(e.data["a"], 1);
        assert!(parse(": keep-alive\n\n").is_none());
    }
}
