//! Events without loss: a persisted queue of money-relevant events that the
//! app drains and acknowledges (`wallet.events()`).
//!
//! Listeners are only a nudge for UI freshness. What the app must not miss
//! (a payment completed or failed, and — from the guardian, merchant and
//! top-up areas — a guardian alert, a merchant prompt or a top-up's outcome) is written to the
//! wallet's sled database, flushed, and stays there until the app calls
//! `events().acknowledge(event_id)`. An app killed between receiving an
//! event and acknowledging it gets the same event (same id) again from
//! `events().pending(limit)` after the next `open()`.
//!
//! # Internal API (for the areas that produce events)
//!
//! ```ignore
//! let queue = EventQueue::new(&state.store)?;            // cheap
//! queue.push(EventKind::GuardianAlert, &payload).await?; // flushed on return
//! queue.push_once(EventKind::PaymentCompleted, "payment_completed:<key>", &record).await?;
//! inner.events.nudge(queue.pending_count());             // wakes the app's listener
//! // or, when the queue handle is not at hand:
//! crate::events::nudge_if_pending(&inner);
//! ```
//!
//! - `payload` is any `serde::Serialize` value; it is stored as JSON.
//! - `push_once` takes a deduplication key: pushing the same key again
//!   (e.g. when a crash made a step run twice) returns the first event's id
//!   and stores nothing, even after that event was acknowledged. Use it
//!   whenever the step that produces the event can be retried.
//! - Push *before* the state change that makes the producing step
//!   non-retryable, so a crash in between re-runs the step (and `push_once`
//!   deduplicates) instead of losing the event.
//! - `push` never calls foreign code; the nudge (`EventHub::nudge`) is
//!   delivered to the app's [`WalletEventListener`] from a dedicated thread,
//!   so producers may push while holding locks.
//!
//! Adding a kind: add a variant to [`EventKind`] and to the exported
//! [`WalletEventBody`], and map it in `api::body_from` (payload JSON → the
//! exported record). Kinds a build does not know (written by a newer app
//! version) are returned as `WalletEventBody::Unknown` and can still be
//! acknowledged.

mod api;
pub(crate) mod notifier;
mod payments;
mod queue;

pub use crate::listener::WalletEventListener;
pub(crate) use api::nudge_if_pending;
pub use api::{EventsApi, WalletEvent, WalletEventBody};
pub(crate) use notifier::EventHub;
pub(crate) use payments::{queue_completed, queue_failed};
#[allow(unused_imports)]
pub(crate) use queue::{EventKind, EventQueue, StoredEvent};
