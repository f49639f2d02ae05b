package app.wayfare.android

import android.app.NotificationManager
import android.widget.ImageView
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.ui.GuardiansActivity
import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.OutcomeActivity
import app.wayfare.android.ui.PaymentActivity
import app.wayfare.android.ui.TopUpActivity
import app.wayfare.core.GuardianScope
import app.wayfare.core.RiderName
import app.wayfare.core.TerminalKind
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf

/**
 * The kiosk top-up, the over-the-air top-up and the guardian screens on
 * Robolectric, against the real core, server and terminals on loopback
 * (the same [system] as [RiderAppTest]); a second rider, when a test needs
 * one, is a wallet of the real core opened by the test itself.
 */
@RunWith(RobolectricTestRunner::class)
class FeatureAppTest : AppTest() {
    private fun balanceMinor(): Long = runBlocking { wallet().account().balance().balanceMinor }

    private fun kiosk() = typedIn(system.kiosk, TerminalKind.TOP_UP)

    @Test
    fun `cash at a kiosk is offered, accepted and credited, and a declined offer adds nothing`() {
        registerThroughScreens("Lin")
        system.takeCash(2_000)
        val sheet = Robolectric.buildActivity(PaymentActivity::class.java, PaymentActivity.intentFor(context, kiosk())).setup().get()
        assertEquals("¥20.00", sheet.waitForText("amount"))
        assertEquals("Central Station", sheet.textOf("merchant"))
        assertEquals("Top-up", sheet.textOf("title"))
        Screenshots.capture(sheet, "20-kiosk-offer")
        sheet.click("accept")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("Topped up", outcome.textOf("outcome_title"))
        assertEquals("¥20.00 from Central Station was added. Your balance is now ¥20.00.", outcome.textOf("outcome_body"))
        Screenshots.capture(outcome, "21-kiosk-topped-up")
        assertEquals(2_000L, balanceMinor())

        system.takeCash(500)
        val again = Robolectric.buildActivity(PaymentActivity::class.java, PaymentActivity.intentFor(context, kiosk())).setup().get()
        assertEquals("¥5.00", again.waitForText("amount"))
        again.click("decline")
        val declined = again.next(OutcomeActivity::class.java).get()
        assertEquals("Top-up declined", declined.textOf("outcome_title"))
        assertEquals(2_000L, balanceMinor())
    }

    @Test
    fun `a tap at an entry gate records the entry and says the fare comes at the exit`() {
        registerThroughScreens("Wei")
        system.topUp(accountId(), 2_000)
        val sheet = Robolectric.buildActivity(PaymentActivity::class.java, PaymentActivity.intentFor(context, gate(system.gate))).setup().get()
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("Tapped in", outcome.textOf("outcome_title"))
        assertEquals("Tapped in at Central (line T1). Your fare is charged when you tap out.", outcome.textOf("outcome_body"))
        Screenshots.capture(outcome, "25-gate-entered")
        assertEquals(2_000L, balanceMinor())
    }

    @Test
    fun `tapping out at the exit gate shows the fare from the entry station, and confirming pays it`() {
        registerThroughScreens("Ming")
        system.topUp(accountId(), 2_000)
        val entry = Robolectric.buildActivity(PaymentActivity::class.java, PaymentActivity.intentFor(context, gate(system.gate))).setup().get()
        assertEquals("Tapped in", entry.next(OutcomeActivity::class.java).get().textOf("outcome_title"))

        val exit = Robolectric.buildActivity(PaymentActivity::class.java, PaymentActivity.intentFor(context, gate(system.exitGate))).setup().get()
        assertEquals("¥3.00", exit.waitForText("amount"))
        assertEquals("Metro T1", exit.textOf("merchant"))
        assertEquals("Fare T1 from Central to Harbour", exit.textOf("description"))
        assertEquals("Line T1 at Harbour, from A towards B", exit.textOf("fare"))
        assertEquals("Entered at Central", exit.textOf("fare_entry"))
        Screenshots.capture(exit, "27-gate-exit-fare")
        exit.click("confirm")
        val outcome = exit.next(OutcomeActivity::class.java).get()
        assertEquals("Paid", outcome.textOf("outcome_title"))
        assertEquals("You paid ¥3.00 to Metro T1. Your balance is now ¥17.00.", outcome.textOf("outcome_body"))
        assertEquals(1_700L, balanceMinor())
        val receipt = runBlocking { wallet().payments().receipts(10u) }.single()
        assertEquals("Fare T1 from Central to Harbour", receipt.description)
    }

    private fun gate(t: LocalSystem.Terminal) = typedIn(t, TerminalKind.GATE)

    @Test
    fun `the new screens speak Chinese to a Chinese phone`() {
        registerThroughScreens("Lin")
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val topUp = Robolectric.buildActivity(TopUpActivity::class.java).setup().get()
            assertEquals("在线充值", topUp.textOf("title"))
            assertEquals("通过 Sandbox 充值", topUp.waitForText("provider_sandbox"))
            val guardians = Robolectric.buildActivity(GuardiansActivity::class.java).setup().get()
            assertEquals("邀请监护人", guardians.textOf("invite_title"))
            assertEquals("共享范围: 仅乘车", guardians.textOf("invite_scope"))
            assertEquals("无", guardians.waitForText("as_rider_none"))
            Screenshots.capture(guardians, "26-guardians-zh")
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
    }

    @Test
    fun `the sandbox provider tops up over the air from the Top up screen`() {
        val home = registerThroughScreens("Ada")
        home.click("top_up")
        val screen = home.next(TopUpActivity::class.java).get()
        assertEquals("Top up with Sandbox", screen.waitForText("provider_sandbox"))
        screen.type("amount", "15.50")
        screen.click("provider_sandbox")
        assertEquals("¥15.50 added to your wallet.", screen.waitForText("result"))
        assertTrue(screen.textOf("reference").startsWith("Reference "))
        Screenshots.capture(screen, "22-top-up-over-the-air")
        assertEquals(1_550L, balanceMinor())
        val after = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
        assertEquals("¥15.50", after.waitForText("balance") { it == "¥15.50" })
    }

    @Test
    fun `a guardian accepts a rider's code, sets a daily limit, and the rider's fare arrives as an alert and a notification`() {
        registerThroughScreens("Grandma")
        val rider = otherPhone("Mia")
        system.topUp(accountId(rider), 1_000)
        val invitation = runBlocking { rider.guardians().createInvitation(GuardianScope.ALL_PAYMENTS, RiderName.Nickname("Mia"), null) }

        val screen = Robolectric.buildActivity(GuardiansActivity::class.java).setup().get()
        screen.waitForText("as_guardian_none")
        screen.type("accept_code", invitation.code)
        screen.click("accept")
        assertTrue(screen.waitForText("rider_0").startsWith("Mia · All payments · No limit"))
        screen.type("limit_0", "20.00")
        screen.click("limit_set_0")
        assertEquals("Mia · All payments · limit ¥20.00 a day", screen.waitForText("rider_0") { it.contains("¥20.00") })
        val bound = runBlocking { rider.guardians().bindings(false) }
        assertEquals(1, bound.asRider.size)
        assertEquals(2_000L, bound.asRider[0].dailyLimitMinor)

        // The rider pays a tram fare on her own phone; the guardian's screen hears it live.
        payAt(rider, system.tram, TerminalKind.TRAM)
        val alert = screen.waitForText("alert_0")
        assertTrue(alert, alert.contains("Mia") && alert.contains("¥2.00"))
        Screenshots.capture(screen, "23-guardians", showTag = "my_riders")

        // The alert was posted as a notification on the alerts channel, then acknowledged.
        offMain("the drain") { EventNotifier.drain(context, wallet()) }
        val manager = context.getSystemService(NotificationManager::class.java)
        waitUntil("the alert's notification") { shadowOf(manager).allNotifications.isNotEmpty() }
        val posted = shadowOf(manager).allNotifications.first()
        assertEquals(EventNotifier.CHANNEL_ALERTS, posted.channelId)
        assertEquals("Mia paid", posted.extras.getString("android.title"))
        assertEquals(GuardiansActivity::class.java.name, shadowOf(posted.contentIntent).savedIntent.component?.className)
        assertEquals(0u, wallet().events().pendingCount())
    }

    @Test
    fun `a rider's invitation shows its code and a QR image, and revoking ends the binding`() {
        registerThroughScreens("Kai")
        val screen = Robolectric.buildActivity(GuardiansActivity::class.java).setup().get()
        screen.waitForText("as_rider_none")
        screen.click("invite_scope")
        screen.click("invite_create")
        val code = screen.waitForText("invitation_code")
        val qr = screen.view("invitation_qr") as ImageView
        assertNotNull(qr.drawable)
        assertTrue(qr.contentDescription.isNotEmpty())
        Screenshots.capture(screen, "24-guardian-invitation")

        val guardian = otherPhone("Dad")
        runBlocking { guardian.guardians().acceptInvitation(code) }
        val again = Robolectric.buildActivity(GuardiansActivity::class.java).setup().get()
        assertTrue(again.waitForText("guardian_0").startsWith("Dad · All payments"))
        again.click("revoke_0")
        again.waitForText("as_rider_none")
        assertTrue(runBlocking { guardian.guardians().bindings(false).asGuardian.isEmpty() })
    }
}
