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
start=$(date +%s)

need_apt=()
command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing ${need_apt[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${need_apt[@]}"
fi

echo "== building wayfare-server and wayfare-terminal"
scripts/build-test-binaries.sh
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
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

counts=$(python3 - <<'PY'
import glob, xml.etree.ElementTree as ET
tests = failed = 0
for f in glob.glob("android/app/target/surefire-reports/TEST-*.xml"):
    s = ET.parse(f).getroot()
    tests += int(s.get("tests", 0)); failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
print(tests - failed, failed)
PY
)
read -r passed failed <<<"$counts"
echo "== screenshots"
shots=(android/app/target/screenshots/*.png)
[ -e "${shots[0]}" ] || { echo "no screenshots were written" >&2; exit 1; }
for f in "${shots[@]}"; do echo "$root/$f"; done
echo "== android: $(( $(date +%s) - start )) s"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
echo "android: $passed passed, $failed failed"
