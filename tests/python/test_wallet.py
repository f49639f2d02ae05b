"""The wallet core as a Python app gets it: the generated module over the
real cdylib, against a real server and terminal on loopback."""

import os
import subprocess
import sys

import pytest

from harness import (Nudges, PyKeyStore, Recorder, find_terminal, rss_kib, wf)

EVENT_WAIT_S = 20


async def registered_wallet(system, key_store, top_up_minor=0, name="Rider"):
    wallet = wf.Wallet(system.config(system.wallet_dir()), key_store)
    await wallet.open()
    info = await wallet.account().register(name)  # phone_number defaults to None
    if top_up_minor:
        system.top_up(info.account_id, top_up_minor)
    return wallet, info


def test_register_top_up_discover_pay_and_receive_the_receipt(system, run):
    async def scenario():
        key_store = PyKeyStore()
        wallet, info = await registered_wallet(system, key_store, top_up_minor=1_000)
        recorder, nudges = Recorder(), Nudges()
        wallet.set_listener(recorder)
        wallet.events().set_listener(nudges)
        assert key_store.sealed == 1, "the core sealed the device key with the Python key store"
        assert (await wallet.account().balance()).balance_minor == 1_000

        terminal = await find_terminal(wallet, system.terminal_id)
        assert terminal.source == wf.DiscoverySource.LAN
        assert terminal.kind == wf.TerminalKind.TRAM
        session = await wallet.terminals().connect(terminal)
        assert session.terminal().terminal_id == system.terminal_id
        request = await session.next_payment_request()
        assert request.amount_minor == 200
        assert request.fare is not None and request.fare.line == "T1"
        assert [r.order_id for r in recorder.requests] == [request.order_id]

        outcome = await session.confirm()
        assert outcome.amount_minor == 200
        assert outcome.balance_after_minor == 800
        assert outcome.terminal_done.outcome == wf.DoneKind.ACCEPTED
        assert outcome.receipt.order_id == request.order_id
        assert [o.payment_id for o in recorder.completed] == [outcome.payment_id]
        receipts = wallet.payments().receipts(10)
        assert [r.payment_id for r in receipts] == [outcome.payment_id]
        assert receipts[0].receipt_base64

        events = wallet.events().pending(10)
        assert len(events) == 1
        assert events[0].body.is_payment_completed()
        assert events[0].body.outcome.payment_id == outcome.payment_id
        assert nudges.event.wait(EVENT_WAIT_S), "the event listener was nudged"
        assert await wallet.events().acknowledge(events[0].event_id)
        assert not await wallet.events().acknowledge(events[0].event_id)
        assert wallet.events().pending(10) == []
        await wallet.close()

    run(scenario())


def test_decline_pays_nothing(system, run):
    async def scenario():
        wallet, _ = await registered_wallet(system, PyKeyStore(), top_up_minor=500)
        session = await wallet.terminals().connect(await find_terminal(wallet, system.terminal_id))
        await session.next_payment_request()
        done = await session.decline("changed my mind")
        assert done.outcome == wf.DoneKind.CANCELLED
        assert (await wallet.account().balance()).balance_minor == 500
        assert wallet.payments().receipts(10) == []
        assert wallet.events().pending_count() == 0
        with pytest.raises(wf.WalletError.SessionFailed):
            await session.confirm()
        await wallet.close()

    run(scenario())


def test_insufficient_funds_is_a_typed_exception_and_a_queued_failure(system, run):
    async def scenario():
        wallet, _ = await registered_wallet(system, PyKeyStore(), top_up_minor=50)
        recorder = Recorder()
        wallet.set_listener(recorder)
        session = await wallet.terminals().connect(await find_terminal(wallet, system.terminal_id))
        request = await session.next_payment_request()
        with pytest.raises(wf.WalletError.InsufficientFunds) as caught:
            await session.confirm()
        assert caught.value.amount_minor == 200
        assert caught.value.balance_minor == 50
        assert "insufficient funds" in wf.wallet_error_message(caught.value)
        assert [f.order_id for f in recorder.failed] == [request.order_id]
        assert recorder.failed[0].will_retry is False
        events = wallet.events().pending(10)
        assert len(events) == 1 and events[0].body.is_payment_failed()
        assert events[0].body.failure.order_id == request.order_id
        assert "insufficient_funds" in events[0].body.failure.error
        await wallet.close()

    run(scenario())


def test_the_python_key_store_guards_the_device_key(system, run):
    async def scenario():
        key_store = PyKeyStore()
        wallet, info = await registered_wallet(system, key_store)
        await wallet.close()
        # Reopening with the same Python key store unseals the device key.
        same = wf.Wallet(system.config(os.path.join(system.root, f"wallet-{system.wallet_n}")), key_store)
        await same.open()
        assert key_store.unsealed == 1
        assert same.account().info().account_id == info.account_id
        await same.close()
        # Another key (a reset platform key) cannot open the identity.
        other = wf.Wallet(system.config(os.path.join(system.root, f"wallet-{system.wallet_n}")), PyKeyStore())
        with pytest.raises(wf.WalletError.KeyStore):
            await other.open()

    run(scenario())


KILLED_CHILD = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import harness
from harness import wf, PyKeyStore, find_terminal

async def main():
    config = wf.WalletConfig(data_dir=sys.argv[2], server_url=sys.argv[3], operator_key=None,
                             receipt_key=None, mdns_scope=wf.MdnsScope.LOOPBACK)
    wallet = wf.Wallet(config, PyKeyStore(bytes.fromhex(sys.argv[4])))
    await wallet.open()
    session = await wallet.terminals().connect(await find_terminal(wallet, sys.argv[5]))
    await session.next_payment_request()
    outcome = await session.confirm()
    events = wallet.events().pending(10)
    print("RECEIVED", outcome.payment_id, events[0].event_id, flush=True)
    import os
    os._exit(0)  # killed before acknowledging (and without close())

asyncio.run(main())
"""


def test_events_survive_close_reopen_and_a_killed_app(system, run):
    key = os.urandom(32)

    async def setup():
        wallet, info = await registered_wallet(system, PyKeyStore(key), top_up_minor=1_000)
        await wallet.close()
        return os.path.join(system.root, f"wallet-{system.wallet_n}")

    data_dir = run(setup())
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, os.path.dirname(__file__), data_dir,
         system.base_url, key.hex(), system.terminal_id],
        capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == 0, child.stderr
    _, payment_id, event_id = child.stdout.split()[-3:]

    async def after_restart():
        wallet = wf.Wallet(system.config(data_dir), PyKeyStore(key))
        nudges = Nudges()
        wallet.events().set_listener(nudges)
        await wallet.open()
        events = wallet.events().pending(10)
        assert [e.event_id for e in events] == [int(event_id)]
        assert events[0].body.outcome.payment_id == payment_id
        assert nudges.event.wait(EVENT_WAIT_S), "open() nudged about the pending event"
        await wallet.close()
        # Closing and reopening does not lose it either, until acknowledged.
        await wallet.open()
        assert [e.event_id for e in wallet.events().pending(10)] == [int(event_id)]
        assert await wallet.events().acknowledge(int(event_id))
        await wallet.close()
        await wallet.open()
        assert wallet.events().pending(10) == []
        await wallet.close()

    run(after_restart())


def test_logging_reaches_the_python_logger_without_identifiers(system, run, logs):
    async def scenario():
        wallet, info = await registered_wallet(system, PyKeyStore(), name="Logger")
        await wallet.close()
        return info

    info = run(scenario())
    core_lines = [l for l in logs.lines if l[1].startswith("wayfare_core")]
    assert any("wallet opened" in l[2] for l in core_lines), logs.lines[-10:]
    assert all(not l[1].startswith(("reqwest", "hyper", "rustls", "sled", "mdns_sd"))
               or l[0] in (wf.LogLevel.WARN, wf.LogLevel.ERROR) for l in logs.lines)
    for _, _, message in logs.lines:
        assert info.account_id not in message and info.device_id not in message
    with pytest.raises(wf.WalletError.InvalidInput):
        wf.init_logging(wf.LogLevel.INFO, logs)


def test_open_close_a_thousand_times_does_not_leak(system, run):
    async def scenario():
        key_store = PyKeyStore()
        wallet, _ = await registered_wallet(system, key_store)
        await wallet.close()
        data_dir = os.path.join(system.root, f"wallet-{system.wallet_n}")

        async def cycle():
            w = wf.Wallet(system.config(data_dir), key_store)
            w.set_listener(Recorder())
            w.events().set_listener(Nudges())
            await w.open()
            w.account().info()
            w.events().pending(1)
            await w.close()

        for _ in range(50):
            await cycle()
        before = rss_kib()
        for _ in range(1_000):
            await cycle()
        after = rss_kib()
        growth = after - before
        print(f"\nPython open/close x1000: RSS before {before} KiB, after {after} KiB, growth {growth} KiB")
        assert growth < 16 * 1024, f"RSS grew by {growth} KiB over 1,000 open/close cycles"

    run(scenario())
