package app.wayfare.android

import android.app.NotificationManager
import app.wayfare.android.ui.MerchantActivity
import app.wayfare.android.ui.QrDecode
import app.wayfare.android.ui.QrImage
import app.wayfare.android.ui.ScanActivity
import app.wayfare.android.notify.EventNotifier
import app.wayfare.core.MerchantOperation
import app.wayfare.core.MerchantRole
import app.wayfare.core.PromptAttribute
import app.wayfare.core.TerminalKind
import app.wayfare.core.Wallet
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf

/**
 * Joining merchants from the merchant screen, against the real core,
 * server and POS terminal: a staff invitation's QR code scanned (the
 * payload the scanner returns joins like a typed code); a person who owns
 * one merchant and staffs another picks which one the screen shows, and the
 * choice is kept.
 */
@RunWith(RobolectricTestRunner::class)
class MerchantJoinAppTest : AppTest() {
    /** A new merchant owned by another phone; returns the owner's wallet and the merchant's id. */
    private fun ownedMerchant(merchant: String, owner: String): Pair<Wallet, String> {
        val phone = otherPhone(owner)
        val id = system.merchant(merchant)
        system.makeOwner(id, accountId(phone))
        return phone to id
    }

    @Test
    fun `staff scans the owner's invitation QR code on the merchant screen and becomes a member`() {
        register("Sam")
        val (owner, teaHouse) = ownedMerchant("Tea House", "Olga")
        val invitation = runBlocking {
            owner.merchant().inviteStaff(teaHouse, listOf(MerchantOperation.RECEIVE_PROMPTS), listOf(PromptAttribute.AMOUNT), "Counter")
        }

        val screen = Robolectric.buildActivity(MerchantActivity::class.java).setup().get()
        assertEquals("This account is not a member of any merchant.", screen.waitForText("membership"))
        assertEquals("Scan the QR code", screen.textOf("join_scan"))
        screen.click("join_scan")
        val asked = shadowOf(screen).peekNextStartedActivityForResult()
        assertEquals(ScanActivity::class.java.name, asked.intent.component?.className)

        // The scanner says what it scans; this phone has no camera, so it also says to type the code.
        val scanner = Robolectric.buildActivity(ScanActivity::class.java, asked.intent).setup().get()
        assertEquals("Scan a staff invitation", scanner.textOf("title"))
        scanner.answerCameraRequest(granted = true)
        assertEquals("No camera can be used on this phone: type the code instead.", scanner.textOf("scan_status"))
        Screenshots.capture(scanner, "34-scan-staff-invitation")

        // What the camera would read from the owner's screen, handed back as Android hands a result.
        val read = QrDecode.decode(QrImage.bitmap(invitation.qrPayload))!!
        assertEquals(invitation.qrPayload, read)
        screen.scanned(asked, read)
        assertEquals("Tea House · Staff", screen.waitForText("membership") { it.contains("·") || screen.textOf("status").isNotEmpty() })
        assertEquals("", screen.textOf("status"))
        assertEquals("", screen.textOf("join_code"))
        Screenshots.capture(screen, "35-merchant-joined-by-scan")

        // The owner's list has the new staff device, as invited.
        val staff = runBlocking { owner.merchant().listStaff(teaHouse) }.single { it.role == MerchantRole.STAFF }
        assertTrue(staff.active)
        assertEquals("Counter", staff.label)
        assertEquals(listOf(MerchantOperation.RECEIVE_PROMPTS), staff.operations)
    }

    @Test
    fun `the merchant screen's Scan button and the staff scanner speak Chinese to a Chinese phone`() {
        register("Lin")
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val screen = Robolectric.buildActivity(MerchantActivity::class.java).setup().get()
            assertEquals("该账户不是任何商户的成员。", screen.waitForText("membership"))
            assertEquals("扫描二维码", screen.textOf("join_scan"))
            screen.click("join_scan")
            val asked = shadowOf(screen).peekNextStartedActivityForResult()
            val scanner = Robolectric.buildActivity(ScanActivity::class.java, asked.intent).setup().get()
            assertEquals("扫描店员邀请", scanner.textOf("title"))
            assertEquals("将相机对准邀请的二维码。", scanner.textOf("scan_status"))
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
    }

    @Test
    fun `an owner of one merchant and staff of another picks which one the screen shows, and it is remembered`() {
        register("Pat")
        // Owner of the café (its till is in the test system), staff of a noodle bar.
        val cafe = system.pos.merchantId
        system.makeOwner(cafe, accountId())
        val (hana, noodles) = ownedMerchant("Noodle Bar", "Hana")
        runBlocking {
            val code = hana.merchant().inviteStaff(noodles, listOf(MerchantOperation.RECEIVE_PROMPTS), listOf(PromptAttribute.AMOUNT), "Pat").code
            wallet().merchant().acceptInvitation(code)
        }

        val first = Robolectric.buildActivity(MerchantActivity::class.java).setup()
        val screen = first.get()
        screen.waitForText("merchant_choices_title")
        assertEquals("Your merchants: tap one to show it", screen.textOf("merchant_choices_title"))
        assertEquals(setOf("Corner Café · Owner", "Noodle Bar · Staff"),
            setOf(screen.textOf("merchant_choice_$cafe"), screen.textOf("merchant_choice_$noodles")).map { it.removePrefix("✓").trim() }.toSet())

        // The noodle bar: staff, so no staff list and no refunds; the choice is ticked.
        screen.click("merchant_choice_$noodles")
        assertEquals("Noodle Bar · Staff", screen.waitForText("membership") { it.startsWith("Noodle") })
        assertEquals("✓ Noodle Bar · Staff", screen.textOf("merchant_choice_$noodles"))
        assertEquals("   Corner Café · Owner", screen.textOf("merchant_choice_$cafe"))
        assertNull(screen.view("staff_title"))
        assertNull(screen.view("refunds_title"))

        // A rider pays ¥2.50 at the café: notified, but the noodle bar's feed does not list it.
        val rider = otherPhone("Ivo")
        system.topUp(accountId(rider), 1_000)
        system.ringSale(250, "Biscuit")
        payAt(rider, system.pos, TerminalKind.POS)
        val manager = context.getSystemService(NotificationManager::class.java)
        waitUntil("the café's prompt notified") { shadowOf(manager).allNotifications.any { it.channelId == EventNotifier.CHANNEL_PROMPTS } }
        assertNull(screen.view("prompt_0"))
        assertEquals("Payments confirmed for your shop appear here", screen.textOf("feed_empty"))
        Screenshots.capture(screen, "36-merchant-choose-staff")

        // The café: owner, its staff list, and the prompt in its feed.
        screen.click("merchant_choice_$cafe")
        assertEquals("Corner Café · Owner", screen.waitForText("membership") { it.startsWith("Corner") })
        assertEquals("✓ Corner Café · Owner", screen.textOf("merchant_choice_$cafe"))
        assertTrue(screen.waitForText("prompt_0").contains("2.50"))
        screen.waitForText("staff_title")
        Screenshots.capture(screen, "37-merchant-choose-owner", showTag = "title")
        first.pause().stop().destroy()

        // Opened again: the café, as left.
        val again = Robolectric.buildActivity(MerchantActivity::class.java).setup().get()
        assertEquals("Corner Café · Owner", again.waitForText("membership") { it.contains("·") })
        assertEquals("✓ Corner Café · Owner", again.textOf("merchant_choice_$cafe"))
        again.click("merchant_choice_$noodles")
        again.waitForText("membership") { it.startsWith("Noodle") }
        val third = Robolectric.buildActivity(MerchantActivity::class.java).setup().get()
        assertEquals("Noodle Bar · Staff", third.waitForText("membership") { it.contains("·") })
    }
}
