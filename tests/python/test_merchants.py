"""Merchant prompts as a Python app gets them: the generated module over the
real cdylib, against a real server and tram terminal. The operator attaches
an owner phone to the tram merchant, the owner invites a staff phone whose
content scope hides the payer's name, a rider pays at the merchant's
terminal, and both phones receive the prompt (stream and persisted queue)."""

import asyncio

from harness import PyKeyStore, find_terminal, wf

PROMPT_WAIT_S = 20

STAFF_CONTENT = [
    wf.PromptAttribute.ORDER_ID,
    wf.PromptAttribute.AMOUNT,
    wf.PromptAttribute.TIME,
    wf.PromptAttribute.PAYMENT_PLATFORM,
]


async def wallet_with(system, name, top_up_minor=0):
    wallet = wf.Wallet(system.config(system.wallet_dir()), PyKeyStore())
    await wallet.open()
    info = await wallet.account().register(name, None)
    if top_up_minor:
        system.top_up(info.account_id, top_up_minor)
    return wallet, info


def queued_prompts(wallet):
    return [e for e in wallet.events().pending(50) if e.body.is_merchant_prompt()]


def test_owner_and_staff_receive_a_scoped_prompt_for_a_payment(system, run):
    async def scenario():
        merchant_id = system.merchant["merchant_id"]
        owner, owner_info = await wallet_with(system, "Shop owner")
        staff, _ = await wallet_with(system, "Counter staff")
        rider, _ = await wallet_with(system, "Mei", top_up_minor=1_000)

        member = system.admin("POST", f"/v1/merchants/{merchant_id}/owner",
                              {"account_id": owner_info.account_id, "locale": "en"})
        assert member["role"] == "owner" and member["status"] == "active"
        mine = await owner.merchant().memberships()
        assert [(m.merchant_id, m.role, m.locale) for m in mine] == [
            (merchant_id, wf.MerchantRole.OWNER, "en")]

        invitation = await owner.merchant().invite_staff(
            merchant_id, [wf.MerchantOperation.RECEIVE_PROMPTS], STAFF_CONTENT,
            "counter", None, None)
        assert invitation.merchant_id == merchant_id
        assert invitation.qr_payload.startswith("wayfare:merchant-invite:v2:")
        joined = await staff.merchant().accept_invitation(invitation.qr_payload)
        assert joined.merchant_id == merchant_id
        assert joined.role == wf.MerchantRole.STAFF and joined.active
        assert joined.operations == [wf.MerchantOperation.RECEIVE_PROMPTS]
        assert wf.PromptAttribute.PAYER_NAME not in joined.content
        assert sorted(a.value for a in joined.content) == sorted(a.value for a in STAFF_CONTENT)
        staff_list = await owner.merchant().list_staff(merchant_id)
        assert joined.member_id in [m.member_id for m in staff_list]

        owner_prompts = owner.merchant().prompts()
        staff_prompts = staff.merchant().prompts()

        session = await rider.terminals().connect(await find_terminal(rider, system.terminal_id))
        request = await session.next_payment_request()
        assert request.amount_minor == 200
        outcome = await session.confirm()

        seen_by_owner = await asyncio.wait_for(owner_prompts.next(), PROMPT_WAIT_S)
        seen_by_staff = await asyncio.wait_for(staff_prompts.next(), PROMPT_WAIT_S)
        owner_prompts.cancel()
        staff_prompts.cancel()

        # The owner sees every attribute, rendered in the merchant's locale.
        assert seen_by_owner.merchant_id == merchant_id
        assert seen_by_owner.event == wf.MerchantPromptEvent.PAYMENT
        assert seen_by_owner.locale == "en"
        assert seen_by_owner.payer_name == "Mei"
        assert seen_by_owner.order_id == request.order_id
        assert seen_by_owner.amount_minor == 200 and seen_by_owner.currency == "CNY"
        assert seen_by_owner.payment_platform == "Wayfare"
        assert seen_by_owner.payment_type == "tram"
        assert seen_by_owner.payment_id == outcome.payment_id
        assert seen_by_owner.speech_text == "Wayfare received 2.00 yuan"
        assert seen_by_owner.display_text.startswith("Wayfare received ¥2.00"), seen_by_owner.display_text
        assert "from Mei" in seen_by_owner.display_text
        assert seen_by_owner.show_text and seen_by_owner.speak and seen_by_owner.vibrate

        # The staff phone never received the payer's name (absent on the wire).
        assert seen_by_staff.merchant_id == merchant_id
        assert seen_by_staff.event == wf.MerchantPromptEvent.PAYMENT
        assert seen_by_staff.dedupe_key == seen_by_owner.dedupe_key
        assert seen_by_staff.payer_name is None
        assert "payer_name" not in seen_by_staff.raw_json
        assert "Mei" not in seen_by_staff.raw_json
        assert "Mei" not in seen_by_staff.display_text
        assert "Mei" not in seen_by_staff.speech_text
        assert seen_by_staff.payee_name is None and seen_by_staff.payment_type is None
        assert seen_by_staff.payment_id is None, "no refund scope, no payment id"
        assert seen_by_staff.order_id == request.order_id
        assert seen_by_staff.amount_minor == 200
        assert seen_by_staff.speech_text == "Wayfare received 2.00 yuan"
        assert seen_by_staff.display_text.startswith("Wayfare received ¥2.00"), seen_by_staff.display_text

        # Both prompts are in each wallet's persisted event queue.
        for wallet, prompt in ((owner, seen_by_owner), (staff, seen_by_staff)):
            events = queued_prompts(wallet)
            assert [e.body.prompt.event_id for e in events] == [prompt.event_id]
            assert events[0].body.prompt == prompt
            assert await wallet.events().acknowledge(events[0].event_id)
            assert queued_prompts(wallet) == []

        for w in (owner, staff, rider):
            await w.close()

    run(scenario())
