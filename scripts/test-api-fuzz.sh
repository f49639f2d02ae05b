#!/usr/bin/env bash
# The API contract under fuzzing: schemathesis against a real
# wayfare-server on loopback (fresh SQLite database), with every check it
# has, a fixed seed and a bounded number of examples per operation.
#
# scripts/api_fuzz/seed.py registers what the requests need through the
# public API (two devices with Ed25519 keys, a merchant and its owner, a pos
# and a top_up terminal with keys, a guardian binding, a staff member, a
# top-up, a closed billing day and a reconciliation); scripts/api_fuzz/hooks.py
# signs every device and terminal request the way
# wayfare_protocol::request_auth::sign_request does, sends the admin token
# to admin operations and the funding provider's HMAC to its callback; the
# seeded ids are dictionaries that path and body parameters draw from, so
# operations get past 404. Fails on any failure or error schemathesis
# reports (server errors, responses outside the document, requests the
# document allows that the server refuses and the reverse, ...) and unless
# every operation of the served document was tested.
#
# Installs what it needs on a fresh Debian machine: python3-venv (apt),
# schemathesis and cryptography (PyPI, pinned, into build/venv-api-fuzz).
#
# Environment: API_FUZZ_EXAMPLES (default 20), API_FUZZ_SEED (default 20261202).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/test-lib.sh
. scripts/test-lib.sh

SCHEMATHESIS_VERSION=4.32.5
CRYPTOGRAPHY_VERSION=50.0.2
examples=${API_FUZZ_EXAMPLES:-20}
seed=${API_FUZZ_SEED:-20261202}
venv=build/venv-api-fuzz
started=$(date +%s)

install_missing_tools python3 venv
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ] \
    || ! "$venv/bin/python" -c "import cryptography; assert cryptography.__version__ == '$CRYPTOGRAPHY_VERSION'" 2>/dev/null; then
    echo "== installing schemathesis $SCHEMATHESIS_VERSION and cryptography $CRYPTOGRAPHY_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION"
fi

echo "== building wayfare-server"
scripts/build-test-binaries.sh -q
target_dir=$(cargo_target_dir)

work=$(mktemp -d /tmp/wayfare-api-fuzz.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The funding providers the top-up operations name (and whose callback the
# hook signs).
callback_secret="api-fuzz-checkout-secret-$(date +%s%N)"
cat > "$work/server.toml" <<EOF
[[funding.providers]]
id = "sandbox"
kind = "sandbox"
currencies = ["CNY"]

[[funding.providers]]
id = "card"
kind = "checkout"
secret = "$callback_secret"
checkout_url = "https://checkout.invalid/pay/{reference}"
currencies = ["CNY"]
EOF

echo "== starting wayfare-server on loopback (fresh SQLite database)"
RUST_LOG=warn "$target_dir/debug/wayfare-server" --data-dir "$work/data" --listen 127.0.0.1:0 \
    --config "$work/server.toml" >"$work/server.log" 2>&1 &
server_pid=$!
base_url=""
for _ in $(seq 1 300); do
    base_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/server.log" | head -1)
    [ -n "$base_url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "wayfare-server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$base_url" ] || { cat "$work/server.log"; echo "wayfare-server did not start" >&2; exit 1; }
echo "   $base_url"

echo "== seeding devices, terminals, a merchant and its staff"
out="$root/build/api-fuzz"
rm -rf "$out"
mkdir -p "$out"
"$venv/bin/python" scripts/api_fuzz/seed.py "$base_url" "$work/data/admin-token" "$callback_secret" "$out"

echo "== schemathesis $SCHEMATHESIS_VERSION: every check, seed $seed, at most $examples examples per operation"
# --include-path-regex '^/' selects every operation, GET /v1/openapi.json
# too (schemathesis leaves out the operation that served the document
# unless a filter names it).
# --generation-database none: no examples remembered from earlier runs, so
# a run depends on the seed alone. One worker: concurrent workers tripped
# CPython 3.11's "AST constructor recursion depth mismatch" in hypothesis.
set +e
(cd "$out" && WAYFARE_FUZZ_STATE="$out/state.json" SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/scripts/api_fuzz" \
    "$root/$venv/bin/schemathesis" --config-file "$out/schemathesis.toml" run "$base_url/v1/openapi.json" \
    --include-path-regex '^/' --checks all --seed "$seed" --max-examples "$examples" \
    --generation-database none --workers 1 --no-color \
    --report junit --report-junit-path "$out/junit.xml" 2>&1 | tee "$out/schemathesis.log"
    exit "${PIPESTATUS[0]}")
status=$?
set -e
if grep -q "panicked" "$work/server.log"; then
    grep -B2 -A8 "panicked" "$work/server.log" | head -60
    echo "api-fuzz: wayfare-server panicked" >&2
    exit 1
fi

curl -sf "$base_url/v1/openapi.json" -o "$out/openapi.json"
counts=$("$venv/bin/python" - "$out/openapi.json" "$out/junit.xml" <<'PY'
import json, sys, xml.etree.ElementTree as ET

doc = json.load(open(sys.argv[1]))
methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
documented = {f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item if m in methods}
suite = ET.parse(sys.argv[2]).getroot()
tested, failed = set(), 0
for case in suite.iter("testcase"):
    name = case.get("name")
    bad = [c for c in case if c.tag in ("failure", "error")]
    failed += len(bad)
    if name in documented and not bad and not any(c.tag == "skipped" for c in case):
        tested.add(name)
    elif name in documented:
        print(f"not exercised cleanly: {name}", file=sys.stderr)
untested = sorted(documented - tested)
for name in untested:
    print(f"untested: {name}", file=sys.stderr)
print(len(documented), len(tested), failed)
PY
)
read -r documented tested failed <<<"$counts"
elapsed=$(( $(date +%s) - started ))
echo "api-fuzz: $tested of $documented operations exercised, schemathesis exit $status, ${elapsed}s"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$tested" -ne "$documented" ]; then
    echo "api-fuzz: failed (see build/api-fuzz/schemathesis.log)" >&2
    exit 1
fi
echo "api-fuzz: $tested passed, 0 failed"
