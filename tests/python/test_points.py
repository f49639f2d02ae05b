"""Paying with loyalty points through the generated Python module: the
merchant's rate read by the core, the split shown, a fare paid with
points, the receipt carrying the split."""

from harness import find_terminal, PyKeyStore, wf
from test_wallet import registered_wallet


async def ride(wallet, system, points=0):
    terminal = await find_terminal(wallet, system.terminal_id)
    session = await wallet.terminals().connect(terminal)
    request = await session.next_payment_request()
    return request, await session.confirm_with_points(points)


def test_a_fare_paid_with_points_carries_the_split(system, run):
    merchant_id = system.merchant["merchant_id"]

    async def scenario():
        wallet, _ = await registered_wallet(system, PyKeyStore(), top_up_minor=1_000)
        # Two rides of 2.00 earn 2 points each.
        for _ in range(2):
            await ride(wallet, system)
        balance = await wallet.account().balance()
        assert (balance.balance_minor, balance.points) == (600, 4)

        rate = await wallet.payments().points_rate(merchant_id)
        assert not rate.accepts_points
        assert wf.points_split(rate, 200, 1) is None
        system.admin("PUT", f"/v1/admin/merchants/{merchant_id}/points-rate",
                     {"minor_per_point": 50})
        try:
            rate = await wallet.payments().points_rate(merchant_id)
            assert (rate.accepts_points, rate.minor_per_point, rate.max_share_bps) == (True, 50, 10_000)
            assert wf.max_points_for(rate, 200, balance.points) == 4
            split = wf.points_split(rate, 200, 4)
            assert (split.points_value_minor, split.money_minor) == (200, 0)

            request, outcome = await ride(wallet, system, points=4)
            assert outcome.amount_minor == request.amount_minor == 200
            assert outcome.terminal_done.outcome == wf.DoneKind.ACCEPTED
            assert (outcome.receipt.points_spent, outcome.receipt.points_value_minor) == (4, 200)
            balance = await wallet.account().balance()
            assert (balance.balance_minor, balance.points) == (600, 0)
            entry = (await wallet.account().history(1))[0]
            assert (entry.amount_minor, entry.points_spent, entry.points_value_minor) == (0, 4, 200)
        finally:
            system.admin("PUT", f"/v1/admin/merchants/{merchant_id}/points-rate",
                         {"minor_per_point": 0})
        check = system.admin("GET", "/v1/ledger/check")
        assert (check["sum_minor"], check["points_sum"], check["points_mismatches"]) == (0, 0, 0)
        await wallet.close()

    run(scenario())
