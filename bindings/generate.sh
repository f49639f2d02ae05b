#!/usr/bin/env bash
# Builds wayfare-core (cdylib) and generates the Kotlin, Swift and Python
# bindings from the built library, with the top-level uniffi.toml.
#
#   bindings/generate.sh            # debug build → build/bindings/{kotlin,swift,python}
#   bindings/generate.sh --release  # release build
#   bindings/generate.sh --profile release-mobile [--out DIR]
#
# Prints the path of the library it generated from on the last line.
# Any export that uniffi cannot generate for fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
dir=debug
out=build/bindings
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release; dir=release ;;
        --profile) profile="$2"; dir="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "generate.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$profile" = dev ] && dir=debug

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

echo "== building wayfare-core ($profile) and uniffi-bindgen" >&2
[ "$profile" = dev ] || cargo build -p wayfare-core --profile "$profile" >&2
# uniffi reads the interface from the library's metadata symbols, which a
# stripped library (release-mobile) no longer has: generate from the
# unstripped dev build of the same source (the bindings are identical, API
# checksums included) and ship the requested library next to them. The
# bindgen binary only reads metadata; a debug build is enough. Both come
# from the suites' shared dev build (one feature resolution for all).
scripts/build-test-binaries.sh >&2

case "$(uname -s)" in
    Darwin) libname=libwayfare_core.dylib ;;
    *) libname=libwayfare_core.so ;;
esac
lib="$target_dir/$dir/$libname"
meta_lib="$target_dir/debug/$libname"
[ -f "$lib" ] || { echo "generate.sh: $lib was not built" >&2; exit 1; }

rm -rf "$out"
for language in kotlin swift python; do
    echo "== generating $language" >&2
    "$target_dir/debug/uniffi-bindgen" generate "$meta_lib" \
        --language "$language" \
        --config uniffi.toml \
        --out-dir "$out/$language" \
        --no-format >&2
done

# The Python module loads the library from its own directory.
cp "$lib" "$out/python/"

# Every artefact an app build needs must exist.
for f in \
    "$out/kotlin/app/wayfare/core/wayfare_core.kt" \
    "$out/swift/WayfareCore.swift" \
    "$out/swift/WayfareCoreFFI.h" \
    "$out/swift/WayfareCoreFFI.modulemap" \
    "$out/python/wayfare_core.py"; do
    [ -s "$f" ] || { echo "generate.sh: missing $f" >&2; exit 1; }
done
# The configuration was applied (a silently ignored uniffi.toml would fall
# back to package `uniffi.wayfare_core`).
grep -q '^package app.wayfare.core' "$out/kotlin/app/wayfare/core/wayfare_core.kt" \
    || { echo "generate.sh: uniffi.toml was not applied (Kotlin package)" >&2; exit 1; }
echo "== bindings in $out" >&2
echo "$lib"
