//! Whole-system tests: the real wallet core, terminal and control center on loopback.
//!
//! One test binary for the whole crate (each file below is a module): one
//! link instead of one per file keeps `scripts/test.sh` fast, and the
//! shared helpers are compiled once. Run one area with
//! `cargo test -p <crate> --test integration <module>::`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod ble;
mod concurrency;
mod discovery;
mod express;
mod faults;
mod guardians;
mod in_doubt;
mod kiosk_top_up;
mod merchant_announcer;
mod merchant_common;
mod merchants;
mod nearby;
mod nfc;
mod payments;
mod points;
mod privacy;
mod server_tls;
mod terminal_reports;
mod top_up;
mod tram_position;
mod transit;
mod trust;
