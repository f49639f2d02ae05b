# Shared by the test scripts that set up their own tools (test-android.sh,
# test-bindings.sh, test-api-fuzz.sh): sourced, not run. Each of them
# checks the same tools the same way, finds the same target directory and
# (the two Maven suites) counts JUnit results the same way.

# Installs with apt whichever of the tools named by the arguments (java,
# mvn, python3, venv) this machine lacks: java means a JDK with javac,
# venv a python3 that can make a virtual environment.
install_missing_tools() {
    local need_apt=() tool probe
    for tool in "$@"; do
        case "$tool" in
            java) command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless) ;;
            mvn) command -v mvn >/dev/null 2>&1 || need_apt+=(maven) ;;
            python3) command -v python3 >/dev/null 2>&1 || need_apt+=(python3) ;;
            venv)
                probe=$(mktemp -d)
                python3 -m venv "$probe/v" >/dev/null 2>&1 || need_apt+=(python3-venv)
                rm -rf "$probe"
                ;;
            *) echo "install_missing_tools: unknown tool $tool" >&2; return 1 ;;
        esac
    done
    if [ ${#need_apt[@]} -gt 0 ]; then
        echo "== installing ${need_apt[*]}"
        local sudo_cmd=""
        [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        $sudo_cmd apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${need_apt[@]}"
    fi
}

# Prints cargo's target directory (CARGO_TARGET_DIR or the workspace's).
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# Prints "passed failed" for the Maven Surefire reports in the folder $1.
surefire_counts() {
    python3 - "$1" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
tests = failed = 0
for f in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    s = ET.parse(f).getroot()
    tests += int(s.get("tests", 0)); failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
print(tests - failed, failed)
PY
}
