#!/usr/bin/env bash
# The dev builds the suites after `cargo test` use — wayfare-server,
# wayfare-terminal, the core's cdylib and uniffi-bindgen — in ONE cargo
# invocation. Cargo resolves features per invocation, so building these
# packages one script at a time (as each suite did) compiled their shared
# dependencies three times with three feature sets: about four minutes of a
# cold CI run. Every suite calls this instead, so the second call is a no-op.
# Extra arguments go to `cargo build` (e.g. -q).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p wayfare-server -p wayfare-terminal -p wayfare-core -p wayfare-bindgen "$@"
