"""The FFI side of the round-trip benchmark: the calls of
core/benches/ffi_round_trip.rs made from Python through the generated
bindings over the real cdylib.

- events_pending_count:   Python → Rust → Python (a plain call)
- events_notify_listener: Python → Rust → Python listener
                          (on_events_available) → Rust → Python

Usage: python3 ffi_round_trip.py BINDINGS_DIR [ITERATIONS]
Prints one line per call: the median over 7 runs of ITERATIONS calls.
"""

import asyncio
import statistics
import sys
import tempfile
import time

sys.path.insert(0, sys.argv[1])
import wayfare_core as wf  # noqa: E402

ITERATIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000


class Counter(wf.WalletEventListener):
    def __init__(self):
        self.calls = 0

    def on_events_available(self, pending):
        self.calls += 1


def per_call_ns(fn):
    runs = []
    for _ in range(7):
        start = time.perf_counter_ns()
        for _ in range(ITERATIONS):
            fn()
        runs.append((time.perf_counter_ns() - start) / ITERATIONS)
    return statistics.median(runs)


async def main():
    with tempfile.TemporaryDirectory() as d:
        config = wf.WalletConfig(data_dir=d + "/wallet", server_url="http://127.0.0.1:9",
                                 operator_key=None, receipt_key=None,
                                 mdns_scope=wf.MdnsScope.LOOPBACK)
        wallet = wf.Wallet(config, wf.InMemoryKeyStore().as_key_store())
        await wallet.open()
        events = wallet.events()
        counter = Counter()
        events.set_listener(counter)
        plain = per_call_ns(events.pending_count)
        round_trip = per_call_ns(events.notify_listener)
        assert counter.calls >= 7 * ITERATIONS
        print(f"python events_pending_count:   {plain / 1000:8.2f} µs/call")
        print(f"python events_notify_listener: {round_trip / 1000:8.2f} µs/call")
        await wallet.close()


asyncio.run(main())
