#!/usr/bin/env bash
# Runs every Wayfare test on this machine: installs what the tests need,
# starts a throwaway PostgreSQL, then formatting, lints, the Rust suites, and
# a bounded run of every fuzz target (scripts/fuzz.sh), schemathesis against
# a running server (scripts/test-api-fuzz.sh), the binding suites,
# and the iOS check against the Swift they generated (scripts/check-ios.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

pgdir=$(mktemp -d /tmp/wayfare-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
WAYFARE_TEST_DATABASE_URL=$(scripts/postgres.sh start "$pgdir")
export WAYFARE_TEST_DATABASE_URL
echo "== PostgreSQL for tests at ${WAYFARE_TEST_DATABASE_URL}"

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== fuzz (every decoder, bounded time, stable Rust)"
FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh
echo "== API fuzz (schemathesis against a running server, every operation)"
scripts/test-api-fuzz.sh
scripts/test-bindings.sh
scripts/test-android.sh
scripts/check-ios.sh
