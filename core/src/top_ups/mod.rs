//! Over-the-air top-up (issue 12.2): `account().top_up(provider, amount)`
//! starts a top-up through one of the server's funding providers and
//! returns what the app shows (the reference and, for a card or bank
//! provider, the checkout link); the provider confirms to the server with
//! a signed callback, and the wallet hears the outcome through
//! `account().top_up_stream()` and the persisted event queue
//! (`TopUpCompleted` / `TopUpFailed`). Balance and history then show it.

mod api;
mod store;
mod stream;
mod types;

pub use stream::TopUpStream;
pub use types::{TopUp, TopUpProvider, TopUpStarted, TopUpStatus};
