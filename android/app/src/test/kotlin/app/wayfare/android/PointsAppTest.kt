package app.wayfare.android

import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.OutcomeActivity
import app.wayfare.android.ui.PaymentActivity
import app.wayfare.core.TerminalKind
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment

/**
 * Paying with loyalty points end to end, against the real core, server and
 * a POS of a merchant that takes points (the operator sets its rate through
 * the admin API): points earned by paying there, the sheet's toggle and
 * split within the merchant's cap, the payment, and the balance and points
 * the home screen shows after.
 */
@RunWith(RobolectricTestRunner::class)
class PointsAppTest : AppTest() {
    private val shop get() = system.pointsShop

    /** The sheet for the tea shop's till, typed in. */
    private fun sheet() = Robolectric.buildActivity(PaymentActivity::class.java,
        PaymentActivity.intentFor(context, typedIn(shop, TerminalKind.POS))).setup().get()

    @Test
    fun `a rider pays part of a sale with points, within the merchant's cap, and sees the balance and points after`() {
        // One point pays ¥0.10 at the tea shop, for at most half of a payment.
        system.setPointsRate(shop.merchantId, minorPerPoint = 10, maxShareBps = 5_000)
        register("Rui")
        system.topUp(accountId(), 5_000)

        // ¥40.00 paid with money earns 40 points (one per yuan).
        system.ringSale(4_000, "Tea tin", at = shop)
        payAt(wallet(), shop, TerminalKind.POS)
        val before = runBlocking { wallet().account().balance() }
        assertEquals(1_000L, before.balanceMinor)
        assertEquals(40L, before.points)

        // ¥6.00: half of it (¥3.00 = 30 points) is the most points may pay, though 40 are held.
        system.ringSale(600, "Jasmine tea", at = shop)
        val sheet = sheet()
        assertEquals("¥6.00", sheet.waitForText("amount"))
        assertEquals("Tea Garden", sheet.textOf("merchant"))
        assertEquals("Pay with points (40 available)", sheet.waitForText("points_toggle"))
        assertEquals("", sheet.textOf("points_split"))
        sheet.click("points_toggle")
        assertEquals("Pay without points", sheet.textOf("points_toggle"))
        assertEquals("30 points (¥3.00) + ¥3.00 from your balance", sheet.textOf("points_split"))
        // Off and on again: the split goes and comes back.
        sheet.click("points_toggle")
        assertEquals("", sheet.textOf("points_split"))
        sheet.click("points_toggle")
        assertEquals("30 points (¥3.00) + ¥3.00 from your balance", sheet.textOf("points_split"))
        Screenshots.capture(sheet, "50-points-split")

        sheet.click("confirm")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("Paid", outcome.textOf("outcome_title"))
        assertEquals("You paid ¥6.00 to Tea Garden. Your balance is now ¥7.00. 30 points paid ¥3.00 of it.", outcome.textOf("outcome_body"))
        Screenshots.capture(outcome, "51-points-paid")

        // ¥3.00 from the balance; 40 - 30 points, plus 3 earned on the money part.
        val home = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
        assertEquals("¥7.00", home.waitForText("balance") { it == "¥7.00" })
        assertEquals("13 points", home.waitForText("points") { it == "13 points" })
        val after = runBlocking { wallet().account().balance() }
        assertEquals(700L, after.balanceMinor)
        assertEquals(13L, after.points)

        // In Chinese: 13 points are under the ¥3.00 sale's cap (15), so all of them are offered; declined.
        system.ringSale(300, "Green tea", at = shop)
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val zh = sheet()
            assertEquals("使用积分（可用 13）", zh.waitForText("points_toggle"))
            zh.click("points_toggle")
            assertEquals("不使用积分", zh.textOf("points_toggle"))
            assertEquals("13 积分（¥1.30）+ 余额 ¥1.70", zh.textOf("points_split"))
            Screenshots.capture(zh, "52-points-split-zh")
            zh.click("decline")
            zh.next(OutcomeActivity::class.java)
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
        assertEquals(13L, runBlocking { wallet().account().balance() }.points)
    }
}
