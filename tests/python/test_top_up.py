"""Over-the-air top-up as a Python app gets it: the generated module over
the real cdylib, a real server configured with a checkout provider and the
sandbox; the test plays the provider and signs its callbacks."""

import asyncio

import pytest

from harness import PyKeyStore, wf

EVENT_WAIT_S = 30


async def registered_wallet(system):
    wallet = wf.Wallet(system.config(system.wallet_dir()), PyKeyStore())
    await wallet.open()
    await wallet.account().register("Top-up rider")  # phone_number defaults to None
    return wallet


def top_up_events(wallet):
    return [e for e in wallet.events().pending(50)
            if e.body.is_top_up_completed() or e.body.is_top_up_failed()]


def test_a_checkout_top_up_confirmed_by_a_signed_callback(system, run):
    async def scenario():
        wallet = await registered_wallet(system)
        account = wallet.account()
        providers = await account.top_up_providers()
        assert [p.id for p in providers] == ["card", "sandbox"]
        stream = account.top_up_stream()

        started = await account.top_up("card", 2_000)
        assert started.status == wf.TopUpStatus.PENDING
        assert started.checkout_url == f"https://checkout.invalid/pay/{started.reference}"
        assert (await account.balance()).balance_minor == 0

        good = {"provider_reference": "ch_py_" + started.reference[3:],
                "reference": started.reference, "amount_minor": 2_000,
                "currency": "CNY", "status": "succeeded"}
        status, refused = system.funding_callback(good, secret="not-the-secret-00000000")
        assert (status, refused["error"]["code"]) == (401, "bad_signature")
        status, refused = system.funding_callback(dict(good, amount_minor=20_000))
        assert (status, refused["error"]["code"]) == (409, "callback_mismatch")
        status, confirmed = system.funding_callback(good)
        assert (status, confirmed["status"]) == (200, "confirmed")
        status, again = system.funding_callback(good)
        assert (status, again) == (200, confirmed)

        outcome = await asyncio.wait_for(stream.next(), EVENT_WAIT_S)
        assert outcome.reference == started.reference
        assert outcome.status == wf.TopUpStatus.CONFIRMED
        events = top_up_events(wallet)
        assert len(events) == 1
        assert events[0].body.top_up.reference == started.reference
        assert await wallet.events().acknowledge(events[0].event_id)
        assert (await account.balance()).balance_minor == 2_000
        history = await account.history(5)
        assert history[0].kind == wf.HistoryKind.TOP_UP

        sandbox = await account.top_up("sandbox", 500)
        assert sandbox.status == wf.TopUpStatus.CONFIRMED and sandbox.checkout_url is None
        assert (await account.balance()).balance_minor == 2_500
        with pytest.raises(wf.WalletError.TopUpUnavailable) as unavailable:
            await account.top_up("paypal", 100)
        assert unavailable.value.provider == "paypal"
        stream.cancel()
        await wallet.close()

    run(scenario())
