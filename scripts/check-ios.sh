#!/usr/bin/env bash
# The iOS check (no Swift toolchain runs on these machines): parses every
# Swift file under ios/ with tree-sitter's Swift grammar and checks each use
# of WayfareCore against the Swift that bindings/generate.sh produced from
# the real cdylib (scripts/ios_symbols.py; what it checks and misses is in
# ios/README.md). First a self-test: each fixture in scripts/ios_check/fixtures
# must produce exactly the problem it names (a call to a method the core
# lacks, a wrong label, a missing case, ...), and good.swift none.
#
#   scripts/check-ios.sh              # uses build/bindings/swift/WayfareCore.swift,
#                                     # generating it if it is missing
#   scripts/check-ios.sh --generate   # regenerate the bindings first
#   WAYFARE_SWIFT=path/WayfareCore.swift scripts/check-ios.sh
#
# Installs on a fresh Debian machine: python3-venv (apt, if missing),
# tree-sitter and tree-sitter-swift (PyPI, binary wheels, into build/venv-ios).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

generate=no
while [ $# -gt 0 ]; do
    case "$1" in
        --generate) generate=yes ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "check-ios.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

venv=build/venv-ios
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        echo "== installing python3-venv"
        sudo_cmd=""
        [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        $sudo_cmd apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q python3 python3-venv
    fi
    echo "== tree-sitter + tree-sitter-swift into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "tree-sitter>=0.25,<0.26" "tree-sitter-swift==0.7.4"
fi

swift=${WAYFARE_SWIFT:-build/bindings/swift/WayfareCore.swift}
if [ "$generate" = yes ] || [ ! -s "$swift" ]; then
    [ -z "${WAYFARE_SWIFT:-}" ] || { echo "check-ios.sh: $swift is missing" >&2; exit 1; }
    echo "== generating the bindings"
    bindings/generate.sh >/dev/null
fi
# Read one copy: another build regenerating build/bindings meanwhile must
# not change the file under the checker.
snapshot=$(mktemp /tmp/wayfare-ios-core.XXXXXX.swift)
trap 'rm -f "$snapshot"' EXIT
cp "$swift" "$snapshot"

echo "== iOS check: self-test (scripts/ios_check/fixtures)"
"$venv/bin/python" scripts/ios_symbols.py --core "$snapshot" --self-test scripts/ios_check/fixtures

echo "== iOS check: ios/ against the generated WayfareCore"
"$venv/bin/python" scripts/ios_symbols.py --core "$snapshot" ios
echo "== iOS check passed in $(( $(date +%s) - start )) s"
