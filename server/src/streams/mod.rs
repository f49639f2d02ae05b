//! Event streams: how what a commit makes reaches the phones and terminals
//! that are connected, and the ones that reconnect later.
//!
//! - [`device`] and [`terminal`]: the per-account and per-terminal outboxes
//!   (`account_events`, `terminal_events`), appended inside the commit that
//!   makes an event, both numbered by [`numbered`];
//! - [`sse`]: the server-sent-event response that replays an outbox after
//!   `Last-Event-ID` and then follows it (or, for a background catch-up,
//!   ends once caught up);
//! - [`wakeups`]: the in-process wake-ups a commit sends to the streams of
//!   the accounts and terminals it touched;
//! - [`cluster`]: the same wake-ups across server nodes (PostgreSQL
//!   `LISTEN`/`NOTIFY`), heard by each node's [`listen`];
//! - [`routes`]: `GET /v1/devices/me/events` (the terminal's stream is
//!   served with the other terminal routes).

pub(crate) mod cluster;
pub(crate) mod device;
pub(crate) mod listen;
mod numbered;
pub(crate) mod routes;
pub(crate) mod sse;
pub(crate) mod terminal;
pub(crate) mod wakeups;
