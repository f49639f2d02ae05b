//! The test kit the Wayfare suites share, so each fixture is written once:
//! the clock, bounded polling, the server-sent-event reader, the signed
//! HTTP client, a phone written directly on the protocol crate and a stub
//! control center on loopback.
//!
//! Dev-only: no shipped crate depends on it. The whole system on loopback
//! (`LocalSystem`) is not here but in `wayfare_cli::local`, the one the
//! demo runs: the core's unit tests use this kit, and a kit reaching the
//! core through the CLI would link the core into them twice.

pub mod clock;
pub mod poll;
pub mod raw_phone;
pub mod signed;
pub mod sse;
pub mod stub_center;

pub use clock::now_ms;
pub use poll::{eventually, wait_until};
