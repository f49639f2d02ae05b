//! The terminal's integration tests: real TCP, mDNS and the control interface on loopback.
//!
//! One test binary for the whole crate (each file below is a module): one
//! link instead of one per file keeps `scripts/test.sh` fast, and the
//! shared helpers are compiled once. Run one area with
//! `cargo test -p <crate> --test integration <module>::`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod binary;
mod common;
mod connections;
mod control;
mod logs;
mod mdns;
mod pos;
mod provision;
mod reports;
mod session;
mod tap;
