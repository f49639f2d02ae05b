//! The `wayfare` command line against an in-process control center.
//!
//! One test binary for the whole crate (each file below is a module): one
//! link instead of one per file keeps `scripts/test.sh` fast, and the
//! shared helpers are compiled once. Run one area with
//! `cargo test -p <crate> --test integration <module>::`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin_billing;
mod admin_points;
mod top_up;
