//! The control center's integration tests: real HTTP against an in-process server on SQLite and, when `WAYFARE_TEST_DATABASE_URL` is set, PostgreSQL.
//!
//! One test binary for the whole crate (each file below is a module): one
//! link instead of one per file keeps `scripts/test.sh` fast, and the
//! shared helpers are compiled once. Run one area with
//! `cargo test -p <crate> --test integration <module>::`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod auth;
mod bad_input;
mod billing;
mod billing_exchange;
mod billing_reconciliations;
mod common;
mod durability;
mod express;
mod funding;
mod guardians;
mod invitations;
mod journeys;
#[path = "kiosk/support.rs"]
mod kiosk_support;
mod kiosk_top_ups;
mod merchant_refunds;
mod merchant_scene;
mod merchants;
mod metrics;
mod metrics_text;
mod operations;
mod payments;
mod pending_entries;
mod pg_races;
mod points;
mod push;
mod registrations;
mod terminals;
mod tls;
mod two_nodes;
