package app.wayfare.android

import android.app.NotificationManager
import android.os.Vibrator
import android.widget.CompoundButton
import android.speech.tts.TextToSpeech
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.ui.MerchantActivity
import app.wayfare.core.MerchantOperation
import app.wayfare.core.PromptAttribute
import app.wayfare.core.TerminalKind
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.shadows.ShadowTextToSpeech

/**
 * The merchant screen for the café's owner on Robolectric, against the real
 * core, server and POS terminal: staff invited and revoked, a rider's
 * payment arriving as a live prompt (shown, notified, spoken, vibrated) and
 * refunded from the screen.
 */
@RunWith(RobolectricTestRunner::class)
class MerchantAppTest : AppTest() {
    private fun merchantScreen() = Robolectric.buildActivity(MerchantActivity::class.java).setup()

    @Test
    fun `the owner invites and revokes staff, hears a payment as a prompt, and refunds it`() {
        registerThroughScreens("Owner")
        system.makeOwner(system.pos.merchantId, accountId())
        // A fresh start: the prompt is drained by the merchant screen, not by the home screen's background drain.
        runBlocking { Wayfare.shutdown() }

        val first = merchantScreen()
        val screen = first.get()
        assertEquals("Corner Café · Owner", screen.waitForText("membership") { it.contains("·") })
        screen.waitForText("invite_title")
        screen.type("invite_label", "Front counter")
        screen.click("invite_staff")
        val code = screen.waitForText("staff_invitation_code")
        assertNotNull(screen.view("staff_invitation_qr"))
        Screenshots.capture(screen, "30-merchant-invite-staff")
        val staff = otherPhone("Sam")
        runBlocking { staff.merchant().acceptInvitation(code) }
        first.pause().stop().destroy()

        val second = merchantScreen()
        val owner = second.get()
        assertTrue(owner.waitForText("staff_0").startsWith("Front counter · Receive prompts"))
        owner.click("staff_revoke_0")
        // The list shows the revoked member as such (or no longer lists it).
        waitUntil("the staff member revoked") { owner.textOf("staff_0").let { it.isEmpty() || it.endsWith("Revoked") } }
        assertTrue(runBlocking { staff.merchant().memberships().none { it.active } })

        // A rider pays ¥3.00 at the café's till; the owner's screen hears it live.
        val rider = otherPhone("Mei")
        system.topUp(accountId(rider), 1_000)
        system.ringSale(300, "Tea")
        val paid = payAt(rider, system.pos, TerminalKind.POS)
        val prompt = owner.waitForText("prompt_0")
        assertTrue(prompt, prompt.contains("3.00"))
        Screenshots.capture(owner, "31-merchant-prompt", showTag = "title")

        // Notified on the prompts channel, acknowledged, vibrated and spoken in the prompt's language.
        val manager = context.getSystemService(NotificationManager::class.java)
        waitUntil("the prompt's notification") { shadowOf(manager).allNotifications.any { it.channelId == EventNotifier.CHANNEL_PROMPTS } }
        assertEquals(0u, runBlocking { Wayfare.wallet(context).events().pendingCount() })
        assertTrue(shadowOf(context.getSystemService(Vibrator::class.java)).milliseconds > 0)
        val tts = ShadowTextToSpeech.getLastTextToSpeechInstance()
        assertNotNull("a TextToSpeech engine was created", tts)
        shadowOf(tts).onInitListener.onInit(TextToSpeech.SUCCESS)
        val spoken = shadowOf(tts).lastSpokenText
        assertTrue("spoken: $spoken", spoken != null && spoken.contains("3.00"))
        assertEquals("en", shadowOf(tts).currentLanguage.language)
        second.pause().stop().destroy()

        // Refunded from the screen: the rider has her ¥10.00 again.
        val third = merchantScreen().get()
        assertTrue(third.waitForText("payment_0").contains("¥3.00"))
        third.click("refund_0")
        assertEquals("¥3.00 refunded; ¥0.00 left to refund", third.waitForText("refund_result_0"))
        Screenshots.capture(third, "32-merchant-refund", showTag = "refunds_title")
        waitUntil("the refund in the rider's balance") { runBlocking { rider.account().balance().balanceMinor } == 1_000L }
        assertTrue(paid.paymentId.isNotEmpty())
    }

    @Test
    fun `the owner changes a staff member's scopes and this phone's prompts, and refunds part of a payment with a reason`() {
        register("Owner Two")
        system.makeOwner(system.pos.merchantId, accountId())
        val kim = otherPhone("Kim")
        runBlocking {
            val code = wallet().merchant().inviteStaff(system.pos.merchantId,
                listOf(MerchantOperation.RECEIVE_PROMPTS), listOf(PromptAttribute.AMOUNT), "Kitchen", null, null).code
            kim.merchant().acceptInvitation(code)
        }

        // Kim may now also refund and see who paid.
        val controller = merchantScreen()
        val screen = controller.get()
        waitUntil("Kim in the staff list") { staffRow(screen, "Kitchen") != null }
        val i = staffRow(screen, "Kitchen")!!
        assertEquals("Kitchen · Receive prompts", screen.textOf("staff_$i"))
        screen.click("staff_scopes_$i")
        screen.click("staff_${i}_op_REFUND")
        screen.click("staff_${i}_attr_PAYER_NAME")
        screen.click("staff_scopes_save_$i")
        waitUntil("the new scopes in the list") { staffRow(screen, "Kitchen")?.let { screen.textOf("staff_$it") } == "Kitchen · Receive prompts, Refund" }
        val kept = runBlocking { kim.merchant().memberships() }.single { it.active }
        assertEquals(setOf(MerchantOperation.RECEIVE_PROMPTS, MerchantOperation.REFUND), kept.operations.toSet())
        assertEquals(setOf(PromptAttribute.AMOUNT, PromptAttribute.PAYER_NAME), kept.content.toSet())

        // This phone: prompts shown, but neither spoken nor vibrated.
        assertTrue((screen.view("prompt_speak") as CompoundButton).isChecked)
        (screen.view("prompt_speak") as CompoundButton).performClick()
        (screen.view("prompt_vibrate") as CompoundButton).performClick()
        val settings = runBlocking { Wayfare.wallet(context).merchant().promptSettings() }
        assertTrue(settings.showText && !settings.speak && !settings.vibrate)
        Screenshots.capture(screen, "33-merchant-scopes-and-prompts", showTag = "prompt_settings_title")

        // A rider pays ¥4.00: the prompt is in the feed and notified, not vibrated.
        val rider = otherPhone("Bo")
        system.topUp(accountId(rider), 1_000)
        system.ringSale(400, "Cake")
        payAt(rider, system.pos, TerminalKind.POS)
        assertTrue(screen.waitForText("prompt_0").contains("4.00"))
        val manager = context.getSystemService(NotificationManager::class.java)
        waitUntil("the prompt's notification") { shadowOf(manager).allNotifications.any { it.channelId == EventNotifier.CHANNEL_PROMPTS } }
        assertEquals(0L, shadowOf(context.getSystemService(Vibrator::class.java)).milliseconds)
        ShadowTextToSpeech.getLastTextToSpeechInstance()?.let { assertFalse(shadowOf(it).lastSpokenText.orEmpty().contains("4.00")) }
        controller.pause().stop().destroy()

        // ¥1.50 of it refunded with a reason, then the rest.
        val refunds = merchantScreen().get()
        assertTrue(refunds.waitForText("payment_0").contains("¥4.00"))
        refunds.type("refund_amount_0", "abc")
        refunds.click("refund_0")
        assertEquals("Enter an amount like 1.50, or leave it empty to refund all that is left.", refunds.textOf("refund_result_0"))
        refunds.type("refund_amount_0", "1.50")
        refunds.type("refund_reason_0", "Cake was dry")
        refunds.click("refund_0")
        assertEquals("¥1.50 refunded; ¥2.50 left to refund", refunds.waitForText("refund_result_0") { it.contains("refunded") })
        waitUntil("the part refunded to the rider") { runBlocking { rider.account().balance().balanceMinor } == 750L }
        refunds.type("refund_amount_0", "")
        refunds.click("refund_0")
        assertEquals("¥2.50 refunded; ¥0.00 left to refund", refunds.waitForText("refund_result_0") { it.startsWith("¥2.50") })
        waitUntil("the rest refunded to the rider") { runBlocking { rider.account().balance().balanceMinor } == 1_000L }
    }

    /** The index of the staff row whose text starts with `label`, if listed. */
    private fun staffRow(screen: android.app.Activity, label: String): Int? =
        generateSequence(0) { it + 1 }.takeWhile { screen.view("staff_$it") != null }.firstOrNull { screen.textOf("staff_$it").startsWith(label) }
}
