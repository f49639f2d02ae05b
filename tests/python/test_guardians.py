"""Guardians and tap-in/tap-out as a Python app gets them: the generated
module over the real cdylib, against a real server and tram terminal."""

import asyncio

import pytest

from harness import PyKeyStore, Recorder, find_terminal, wf

ALERT_WAIT_S = 20


async def wallet_with(system, name, phone=None, top_up_minor=0):
    wallet = wf.Wallet(system.config(system.wallet_dir()), PyKeyStore())
    await wallet.open()
    info = await wallet.account().register(name, phone)
    if top_up_minor:
        system.top_up(info.account_id, top_up_minor)
    return wallet


def test_binding_consent_ride_alert_and_authorization(system, run):
    async def scenario():
        rider = await wallet_with(system, "Mei", "+8613800131234", top_up_minor=1_000)
        guardian = await wallet_with(system, "Dad")
        stranger = await wallet_with(system, "Eve")

        inv = await rider.guardians().create_invitation(
            wf.GuardianScope.TRANSIT_ONLY, wf.RiderName.PHONE_TAIL(), None)
        assert inv.rider_name == "The phone ending 1234"
        assert inv.scope == wf.GuardianScope.TRANSIT_ONLY
        assert inv.shown_as == wf.RiderNameKind.PHONE_TAIL
        binding = await guardian.guardians().accept_invitation(inv.qr_payload)
        assert binding.role == wf.BindingRole.GUARDIAN and binding.status == wf.BindingStatus.ACTIVE
        assert binding.scope == wf.GuardianScope.TRANSIT_ONLY
        with pytest.raises(wf.WalletError.InvitationInvalid):
            await stranger.guardians().accept_invitation(inv.code)
        with pytest.raises(wf.WalletError.NotFound):
            await stranger.guardians().binding(binding.binding_id)

        recorder = Recorder()
        guardian.set_listener(recorder)
        stream = guardian.guardians().alert_stream()

        terminal = await find_terminal(rider, system.terminal_id)
        session = await rider.terminals().connect(terminal)
        tapped = await session.tap()
        assert tapped.is_payment_requested()
        assert tapped.request.amount_minor == 200
        outcome = await session.confirm()

        alert = await asyncio.wait_for(stream.next(), ALERT_WAIT_S)
        stream.cancel()
        assert alert.payment_id == outcome.payment_id
        assert alert.amount_text == "¥2.00"
        assert alert.transit is not None and alert.transit.line == "T1"
        assert alert.text_en.startswith("The phone ending 1234 paid ¥2.00 at ")
        assert alert.text_zh.startswith("尾号1234的手机于")
        assert [a.alert_id for a in recorder.alerts] == [alert.alert_id]
        assert [a.alert_id for a in guardian.guardians().alerts(10)] == [alert.alert_id]
        events = [e for e in guardian.events().pending(10) if e.body.is_guardian_alert()]
        assert [e.body.alert.alert_id for e in events] == [alert.alert_id]

        revoked = await rider.guardians().revoke(binding.binding_id)
        assert revoked.status == wf.BindingStatus.REVOKED
        for w in (rider, guardian, stranger):
            await w.close()

    run(scenario())
