#!/usr/bin/env bash
# The mobile release build and the FFI benchmark:
#  1. builds libwayfare_core as an app ships it: [profile.release-mobile]
#     (LTO, opt-level "z", one codegen unit, stripped), the `mobile` feature
#     (no debug/trace lines, no dependency `log` records) and packed
#     relative relocations (`-z pack-relative-relocs`: glibc 2.36+; the
#     Android build packs them with `--pack-dyn-relocs=android`), and
#     prints its size;
#  2. the Rust baseline: criterion bench core/benches/ffi_round_trip.rs;
#  3. the FFI side: bindings/bench/ffi_round_trip.py through Python bindings
#     generated from the release-mobile library.
# Takes several minutes on 2 cores (LTO). Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

echo "== release-mobile build"
# `cargo rustc` hands the link flag to the library's own link step only.
cargo rustc -p wayfare-core --lib --crate-type cdylib --profile release-mobile --features mobile \
    -- -C link-arg=-Wl,-z,pack-relative-relocs
lib="$target_dir/release-mobile/libwayfare_core.so"
size=$(stat -c %s "$lib")
echo "cdylib size (release-mobile, x86_64 Linux, with BLE): $size bytes ($((size / 1024)) KiB)"

echo "== Python bindings from the release-mobile library"
out=build/bench-bindings
bindings/generate.sh --profile release-mobile --out "$out" >/dev/null 2>&1
python3 bindings/bench/ffi_round_trip.py "$out/python" "${ITERATIONS:-20000}"

echo "== Rust baseline (criterion, bench profile)"
cargo bench -p wayfare-core --bench ffi_round_trip -- --noplot 2>&1 | grep -E "^events_|time:"
