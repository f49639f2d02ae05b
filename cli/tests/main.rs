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

/// Runs the `wayfare` binary with `args` and the admin token in its
/// environment; it must succeed. Answers its standard output.
pub fn wayfare<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
    admin_token: &str,
) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wayfare"))
        .args(args)
        .env("WAYFARE_ADMIN_TOKEN", admin_token)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `wayfare admin --server <server> <args>`, as [`wayfare`].
pub fn wayfare_admin(server: &str, admin_token: &str, args: &[&str]) -> String {
    wayfare(
        ["admin", "--server", server].iter().chain(args),
        admin_token,
    )
}
