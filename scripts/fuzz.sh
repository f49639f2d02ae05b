#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, on stable Rust.
#
# cargo-fuzz itself wants nightly (for -Zsanitizer); CI has only stable.
# libFuzzer needs no sanitizer, only LLVM's coverage instrumentation, which
# stable rustc enables with the flags below (the ones cargo-fuzz passes,
# minus AddressSanitizer): so the fuzz crate builds with plain cargo, in its
# own target directory, and each target runs for FUZZ_SECONDS.
#
# Usage: scripts/fuzz.sh [target...]   (default: every target)
# Env:   FUZZ_SECONDS (default 15), FUZZ_CORPUS_DIR (corpora; default a
#        temporary directory, so runs do not grow the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-15}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^wayfare-fuzz$')
fi

export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=3 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$PWD/target/fuzz"
# An explicit --target keeps the instrumentation out of build scripts and
# proc macros (which would not link without libFuzzer).
host=$(rustc -vV | sed -n 's/^host: //p')

echo "== fuzz: building ${targets[*]}"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --manifest-path fuzz/Cargo.toml --release --target "$host" "${bins[@]}"

corpora=${FUZZ_CORPUS_DIR:-$(mktemp -d /tmp/wayfare-fuzz.XXXXXX)}
[ -z "${FUZZ_CORPUS_DIR:-}" ] && trap 'rm -rf "$corpora"' EXIT
for t in "${targets[@]}"; do
  echo "== fuzz: $t for ${seconds}s"
  mkdir -p "$corpora/$t" "$corpora/$t-artifacts"
  # A crash, a timeout or a leak stops the run with a reproducer in the
  # artifacts directory, and this script fails.
  if ! "$CARGO_TARGET_DIR/$host/release/$t" "$corpora/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$corpora/$t-artifacts/" -print_final_stats=1 \
      >"$corpora/$t.log" 2>&1; then
    tail -n 40 "$corpora/$t.log" >&2
    echo "fuzz target $t failed; reproducer:" "$corpora/$t-artifacts/"* >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$corpora/$t.log" | tr '\n' ' '
  echo
done
