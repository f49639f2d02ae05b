#!/usr/bin/env bash
# The Android app's tests (android/): the app's Kotlin sources and the
# generated core bindings compiled against Robolectric's android-all, then
# the Robolectric suite (JUnit 4, one sandbox configuration) run on the JVM
# against the real libwayfare_core, a real wayfare-server and real
# wayfare-terminals on loopback. Every screen test renders the window to a
# PNG under android/app/target/screenshots/; their paths are printed at the
# end. Any failing assertion fails the script.
#
# Installs what it needs on a fresh Debian machine: Maven and a JDK (apt);
# Robolectric, the Android 14 framework jars, the Kotlin compiler, JNA and
# kotlinx-coroutines come from Maven Central (about 450 MB once, cached in
# ~/.m2). Starts nothing that outlives it: the tests start and stop their
# own server and terminals.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/test-lib.sh
. scripts/test-lib.sh
start=$(date +%s)

install_missing_tools java mvn python3

echo "== building wayfare-server and wayfare-terminal"
scripts/build-test-binaries.sh
target_dir=$(cargo_target_dir)
bin_dir="$target_dir/debug"

# The same generator and library as scripts/test-bindings.sh, into a folder
# of its own so that a binding run elsewhere cannot replace the sources
# while Maven compiles them.
echo "== generating the Kotlin bindings"
lib=$(bindings/generate.sh --out build/android-app/bindings)
lib_dir=$(dirname "$lib")

echo "== Android app (Robolectric)"
rm -rf android/app/target/screenshots android/app/target/surefire-reports
(cd android/app && mvn -q -B test \
    -Dwayfare.lib.dir="$lib_dir" -Dwayfare.bin.dir="$bin_dir" \
    -Dwayfare.bindings.dir="$root/build/android-app/bindings/kotlin")

counts=$(surefire_counts android/app/target/surefire-reports)
read -r passed failed <<<"$counts"
echo "== screenshots"
shots=(android/app/target/screenshots/*.png)
[ -e "${shots[0]}" ] || { echo "no screenshots were written" >&2; exit 1; }
for f in "${shots[@]}"; do echo "$root/$f"; done
echo "== android: $(( $(date +%s) - start )) s"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
echo "android: $passed passed, $failed failed"
