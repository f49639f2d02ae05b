//! The device's server-sent-event stream (`GET /v1/devices/me/events`) as
//! the wallet's live streams read it (guardian alerts, merchant prompts):
//! a device-signed request resumed with `Last-Event-ID` from the reader's
//! cursor, the body read with eventsource-stream, a new connection on the
//! next call after one ended, and `cancel()`. What an event means is the
//! reader's business ([`DeviceEventReader`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::Url;
use wayfare_protocol::request_auth::sign_request;

use crate::clock::now_ms;
use crate::error::WalletError;
use crate::wallet::WalletInner;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Events = Pin<
    Box<
        dyn Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// The error code of a refused connection (a 4xx answer).
pub(crate) enum RefusalCode {
    /// Always this code; the answer's body is not read.
    Fixed(&'static str),
    /// The `error.code` of the answer's JSON body (`http_error` without
    /// one); the body is read whatever the status.
    FromBody,
}

/// What a live stream does with the device's events.
pub(crate) trait DeviceEventReader: Sync {
    /// What a new event gives the app.
    type Item;
    /// Names the stream in errors ("alert stream").
    const NAME: &'static str;
    /// The error code of a refused connection.
    const REFUSAL: RefusalCode;

    /// The last event id handled: a new connection resumes after it.
    fn cursor(&self) -> Result<Option<u64>, WalletError>;

    /// Called when a connection is open (for the reader's log).
    fn connected(&self, device_id: &str, after: Option<u64>);

    /// Handles one server event; `Some` for an item to hand to the app.
    fn handle(
        &self,
        event: eventsource_stream::Event,
    ) -> impl Future<Output = Result<Option<Self::Item>, WalletError>> + Send;
}

/// A retryable `Network` error of the stream `R`.
fn network<R: DeviceEventReader>(reason: impl std::fmt::Display) -> WalletError {
    WalletError::Network {
        retryable: true,
        reason: format!("{}: {reason}", R::NAME),
    }
}

/// The connection of one live stream (connected lazily, dropped when it
/// ends) and its cancellation.
pub(crate) struct DeviceEventStream {
    inner: Arc<WalletInner>,
    events: tokio::sync::Mutex<Option<Events>>,
    cancel: tokio::sync::watch::Sender<bool>,
}

impl DeviceEventStream {
    /// Not connected yet: the first `next()` connects.
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        let (cancel, _) = tokio::sync::watch::channel(false);
        Self {
            inner,
            events: tokio::sync::Mutex::new(None),
            cancel,
        }
    }

    async fn connect<R: DeviceEventReader>(
        &self,
        reader: &R,
        after: Option<u64>,
    ) -> Result<Events, WalletError> {
        self.open(reader, after, false).await
    }

    /// Connects; with `catch_up` the server ends the response once it has
    /// sent every event after `after` (`?follow=false`).
    async fn open<R: DeviceEventReader>(
        &self,
        reader: &R,
        after: Option<u64>,
        catch_up: bool,
    ) -> Result<Events, WalletError> {
        let (_, id) = self.inner.device()?;
        let mut base = Url::parse(&self.inner.config.server_url)
            .map_err(|e| WalletError::invalid(format!("server URL: {e}")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut url = base
            .join("v1/devices/me/events")
            .map_err(|e| WalletError::invalid(format!("server URL: {e}")))?;
        if catch_up {
            url.set_query(Some("follow=false"));
        }
        // The server verifies the signature over the path and query.
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let signature = sign_request(&id.key, &id.device_id, "GET", &signed_path, b"", now_ms())
            .map_err(|e| WalletError::Server {
                code: "signing_failed".into(),
                reason: e.to_string(),
            })?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(network::<R>)?;
        let mut request = client.get(url).header("accept", "text/event-stream");
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        if let Some(after) = after {
            request = request.header("last-event-id", after.to_string());
        }
        let response = request.send().await.map_err(network::<R>)?;
        let status = response.status();
        if !status.is_success() {
            let code = match R::REFUSAL {
                RefusalCode::Fixed(code) => code.to_string(),
                RefusalCode::FromBody => {
                    let text = response.text().await.unwrap_or_default();
                    serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "http_error".into())
                }
            };
            return Err(if status.is_server_error() {
                network::<R>(format!("the server answered {status}"))
            } else {
                WalletError::Server {
                    code,
                    reason: format!("the server refused the {} ({status})", R::NAME),
                }
            });
        }
        reader.connected(&id.device_id, after);
        Ok(Box::pin(response.bytes_stream().eventsource()))
    }

    async fn next_inner<R: DeviceEventReader>(&self, reader: &R) -> Result<R::Item, WalletError> {
        let mut slot = self.events.lock().await;
        loop {
            let events = match slot.as_mut() {
                Some(events) => events,
                None => {
                    let after = reader.cursor()?;
                    slot.insert(self.connect(reader, after).await?)
                }
            };
            match events.next().await {
                Some(Ok(event)) => {
                    if let Some(item) = reader.handle(event).await? {
                        return Ok(item);
                    }
                }
                Some(Err(e)) => {
                    *slot = None;
                    return Err(network::<R>(e));
                }
                None => {
                    *slot = None;
                    return Err(network::<R>(
                        "the server closed the stream; call next() again to resume",
                    ));
                }
            }
        }
    }

    /// Waits for the next item `reader` makes of the events, connecting (or
    /// resuming after the reader's cursor) as needed. A `Network` error
    /// means the connection ended: the next call connects again. Returns
    /// `Cancelled` once [`DeviceEventStream::cancel`] was called.
    pub(crate) async fn next<R: DeviceEventReader>(
        &self,
        reader: &R,
    ) -> Result<R::Item, WalletError> {
        let mut cancelled = self.cancel.subscribe();
        if *cancelled.borrow() {
            return Err(WalletError::Cancelled);
        }
        tokio::select! {
            result = self.next_inner(reader) => result,
            _ = cancelled.wait_for(|c| *c) => Err(WalletError::Cancelled),
        }
    }

    /// One-shot catch-up: reads every event after the reader's cursor, hands
    /// each to `reader` (which keeps, queues and advances exactly as for the
    /// live stream) and returns the items made, oldest first, once the
    /// server has sent them all. For an app woken in the background by a
    /// push; it holds no connection afterwards.
    pub(crate) async fn catch_up<R: DeviceEventReader>(
        &self,
        reader: &R,
    ) -> Result<Vec<R::Item>, WalletError> {
        let after = reader.cursor()?;
        let mut events = self.open(reader, after, true).await?;
        let mut items = Vec::new();
        while let Some(event) = events.next().await {
            let event = event.map_err(network::<R>)?;
            if let Some(item) = reader.handle(event).await? {
                items.push(item);
            }
        }
        Ok(items)
    }

    /// Ends the stream: a waiting `next()` returns `Cancelled`, and so does
    /// every later call.
    pub(crate) fn cancel(&self) {
        let _ = self.cancel.send(true);
    }
}
