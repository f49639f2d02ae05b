#!/usr/bin/env bash
# The binding tests: generates Kotlin, Swift and Python from the real
# libwayfare_core (so an export that breaks generation fails here), then
# runs the Python suite (pytest, tests/python) and the Kotlin suite (Maven,
# JUnit 5, tests/kotlin) against the real cdylib, a real wayfare-server and
# a real wayfare-terminal on loopback. Any failing assertion fails the script.
#
# Installs what it needs on a fresh Debian machine: python3-venv, Maven and a
# JDK (apt), pytest (PyPI, into build/venv), the Kotlin compiler, JNA,
# kotlinx-coroutines and JUnit (Maven Central, cached in ~/.m2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/test-lib.sh
. scripts/test-lib.sh

install_missing_tools java mvn python3 venv

echo "== building wayfare-server and wayfare-terminal"
scripts/build-test-binaries.sh
target_dir=$(cargo_target_dir)
bin_dir="$target_dir/debug"

echo "== generating the bindings (Kotlin, Swift, Python)"
lib=$(bindings/generate.sh)
lib_dir=$(dirname "$lib")

echo "== Python suite"
if [ ! -x build/venv/bin/pytest ]; then
    rm -rf build/venv
    python3 -m venv build/venv
    build/venv/bin/pip install -q --disable-pip-version-check "pytest>=8,<10"
fi
WAYFARE_BIN_DIR="$bin_dir" WAYFARE_BINDINGS_DIR="$root/build/bindings/python" \
    build/venv/bin/pytest -q -s -p no:cacheprovider tests/python 2>&1 | tee build/pytest.log
py_summary=$(grep -E '[0-9]+ passed' build/pytest.log | tail -1)
py_passed=$(echo "$py_summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)

echo "== Kotlin suite"
(cd tests/kotlin && mvn -q -B test \
    -Dwayfare.lib.dir="$lib_dir" -Dwayfare.bin.dir="$bin_dir" \
    -Dwayfare.bindings.dir="$root/build/bindings/kotlin")
kt_counts=$(surefire_counts tests/kotlin/target/surefire-reports)
read -r kt_passed kt_failed <<<"$kt_counts"
echo "Kotlin: $kt_passed passed, $kt_failed failed"
[ "$kt_failed" -eq 0 ] && [ "$kt_passed" -gt 0 ]
[ "$py_passed" -gt 0 ]
echo "bindings: $((py_passed + kt_passed)) passed, 0 failed"
