package app.wayfare.core.test

import app.wayfare.core.MerchantOperation
import app.wayfare.core.MerchantPromptEvent
import app.wayfare.core.MerchantRole
import app.wayfare.core.PromptAttribute
import app.wayfare.core.Wallet
import app.wayfare.core.WalletEventBody
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** Merchant prompts as an Android app gets them, on the JVM: generated Kotlin over the real cdylib. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MerchantTest {
    private lateinit var system: LocalSystem

    @BeforeAll
    fun start() {
        system = LocalSystem()
    }

    @AfterAll
    fun stop() = system.close()

    private suspend fun walletWith(name: String, topUp: Long = 0): Pair<Wallet, String> {
        val wallet = Wallet(system.config(system.newWalletDir()), KotlinKeyStore())
        wallet.open()
        val info = wallet.account().register(name, null)
        if (topUp > 0) system.topUp(info.accountId, topUp)
        return wallet to info.accountId
    }

    private fun queuedPrompts(wallet: Wallet) =
        wallet.events().pending(50u).filter { it.body is WalletEventBody.MerchantPrompt }

    @Test
    fun `owner and staff receive a scoped prompt for a payment`() = runBlocking {
        val merchantId = system.merchantId
        val (owner, ownerAccount) = walletWith("Shop owner")
        val (staff, _) = walletWith("Counter staff")
        val (rider, _) = walletWith("Mei", topUp = 1_000)

        val member = system.admin("POST", "/v1/merchants/$merchantId/owner", """{"account_id":"$ownerAccount","locale":"zh"}""")
        assertEquals("owner", LocalSystem.field(member, "role"))
        val mine = owner.merchant().memberships().single()
        assertEquals(merchantId, mine.merchantId)
        assertEquals(MerchantRole.OWNER, mine.role)
        assertEquals("zh", mine.locale)

        val staffContent = listOf(
            PromptAttribute.ORDER_ID, PromptAttribute.AMOUNT, PromptAttribute.TIME, PromptAttribute.PAYMENT_PLATFORM,
        )
        val invitation = owner.merchant().inviteStaff(
            merchantId, listOf(MerchantOperation.RECEIVE_PROMPTS), staffContent, "counter", null, null,
        )
        assertEquals(merchantId, invitation.merchantId)
        val joined = staff.merchant().acceptInvitation(invitation.code)
        assertEquals(MerchantRole.STAFF, joined.role)
        assertTrue(joined.active)
        assertEquals(listOf(MerchantOperation.RECEIVE_PROMPTS), joined.operations)
        assertEquals(staffContent.toSet(), joined.content.toSet())
        assertFalse(PromptAttribute.PAYER_NAME in joined.content)
        assertTrue(owner.merchant().listStaff(merchantId).any { it.memberId == joined.memberId })

        val ownerPrompts = owner.merchant().prompts()
        val staffPrompts = staff.merchant().prompts()

        val session = rider.terminals().connect(findTerminal(rider, system.terminalId))
        val request = session.nextPaymentRequest()
        assertEquals(200uL, request.amountMinor)
        val outcome = session.confirm()

        val seenByOwner = withTimeout(PROMPT_WAIT_MS) { ownerPrompts.next() }
        val seenByStaff = withTimeout(PROMPT_WAIT_MS) { staffPrompts.next() }
        ownerPrompts.cancel()
        staffPrompts.cancel()

        // The owner sees every attribute, rendered in the merchant's locale (zh).
        assertEquals(merchantId, seenByOwner.merchantId)
        assertEquals(MerchantPromptEvent.PAYMENT, seenByOwner.event)
        assertEquals("zh", seenByOwner.locale)
        assertEquals("Mei", seenByOwner.payerName)
        assertEquals(request.orderId, seenByOwner.orderId)
        assertEquals(200L, seenByOwner.amountMinor)
        assertEquals("CNY", seenByOwner.currency)
        assertEquals("Wayfare", seenByOwner.paymentPlatform)
        assertEquals(outcome.paymentId, seenByOwner.paymentId)
        assertEquals("Wayfare到账2.00元", seenByOwner.speechText)
        assertTrue(seenByOwner.displayText.startsWith("Wayfare到账2.00元"), seenByOwner.displayText)
        assertTrue(seenByOwner.displayText.contains("付款人 Mei"), seenByOwner.displayText)
        assertTrue(seenByOwner.showText && seenByOwner.speak && seenByOwner.vibrate)

        // The staff phone never received the payer's name (absent on the wire).
        assertEquals(merchantId, seenByStaff.merchantId)
        assertEquals(MerchantPromptEvent.PAYMENT, seenByStaff.event)
        assertEquals(seenByOwner.dedupeKey, seenByStaff.dedupeKey)
        assertNull(seenByStaff.payerName)
        assertFalse(seenByStaff.rawJson.contains("payer_name"), seenByStaff.rawJson)
        assertFalse(seenByStaff.rawJson.contains("Mei"), seenByStaff.rawJson)
        assertFalse(seenByStaff.displayText.contains("Mei"), seenByStaff.displayText)
        assertFalse(seenByStaff.displayText.contains("付款人"), seenByStaff.displayText)
        assertNull(seenByStaff.paymentId, "no refund scope, no payment id")
        assertEquals(request.orderId, seenByStaff.orderId)
        assertEquals(200L, seenByStaff.amountMinor)
        assertEquals("Wayfare到账2.00元", seenByStaff.speechText)
        assertTrue(seenByStaff.displayText.startsWith("Wayfare到账2.00元"), seenByStaff.displayText)

        // Both prompts are in each wallet's persisted event queue.
        for ((wallet, prompt) in listOf(owner to seenByOwner, staff to seenByStaff)) {
            val events = queuedPrompts(wallet)
            assertEquals(listOf(prompt), events.map { (it.body as WalletEventBody.MerchantPrompt).prompt })
            assertTrue(wallet.events().acknowledge(events.single().eventId))
            assertTrue(queuedPrompts(wallet).isEmpty())
        }

        listOf(owner, staff, rider).forEach { it.closeWallet() }
    }

    companion object {
        const val PROMPT_WAIT_MS = 20_000L
    }
}
