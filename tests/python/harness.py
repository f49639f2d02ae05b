"""A real Wayfare system on loopback for the binding tests: a
`wayfare-server` process, an enrolled tram `wayfare-terminal` process that
advertises over mDNS on loopback, and helpers to build wallets.

Environment:
  WAYFARE_BIN_DIR       where wayfare-server / wayfare-terminal are (default target/debug)
  WAYFARE_BINDINGS_DIR  the generated Python module + cdylib (default build/bindings/python)
"""

import hashlib
import hmac
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("WAYFARE_BIN_DIR", os.path.join(ROOT, "target", "debug"))
BINDINGS_DIR = os.environ.get(
    "WAYFARE_BINDINGS_DIR", os.path.join(ROOT, "build", "bindings", "python")
)
sys.path.insert(0, BINDINGS_DIR)

import wayfare_core as wf  # noqa: E402  (the generated module, loading the real cdylib)

STARTUP_TIMEOUT_S = 60

# The checkout funding provider's callback secret (the server's --config).
CHECKOUT_SECRET = "python-checkout-secret-0123456789"
SERVER_CONFIG = f"""
[[funding.providers]]
id = "sandbox"
kind = "sandbox"
currencies = ["CNY"]

[[funding.providers]]
id = "card"
kind = "checkout"
secret = "{CHECKOUT_SECRET}"
checkout_url = "https://checkout.invalid/pay/{{reference}}"
currencies = ["CNY"]
"""


def read_line_matching(proc, prefix_words, timeout_s=STARTUP_TIMEOUT_S):
    """Reads the child's stdout until a line containing all words appears."""
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited early: {seen}")
        seen.append(line)
        if all(w in line for w in prefix_words):
            return line.strip()
    raise RuntimeError(f"no line with {prefix_words} within {timeout_s}s: {seen}")


class PyKeyStore(wf.KeyStore):
    """A key store written in Python: HMAC-SHA256 keystream + tag (a test
    stand-in for the Android Keystore / iOS Keychain). Counts its calls."""

    def __init__(self, key=None):
        self.key = key or os.urandom(32)
        self.sealed = 0
        self.unsealed = 0

    def _stream(self, nonce, n):
        out = b""
        counter = 0
        while len(out) < n:
            out += hmac.new(self.key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
            counter += 1
        return out[:n]

    def seal(self, plaintext):
        self.sealed += 1
        nonce = os.urandom(16)
        body = bytes(a ^ b for a, b in zip(plaintext, self._stream(nonce, len(plaintext))))
        tag = hmac.new(self.key, b"tag" + nonce + body, hashlib.sha256).digest()
        return nonce + body + tag

    def unseal(self, sealed):
        self.unsealed += 1
        if len(sealed) < 48:
            raise wf.KeyStoreError.Rejected("sealed data is too short")
        nonce, body, tag = sealed[:16], sealed[16:-32], sealed[-32:]
        good = hmac.new(self.key, b"tag" + nonce + body, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, good):
            raise wf.KeyStoreError.Rejected("authentication failed")
        return bytes(a ^ b for a, b in zip(body, self._stream(nonce, len(body))))


class Recorder(wf.WalletListener):
    """Records wallet listener calls (called from core threads)."""

    def __init__(self):
        self.requests = []
        self.completed = []
        self.failed = []
        self.alerts = []

    def on_payment_request(self, request):
        self.requests.append(request)

    def on_payment_completed(self, outcome):
        self.completed.append(outcome)

    def on_payment_failed(self, failure):
        self.failed.append(failure)

    def on_guardian_alert(self, alert):
        self.alerts.append(alert)


class Nudges(wf.WalletEventListener):
    """Records event-queue nudges."""

    def __init__(self):
        import threading

        self.counts = []
        self.event = threading.Event()

    def on_events_available(self, pending):
        self.counts.append(pending)
        self.event.set()


class System:
    """Server + one tram terminal, as separate processes on loopback."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="wayfare-py-")
        self.root = self.tmp.name
        self.procs = []
        self.wallet_n = 0
        server_dir = os.path.join(self.root, "server")
        server_config = os.path.join(self.root, "server.toml")
        with open(server_config, "w") as f:
            f.write(SERVER_CONFIG)
        server = self._spawn(
            [os.path.join(BIN_DIR, "wayfare-server"), "--data-dir", server_dir,
             "--listen", "127.0.0.1:0", "--config", server_config]
        )
        line = read_line_matching(server, ["listening on"])
        self.base_url = line.split("listening on", 1)[1].strip()
        with open(os.path.join(server_dir, "admin-token")) as f:
            self.admin_token = f.read().strip()
        self.merchant = self.admin("POST", "/v1/merchants", {"name": "Tram Line T1", "currency": "CNY"})
        terminal_dir = os.path.join(self.root, "terminal")
        enroll = subprocess.run(
            [os.path.join(BIN_DIR, "wayfare-terminal"), "enroll",
             "--server-url", self.base_url,
             "--admin-token-file", os.path.join(server_dir, "admin-token"),
             "--merchant-id", self.merchant["merchant_id"],
             "--kind", "tram", "--currency", "CNY", "--fare-minor", "200",
             "--line", "T1", "--station", "Central Square",
             "--data-dir", terminal_dir],
            capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S,
        )
        if enroll.returncode != 0:
            raise RuntimeError(f"enroll failed: {enroll.stdout} {enroll.stderr}")
        self.terminal_id = enroll.stdout.split("enrolled terminal", 1)[1].split(";")[0].strip()
        terminal = self._spawn(
            [os.path.join(BIN_DIR, "wayfare-terminal"), "--config",
             os.path.join(terminal_dir, "terminal.toml")]
        )
        read_line_matching(terminal, ["listening for phones on"])

    def _spawn(self, argv):
        env = dict(os.environ, RUST_LOG="warn")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)
        self.procs.append(proc)
        return proc

    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"authorization": f"Bearer {self.admin_token}",
                     "content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read())

    def top_up(self, account_id, amount_minor):
        return self.admin("POST", "/v1/sandbox/top-ups", {
            "account_id": account_id, "amount_minor": amount_minor, "currency": "CNY"})

    def funding_callback(self, body, secret=CHECKOUT_SECRET, timestamp=None):
        """Plays the checkout provider: posts `body` to its callback URL,
        signed like Stripe (t=..,v1=HMAC-SHA256(secret, "t.body")). Returns
        (HTTP status, JSON answer)."""
        raw = json.dumps(body).encode()
        t = int(time.time()) if timestamp is None else timestamp
        tag = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            self.base_url + "/v1/funding/card/callbacks", data=raw, method="POST",
            headers={"content-type": "application/json",
                     "wayfare-signature": f"t={t},v1={tag}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def wallet_dir(self):
        self.wallet_n += 1
        return os.path.join(self.root, f"wallet-{self.wallet_n}")

    def config(self, data_dir):
        return wf.WalletConfig(
            data_dir=data_dir, server_url=self.base_url, operator_key=None,
            receipt_key=None, mdns_scope=wf.MdnsScope.LOOPBACK)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.tmp.cleanup()


async def find_terminal(wallet, terminal_id, attempts=10):
    """Discovers the terminal over mDNS on loopback (other terminals on this
    machine's loopback are ignored)."""
    for _ in range(attempts):
        for t in await wallet.terminals().discover(1500):
            if t.terminal_id == terminal_id:
                return t
    raise AssertionError(f"terminal {terminal_id} not discovered over mDNS")


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")
