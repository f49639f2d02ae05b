package app.wayfare.android

import android.app.Activity
import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.NearbyActivity
import app.wayfare.android.ui.Outcome
import app.wayfare.android.ui.OutcomeActivity
import app.wayfare.android.ui.PaymentActivity
import app.wayfare.android.ui.RegisterActivity
import app.wayfare.android.ui.Texts
import app.wayfare.core.DiscoverySource
import app.wayfare.core.TerminalKind
import app.wayfare.core.WalletException
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.shadows.ShadowLog
import java.io.File

/**
 * The rider's screens on Robolectric, against the real libwayfare_core (the
 * generated Kotlin over JNA), a real wayfare-server and real terminals on
 * loopback. Assertions read what the views show.
 */
@RunWith(RobolectricTestRunner::class)
class RiderAppTest : AppTest(notificationsAllowed = false) {
    /** First run through the registration screen, its title checked (and, with `screenshot`, drawn); returns the home screen. */
    private fun firstRun(name: String, screenshot: String? = null): Activity =
        registerThroughScreens(name) { register ->
            assertEquals("Welcome to Wayfare", register.textOf("title"))
            screenshot?.let { Screenshots.capture(register, it) }
        }

    private fun home(): Activity = Robolectric.buildActivity(HomeActivity::class.java).setup().get()

    @Test
    fun `register, see the balance, find the POS, pay a sale and see its receipt in the history`() {
        val first = firstRun("Lin", "01-register")
        first.waitForText("balance") { it == "¥0.00" }
        system.topUp(accountId(), 5_000)

        val home = home()
        assertEquals("Lin", home.waitForText("greeting") { it == "Lin" })
        assertEquals("¥50.00", home.waitForText("balance") { it == "¥50.00" })
        assertEquals("0 points", home.textOf("points"))
        Screenshots.capture(home, "02-home")

        home.click("pay")
        val nearby = home.next(NearbyActivity::class.java).get()
        val tag = "terminal_${system.pos.id}"
        assertTrue(nearby.waitForText(tag).startsWith("Corner Café"))
        assertEquals("Corner Café · Shop till", nearby.textOf(tag))
        Screenshots.capture(nearby, "03-nearby")

        nearby.click(tag)
        val sheet = nearby.next(PaymentActivity::class.java).get()
        sheet.waitForText("status") { it.startsWith("Connected.") }
        val order = system.ringSale(1_250, "Flat white")
        assertEquals("¥12.50", sheet.waitForText("amount"))
        assertEquals("Corner Café", sheet.textOf("merchant"))
        assertEquals("Certified merchant", sheet.textOf("merchant_label"))
        assertEquals("Flat white", sheet.textOf("description"))
        assertEquals("", sheet.textOf("fare"))
        Screenshots.capture(sheet, "04-payment-sheet")

        sheet.click("confirm")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("Paid", outcome.textOf("outcome_title"))
        assertEquals("You paid ¥12.50 to Corner Café. Your balance is now ¥37.50.", outcome.textOf("outcome_body"))
        assertEquals("The terminal accepted the payment.", outcome.textOf("outcome_detail"))
        val paymentId = outcome.textOf("outcome_receipt").removePrefix("Receipt ")
        assertTrue(paymentId.isNotEmpty())
        assertTrue(system.sale(order).contains(paymentId))
        Screenshots.capture(outcome, "05-outcome-paid")

        outcome.click("done")
        val after = outcome.next(HomeActivity::class.java).get()
        assertEquals("¥37.50", after.waitForText("balance") { it == "¥37.50" })
        val newest = after.waitForText("history_0") { it.startsWith("Corner Café") }
        assertTrue(newest, newest.endsWith("¥12.50"))
        assertEquals("Receipt $paymentId · Flat white", after.textOf("history_0_receipt"))
        assertTrue(after.textOf("history_1").startsWith("Top-up"))
        Screenshots.capture(after, "06-home-history")
    }

    @Test
    fun `a terminal typed in, and a declined sale pays nothing`() {
        val home = firstRun("Ada")
        system.topUp(accountId(), 2_000)
        home.click("pay")
        val nearby = home.next(NearbyActivity::class.java).get()
        nearby.type("host", system.pos.host)
        nearby.type("port", system.pos.port.toString())
        Screenshots.capture(nearby, "07-nearby-typed-in")
        nearby.click("connect")
        val sheet = nearby.next(PaymentActivity::class.java).get()
        sheet.waitForText("status") { it.startsWith("Connected.") }
        system.ringSale(880, "Croissant")
        assertEquals("¥8.80", sheet.waitForText("amount"))
        assertEquals("Corner Café", sheet.textOf("merchant"))

        sheet.click("decline")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("Declined", outcome.textOf("outcome_title"))
        assertEquals("You declined. Nothing was paid.", outcome.textOf("outcome_body"))
        Screenshots.capture(outcome, "08-outcome-declined")
        assertEquals("¥20.00", home().waitForText("balance") { it == "¥20.00" })
        assertTrue(runBlocking { Wayfare.wallet(context).payments().receipts(10u).isEmpty() })
    }

    @Test
    fun `a tram fare the balance cannot cover is explained, with the fare's line and direction on the sheet`() {
        val home = firstRun("Wei")
        system.topUp(accountId(), 50)
        home.click("pay")
        val nearby = home.next(NearbyActivity::class.java).get()
        val tag = "terminal_${system.tram.id}"
        assertEquals("Tram Line T1 · Tram reader", nearby.waitForText(tag))
        nearby.click(tag)
        val sheet = nearby.next(PaymentActivity::class.java).get()
        assertEquals("¥2.00", sheet.waitForText("amount"))
        assertEquals("Tram Line T1", sheet.textOf("merchant"))
        assertEquals("Line T1 at Central, from A towards B", sheet.textOf("fare"))
        Screenshots.capture(sheet, "09-payment-sheet-fare")

        sheet.click("confirm")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("Not enough money", outcome.textOf("outcome_title"))
        assertEquals(
            "Your balance of ¥0.50 does not cover ¥2.00. Nothing was paid. Top up your wallet and try again.",
            outcome.textOf("outcome_body"),
        )
        Screenshots.capture(outcome, "10-outcome-insufficient-funds")
    }

    @Test
    fun `a session handed off (as an NFC tap does) opens the sheet and pays`() {
        firstRun("Kai")
        system.topUp(accountId(), 1_000)
        // The HCE service's NfcListener hands a verified session over exactly so.
        val session = runBlocking { wallet().terminals().connect(typedIn(system.pos, TerminalKind.POS, DiscoverySource.NFC)) }
        Wayfare.handOff(session)
        val sheet = Robolectric.buildActivity(PaymentActivity::class.java, PaymentActivity.intentForHandoff(context)).setup().get()
        sheet.waitForText("status") { it.startsWith("Connected.") }
        system.ringSale(300, "Water")
        assertEquals("¥3.00", sheet.waitForText("amount"))
        assertEquals("Corner Café", sheet.textOf("merchant"))
        sheet.click("confirm")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("You paid ¥3.00 to Corner Café. Your balance is now ¥7.00.", outcome.textOf("outcome_body"))
    }

    @Test
    fun `the core's logs reach logcat without identifiers`() {
        firstRun("Logcat")
        val info = runBlocking { Wayfare.wallet(context).account().info()!! }
        val logs = ShadowLog.getLogs().filter { it.tag.startsWith("Wayfare/") }
        assertTrue(logs.joinToString { "${it.tag}: ${it.msg}" }, logs.any { it.tag == "Wayfare/wallet" && it.msg.contains("wallet opened") })
        assertTrue(logs.none { it.msg.contains(info.accountId) || it.msg.contains(info.deviceId) })
    }

    @Test
    fun `a payment whose outcome is unknown says it will not be charged twice`() {
        val pending = Outcome.failed(Texts.English, WalletException.PaymentPending("the server did not answer"), null)
        val outcome = Robolectric.buildActivity(OutcomeActivity::class.java,
            pending.into(android.content.Intent(context, OutcomeActivity::class.java))).setup().get()
        assertEquals("Payment pending", outcome.textOf("outcome_title"))
        assertTrue(outcome.textOf("outcome_body").contains("You will not be charged twice"))
        Screenshots.capture(outcome, "11-outcome-pending")
    }

    @Test
    fun `the screens speak Chinese to a Chinese phone`() {
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val launcher = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
            val register = launcher.next(RegisterActivity::class.java).get()
            assertEquals("欢迎使用 Wayfare", register.textOf("title"))
            assertEquals("创建我的钱包", register.textOf("register"))
            Screenshots.capture(register, "12-register-zh")
            val funds = Outcome.failed(Texts.of(register), WalletException.InsufficientFunds(50, 200uL), null)
            assertEquals("您的余额 ¥0.50 不足以支付 ¥2.00，没有付款。请充值后再试。", funds.body)
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
    }

    @Test
    fun `the Keystore-sealed device key survives an app restart`() {
        val home = firstRun("Mei")
        val accountId = accountId()
        assertEquals("Mei", home.waitForText("greeting") { it == "Mei" })
        val usesAtRegistration = keys.uses.get()
        assertTrue("registration sealed the device key with the key store", usesAtRegistration >= 1)
        home.finish()

        // The process dies: the wallet closes, the Activities and the key
        // store object go; the data directory and the key store's file stay.
        runBlocking { Wayfare.shutdown() }
        useKeys(JceSealingKeys(File(context.noBackupFilesDir, "test-keystore.p12")))

        val again = home()
        assertEquals("Mei", again.waitForText("greeting") { it == "Mei" })
        assertEquals("¥0.00", again.waitForText("balance"))
        assertTrue("opening unsealed the device key with the key store", keys.uses.get() >= 1)
        assertEquals(accountId, accountId())
        Screenshots.capture(again, "13-home-after-restart")

        // Another key cannot unseal it: the wallet refuses to open rather than start afresh.
        runBlocking { Wayfare.shutdown() }
        Wayfare.sealingKeys = { JceSealingKeys(File(context.noBackupFilesDir, "another-keystore.p12")) }
        val refused = home()
        val shown = refused.waitForText("greeting") { it.startsWith("Your wallet could not be opened.") }
        assertFalse(shown.contains(accountId))
    }
}
