package app.wayfare.core.test

import app.wayfare.core.DiscoverySource
import app.wayfare.core.DoneKind
import app.wayfare.core.LogLevel
import app.wayfare.core.LogSink
import app.wayfare.core.TerminalKind
import app.wayfare.core.Wallet
import app.wayfare.core.WalletEventBody
import app.wayfare.core.WalletException
import app.wayfare.core.initLogging
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit

/** The wallet core as an Android app gets it, on the JVM: generated Kotlin over the real cdylib. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WalletTest {
    private lateinit var system: LocalSystem

    class Logs : LogSink {
        val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
        override fun log(level: LogLevel, target: String, message: String) {
            lines.add(Triple(level, target, message))
        }
    }

    private val logs = Logs()

    @BeforeAll
    fun start() {
        initLogging(LogLevel.DEBUG, logs)
        system = LocalSystem()
    }

    @AfterAll
    fun stop() = system.close()

    private suspend fun registeredWallet(keyStore: KotlinKeyStore, topUp: Long = 0, name: String = "Rider"): Pair<Wallet, File> {
        val dir = system.newWalletDir()
        val wallet = Wallet(system.config(dir), keyStore)
        wallet.open()
        val info = wallet.account().register(name) // phoneNumber defaults to null
        if (topUp > 0) system.topUp(info.accountId, topUp)
        return wallet to dir
    }

    @Test
    fun `register, top up, discover, pay and receive the receipt`() = runBlocking {
        val keyStore = KotlinKeyStore()
        val (wallet, _) = registeredWallet(keyStore, topUp = 1_000)
        val recorder = Recorder()
        val nudges = Nudges()
        wallet.setListener(recorder)
        wallet.events().setListener(nudges)
        assertEquals(1, keyStore.sealed, "the core sealed the device key with the Kotlin key store")
        assertEquals(1_000L, wallet.account().balance().balanceMinor)

        val terminal = findTerminal(wallet, system.terminalId)
        assertEquals(DiscoverySource.LAN, terminal.source)
        assertEquals(TerminalKind.TRAM, terminal.kind)
        val session = wallet.terminals().connect(terminal)
        val request = session.nextPaymentRequest()
        assertEquals(200uL, request.amountMinor)
        assertEquals("T1", request.fare?.line)
        assertEquals(listOf(request.orderId), recorder.requests.map { it.orderId })

        val outcome = session.confirm()
        assertEquals(800L, outcome.balanceAfterMinor)
        assertEquals(DoneKind.ACCEPTED, outcome.terminalDone?.outcome)
        assertEquals(listOf(outcome.paymentId), recorder.completed.map { it.paymentId })
        assertEquals(listOf(outcome.paymentId), wallet.payments().receipts(10u).map { it.paymentId })

        val events = wallet.events().pending(10u)
        assertEquals(1, events.size)
        val body = events[0].body
        assertTrue(body is WalletEventBody.PaymentCompleted)
        assertEquals(outcome.paymentId, (body as WalletEventBody.PaymentCompleted).outcome.paymentId)
        assertTrue(nudges.latch.await(20, TimeUnit.SECONDS), "the event listener was nudged")
        assertTrue(wallet.events().acknowledge(events[0].eventId))
        assertFalse(wallet.events().acknowledge(events[0].eventId))
        assertEquals(0u, wallet.events().pendingCount())
        wallet.closeWallet()
    }

    @Test
    fun `a decline pays nothing`() = runBlocking {
        val (wallet, _) = registeredWallet(KotlinKeyStore(), topUp = 500)
        val session = wallet.terminals().connect(findTerminal(wallet, system.terminalId))
        session.nextPaymentRequest()
        val done = session.decline("changed my mind")
        assertEquals(DoneKind.CANCELLED, done.outcome)
        assertEquals(500L, wallet.account().balance().balanceMinor)
        assertTrue(wallet.payments().receipts(10u).isEmpty())
        assertEquals(0u, wallet.events().pendingCount())
        wallet.closeWallet()
    }

    @Test
    fun `insufficient funds is a typed exception and a queued failure`() = runBlocking {
        val (wallet, _) = registeredWallet(KotlinKeyStore(), topUp = 50)
        val recorder = Recorder()
        wallet.setListener(recorder)
        val session = wallet.terminals().connect(findTerminal(wallet, system.terminalId))
        val request = session.nextPaymentRequest()
        val e = assertThrows<WalletException.InsufficientFunds> { runBlocking { session.confirm() } }
        assertEquals(200uL, e.amountMinor)
        assertEquals(50L, e.balanceMinor)
        assertTrue(walletErrorMessage(e).contains("insufficient funds"))
        assertEquals(listOf(request.orderId), recorder.failed.map { it.orderId })
        val body = wallet.events().pending(10u).single().body
        assertTrue(body is WalletEventBody.PaymentFailed)
        assertEquals(request.orderId, (body as WalletEventBody.PaymentFailed).failure.orderId)
        wallet.closeWallet()
    }

    @Test
    fun `the Kotlin key store guards the device key`() = runBlocking {
        val keyStore = KotlinKeyStore()
        val (wallet, dir) = registeredWallet(keyStore)
        val accountId = wallet.account().info()!!.accountId
        wallet.closeWallet()
        val same = Wallet(system.config(dir), keyStore)
        same.open()
        assertEquals(1, keyStore.unsealed)
        assertEquals(accountId, same.account().info()?.accountId)
        same.closeWallet()
        val other = Wallet(system.config(dir), KotlinKeyStore())
        assertThrows<WalletException.KeyStore> { runBlocking { other.open() } }
        Unit
    }

    @Test
    fun `events survive closing and reopening until acknowledged`() = runBlocking {
        val keyStore = KotlinKeyStore()
        val (wallet, dir) = registeredWallet(keyStore, topUp = 1_000)
        val session = wallet.terminals().connect(findTerminal(wallet, system.terminalId))
        session.nextPaymentRequest()
        val outcome = session.confirm()
        val eventId = wallet.events().pending(10u).single().eventId
        wallet.closeWallet() // the app goes away without acknowledging

        val reopened = Wallet(system.config(dir), keyStore)
        val nudges = Nudges()
        reopened.events().setListener(nudges)
        reopened.open()
        val again = reopened.events().pending(10u).single()
        assertEquals(eventId, again.eventId)
        assertEquals(outcome.paymentId, (again.body as WalletEventBody.PaymentCompleted).outcome.paymentId)
        assertTrue(nudges.latch.await(20, TimeUnit.SECONDS), "open() nudged about the pending event")
        assertTrue(reopened.events().acknowledge(eventId))
        reopened.closeWallet()
        reopened.open()
        assertEquals(0u, reopened.events().pendingCount())
        reopened.closeWallet()
    }

    @Test
    fun `logs reach the Kotlin logger without identifiers`() = runBlocking {
        val (wallet, _) = registeredWallet(KotlinKeyStore(), name = "Logger")
        val info = wallet.account().info()!!
        wallet.closeWallet()
        assertTrue(logs.lines.any { it.second.startsWith("wayfare_core") && it.third.contains("wallet opened") })
        assertTrue(logs.lines.none { it.third.contains(info.accountId) || it.third.contains(info.deviceId) })
        assertThrows<WalletException.InvalidInput> { initLogging(LogLevel.INFO, logs) }
        Unit
    }

    @Test
    fun `opening and closing a wallet 1,000 times does not leak`() = runBlocking {
        val keyStore = KotlinKeyStore()
        val (first, dir) = registeredWallet(keyStore)
        first.closeWallet()
        first.destroy()
        suspend fun cycle() {
            Wallet(system.config(dir), keyStore).use { w ->
                w.setListener(Recorder())
                w.events().use { events ->
                    events.setListener(Nudges())
                    w.open()
                    w.account().use { it.info() }
                    events.pending(1u)
                    w.closeWallet()
                }
            }
        }
        repeat(50) { cycle() }
        System.gc()
        val before = rssKib()
        repeat(1_000) { cycle() }
        System.gc()
        val after = rssKib()
        val growth = after - before
        println("Kotlin open/close x1000: RSS before $before KiB, after $after KiB, growth $growth KiB")
        assertTrue(growth < 48 * 1024, "RSS grew by $growth KiB over 1,000 open/close cycles")
    }
}
