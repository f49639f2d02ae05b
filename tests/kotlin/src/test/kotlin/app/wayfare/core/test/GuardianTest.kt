package app.wayfare.core.test

import app.wayfare.core.BindingRole
import app.wayfare.core.BindingStatus
import app.wayfare.core.GuardianScope
import app.wayfare.core.RiderName
import app.wayfare.core.TapOutcome
import app.wayfare.core.Wallet
import app.wayfare.core.WalletEventBody
import app.wayfare.core.WalletException
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/** Guardians as an Android app gets them, on the JVM: generated Kotlin over the real cdylib. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GuardianTest {
    private lateinit var system: LocalSystem

    @BeforeAll
    fun start() {
        system = LocalSystem()
    }

    @AfterAll
    fun stop() = system.close()

    private suspend fun walletWith(name: String, phone: String? = null, topUp: Long = 0): Wallet {
        val wallet = Wallet(system.config(system.newWalletDir()), KotlinKeyStore())
        wallet.open()
        val info = wallet.account().register(name, phone)
        if (topUp > 0) system.topUp(info.accountId, topUp)
        return wallet
    }

    @Test
    fun `binding, consent, a ride, the guardian's alert and authorization`() = runBlocking {
        val rider = walletWith("Mei", "+8613800131234", topUp = 1_000)
        val guardian = walletWith("Dad")
        val stranger = walletWith("Eve")

        val invitation = rider.guardians().createInvitation(GuardianScope.TRANSIT_ONLY, RiderName.PhoneTail) // expiresInS defaults to null
        assertEquals("The phone ending 1234", invitation.riderName)
        val binding = guardian.guardians().acceptInvitation(invitation.qrPayload)
        assertEquals(BindingRole.GUARDIAN, binding.role)
        assertEquals(BindingStatus.ACTIVE, binding.status)
        // Typed refusals an app can act on (no string codes to compare).
        assertThrows<WalletException.InvitationInvalid> {
            runBlocking { stranger.guardians().acceptInvitation(invitation.code) }
        }
        val hidden = assertThrows<WalletException.NotFound> {
            runBlocking { stranger.guardians().binding(binding.bindingId) }
        }
        assertTrue(hidden.reason.isNotEmpty())

        val recorder = Recorder()
        guardian.setListener(recorder)
        val stream = guardian.guardians().alertStream()

        val session = rider.terminals().connect(findTerminal(rider, system.terminalId))
        val tapped = session.tap()
        assertTrue(tapped is TapOutcome.PaymentRequested, "a flat fare is requested: $tapped")
        assertEquals(200uL, (tapped as TapOutcome.PaymentRequested).request.amountMinor)
        val outcome = session.confirm()

        val alert = withTimeout(ALERT_WAIT_MS) { stream.next() }
        stream.cancel()
        assertEquals(outcome.paymentId, alert.paymentId)
        assertEquals(binding.bindingId, alert.bindingId)
        assertEquals(200L, alert.amountMinor)
        assertEquals("¥2.00", alert.amountText)
        assertNotNull(alert.transit)
        assertEquals("T1", alert.transit?.line)
        assertTrue(alert.textEn.startsWith("The phone ending 1234 paid ¥2.00 at "), alert.textEn)
        assertTrue(alert.textZh.startsWith("尾号1234的手机于"), alert.textZh)
        assertEquals(listOf(alert.alertId), recorder.alerts.map { it.alertId })
        assertEquals(listOf(alert.alertId), guardian.guardians().alerts(10u).map { it.alertId })
        val queued = guardian.events().pending(10u).map { it.body }.filterIsInstance<WalletEventBody.GuardianAlert>()
        assertEquals(listOf(alert.alertId), queued.map { it.alert.alertId })

        assertEquals(BindingStatus.REVOKED, rider.guardians().revoke(binding.bindingId).status)
        listOf(rider, guardian, stranger).forEach { it.closeWallet() }
    }

    companion object {
        const val ALERT_WAIT_MS = 20_000L
    }
}
