package app.wayfare.android

import android.view.View
import app.wayfare.android.ui.ExpressActivity
import app.wayfare.android.ui.HomeActivity
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment

/**
 * The express-tap settings screen on `wallet.express()`, against the real
 * core and server: turned on without money (saved, no allowance), an
 * allowance fetched once the balance allows (the server's caps shown),
 * refused limits, turned off, the server's view.
 */
@RunWith(RobolectricTestRunner::class)
class ExpressAppTest : AppTest() {
    @Test
    fun `express taps are turned on, get an allowance within the balance, refuse bad limits, and turn off`() {
        val home = registerThroughScreens("Jun")
        home.waitForText("balance")
        home.click("express")
        val screen = home.next(ExpressActivity::class.java).get()
        assertEquals("Express taps are off: every gate asks online.", screen.waitForText("express_state"))
        assertFalse(screen.checked("express_enabled"))

        // On with no money: the choice is saved, the server grants nothing yet.
        screen.toggle("express_enabled")
        screen.type("express_per_tap", "3.00")
        screen.type("express_total", "30.00")
        screen.click("express_save")
        val notFetched = screen.waitForText("express_result")
        assertTrue(notFetched, notFetched.startsWith("Saved, but no allowance was fetched: "))
        assertEquals("On, but no allowance is held yet: it is fetched when the phone is online.", screen.textOf("express_state"))
        val saved = runBlocking { Wayfare.wallet(context).express().settings() }
        assertTrue(saved.enabled)
        assertEquals(300uL, saved.perTapMaxMinor)
        assertEquals(3_000uL, saved.totalMaxMinor)

        // ¥20.00 topped up: opening the screen fetches an allowance, capped at the balance.
        system.topUp(accountId(), 2_000)
        val ready = Robolectric.buildActivity(ExpressActivity::class.java).setup().get()
        assertEquals("Ready: gates can charge this phone offline.", ready.waitForText("express_state") { it.startsWith("Ready") })
        assertTrue(ready.checked("express_enabled"))
        assertEquals("3.00", ready.textOf("express_per_tap"))
        val allowance = ready.textOf("express_allowance")
        assertTrue(allowance, Regex("Allowance alw_\\S+: ¥0\\.00 of ¥20\\.00 used, up to ¥3\\.00 a tap, until .+").matches(allowance))
        Screenshots.capture(ready, "45-express-ready")

        // A total below the per-tap limit is refused on the screen; nothing changes.
        ready.type("express_total", "2.00")
        ready.click("express_save")
        assertEquals("Enter amounts like 5.00; the total must be at least the largest fare per tap.", ready.textOf("express_result"))
        assertEquals(3_000uL, runBlocking { Wayfare.wallet(context).express().settings() }.totalMaxMinor)

        // The server's view: nothing owed.
        ready.click("express_sync")
        assertEquals("Nothing is owed for express taps.", ready.waitForText("express_account"))

        // Off: the allowance is forgotten on this phone at once.
        ready.type("express_total", "30.00")
        ready.toggle("express_enabled")
        ready.click("express_save")
        assertEquals("Express taps are off: every gate asks online.", ready.waitForText("express_state") { it.startsWith("Express taps are off") })
        assertEquals("Saved.", ready.textOf("express_result"))
        assertEquals(View.GONE, ready.view("express_allowance")!!.visibility)
        val status = runBlocking { Wayfare.wallet(context).express().status() }
        assertFalse(status.settings.enabled)
        assertNull(status.allowance)
    }

    @Test
    fun `the express, scan and notification texts speak Chinese to a Chinese phone`() {
        register("Lin")
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val express = Robolectric.buildActivity(ExpressActivity::class.java).setup().get()
            assertEquals("快速通行", express.textOf("title"))
            assertEquals("快速通行已关闭：每个闸机都会在线确认。", express.waitForText("express_state"))
            assertEquals("开启快速通行", express.textOf("express_enabled"))
            Screenshots.capture(express, "48-express-zh")
            val scan = Robolectric.buildActivity(app.wayfare.android.ui.ScanActivity::class.java).setup().get()
            assertEquals("扫描邀请", scan.textOf("title"))
            assertEquals("将相机对准邀请的二维码。", scan.textOf("scan_status"))
            val guardians = Robolectric.buildActivity(app.wayfare.android.ui.GuardiansActivity::class.java).setup().get()
            assertEquals("扫描二维码", guardians.textOf("accept_scan"))
            val home = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
            home.waitForText("greeting") { it == "Lin" }
            assertEquals("快速通行", home.textOf("express"))
            assertEquals("通知已关闭。监护提醒、商户提示和付款通知会保留在这里，直到您开启通知。", home.textOf("notifications_off"))
            assertEquals("开启通知", home.textOf("notifications_enable"))
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
    }

    /** A switch flipped as a finger does (a switch handles the click without a listener). */
    private fun android.app.Activity.toggle(tag: String) {
        val switch = view(tag) as android.widget.CompoundButton
        val before = switch.isChecked
        switch.performClick()
        check(switch.isChecked != before) { "'$tag' did not toggle" }
    }

    private fun android.app.Activity.checked(tag: String) = (view(tag) as android.widget.CompoundButton).isChecked
}
