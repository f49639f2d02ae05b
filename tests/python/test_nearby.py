"""The merged discovery stream as a Python app gets it: the listener and the
app's own platform browser (what NSD / NWBrowser are on phones) are Python
objects implementing the core's foreign traits."""

import queue
import threading
import time

import pytest

from harness import PyKeyStore, find_terminal, wf

WAIT_S = 20


class Lists(wf.NearbyListener):
    """Queues every list the watch hands over (called from a core thread)."""

    def __init__(self):
        self.lists = queue.Queue()
        self.unavailable = []

    def on_nearby_changed(self, terminals):
        self.lists.put(terminals)

    def on_source_unavailable(self, source, reason):
        self.unavailable.append((source, reason))

    def wait_for(self, ok):
        deadline = time.monotonic() + WAIT_S
        last = None
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no such list; the last: {last}"
            try:
                last = self.lists.get(timeout=left)
            except queue.Empty:
                continue
            if ok(last):
                return last


class Browser(wf.PlatformDiscovery):
    """The app's browser: the core starts it with a sink and stops it."""

    def __init__(self):
        self.sink = None
        self.stopped = threading.Event()

    def start(self, sink):
        self.sink = sink

    def stop(self):
        self.stopped.set()


def test_the_platform_browser_and_mdns_merge_into_one_entry(system, run):
    async def scenario():
        wallet = wf.Wallet(system.config(system.wallet_dir()), PyKeyStore())
        await wallet.open()
        found = await find_terminal(wallet, system.terminal_id)

        lists, browser = Lists(), Browser()
        handle = wallet.terminals().watch_nearby(
            lists, browser, wf.NearbyOptions(mdns=True, bluetooth=False))
        assert handle.is_active(), handle.error()
        assert browser.sink is not None, "the core started the app's browser"
        browser.sink.service_found(wf.PlatformService(
            name="tram._wayfare._tcp.local.", host=found.host, port=found.port,
            txt={"v": "1", "tid": found.terminal_id, "name": found.merchant_name,
                 "kind": "tram"}))
        with pytest.raises(wf.WalletError.InvalidInput):
            browser.sink.service_found(wf.PlatformService(
                name="junk", host="127.0.0.1", port=1, txt={}))

        def merged(terminals):
            ours = [t for t in terminals if t.terminal_id == system.terminal_id]
            return len(ours) == 1 and set(ours[0].sources) == {
                wf.NearbySource.MDNS, wf.NearbySource.PLATFORM}

        entry = next(t for t in lists.wait_for(merged)
                     if t.terminal_id == system.terminal_id)
        assert entry.kind == wf.TerminalKind.TRAM
        assert entry.connect.source == wf.DiscoverySource.LAN
        assert (entry.connect.host, entry.connect.port) == (found.host, found.port)

        browser.sink.service_lost("tram._wayfare._tcp.local.")
        lists.wait_for(lambda ts: any(
            t.terminal_id == system.terminal_id and t.sources == [wf.NearbySource.MDNS]
            for t in ts))
        handle.cancel()
        assert browser.stopped.is_set()
        assert not handle.is_active()
        assert lists.unavailable == []

    run(scenario())
