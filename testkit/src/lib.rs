//! The test kit every Wayfare suite shares, so each fixture is written
//! once: the clock, bounded polling, the server-sent-event reader, the
//! signed HTTP client, a phone written directly on the protocol crate, a
//! stub control center on loopback, and (feature `local`) the whole system
//! the demo runs.
//!
//! Dev-only: no shipped crate depends on it.

pub mod clock;
pub mod poll;
pub mod raw_phone;
pub mod signed;
pub mod sse;
pub mod stub_center;

/// The whole system on loopback that the demo narrates and the
/// whole-system tests assert on: one `LocalSystem` for both.
#[cfg(feature = "local")]
pub mod local {
    pub use wayfare_cli::local::*;
    pub use wayfare_cli::local_transit;
}

pub use clock::now_ms;
pub use poll::{eventually, wait_until};
