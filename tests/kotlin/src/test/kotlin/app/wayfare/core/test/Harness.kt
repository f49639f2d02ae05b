package app.wayfare.core.test

import app.wayfare.core.GuardianAlert
import app.wayfare.core.KeyStore
import app.wayfare.core.KeyStoreException
import app.wayfare.core.MdnsScope
import app.wayfare.core.PaymentFailure
import app.wayfare.core.PaymentOutcome
import app.wayfare.core.PaymentRequestInfo
import app.wayfare.core.DiscoveredTerminal
import app.wayfare.core.Wallet
import app.wayfare.core.WalletConfig
import app.wayfare.core.WalletEventListener
import app.wayfare.core.WalletListener
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.security.SecureRandom
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec

/** A key store written in Kotlin (AES-GCM from the JDK), standing in for the Android Keystore. */
class KotlinKeyStore(val key: ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }) : KeyStore {
    @Volatile var sealed = 0
    @Volatile var unsealed = 0

    override fun seal(plaintext: ByteArray): ByteArray {
        sealed++
        val nonce = ByteArray(12).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, nonce))
        return nonce + cipher.doFinal(plaintext)
    }

    override fun unseal(sealed: ByteArray): ByteArray {
        unsealed++
        if (sealed.size < 28) throw KeyStoreException.Rejected("sealed data is too short")
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, sealed.copyOfRange(0, 12)))
        return try {
            cipher.doFinal(sealed.copyOfRange(12, sealed.size))
        } catch (e: javax.crypto.AEADBadTagException) {
            throw KeyStoreException.Rejected("authentication failed")
        }
    }
}

/** Records wallet listener calls (they come from core threads). */
class Recorder : WalletListener {
    val requests = CopyOnWriteArrayList<PaymentRequestInfo>()
    val completed = CopyOnWriteArrayList<PaymentOutcome>()
    val failed = CopyOnWriteArrayList<PaymentFailure>()
    override fun onPaymentRequest(request: PaymentRequestInfo) { requests.add(request) }
    override fun onPaymentCompleted(outcome: PaymentOutcome) { completed.add(outcome) }
    override fun onPaymentFailed(failure: PaymentFailure) { failed.add(failure) }
    val alerts = CopyOnWriteArrayList<GuardianAlert>()
    override fun onGuardianAlert(alert: GuardianAlert) { alerts.add(alert) }
}

/** Records event-queue nudges. */
class Nudges : WalletEventListener {
    val latch = CountDownLatch(1)
    override fun onEventsAvailable(pending: UInt) { latch.countDown() }
}

/** A wayfare-server and an enrolled tram wayfare-terminal, as processes on loopback. */
class LocalSystem : AutoCloseable {
    private val binDir = File(System.getProperty("wayfare.bin.dir") ?: "../../target/debug")
    val root: File = Files.createTempDirectory("wayfare-kt-").toFile()
    private val procs = mutableListOf<Process>()
    private val http = HttpClient.newHttpClient()
    val baseUrl: String
    val terminalId: String
    /** The tram merchant the terminal is enrolled for. */
    val merchantId: String
    private val adminToken: String
    private var walletN = 0

    init {
        val serverDir = File(root, "server")
        val server = spawn(listOf(File(binDir, "wayfare-server").path, "--data-dir", serverDir.path, "--listen", "127.0.0.1:0"))
        baseUrl = server.lineContaining("listening on").substringAfter("listening on").trim()
        adminToken = File(serverDir, "admin-token").readText().trim()
        merchantId = field(admin("POST", "/v1/merchants", """{"name":"Tram Line T1","currency":"CNY"}"""), "merchant_id")
        val terminalDir = File(root, "terminal")
        val enroll = ProcessBuilder(
            File(binDir, "wayfare-terminal").path, "enroll", "--server-url", baseUrl,
            "--admin-token-file", File(serverDir, "admin-token").path, "--merchant-id", merchantId,
            "--kind", "tram", "--currency", "CNY", "--fare-minor", "200", "--line", "T1",
            "--data-dir", terminalDir.path,
        ).redirectErrorStream(true).start()
        val out = enroll.inputStream.bufferedReader().readText()
        check(enroll.waitFor(60, TimeUnit.SECONDS) && enroll.exitValue() == 0) { "enroll failed: $out" }
        terminalId = out.substringAfter("enrolled terminal").substringBefore(";").trim()
        spawn(listOf(File(binDir, "wayfare-terminal").path, "--config", File(terminalDir, "terminal.toml").path))
            .lineContaining("listening for phones on")
    }

    inner class Child(private val lines: LinkedBlockingQueue<String>) {
        fun lineContaining(text: String): String {
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
            while (true) {
                val left = deadline - System.nanoTime()
                check(left > 0) { "no line containing '$text'" }
                val line = lines.poll(left, TimeUnit.NANOSECONDS) ?: continue
                if (line.contains(text)) return line
            }
        }
    }

    private fun spawn(argv: List<String>): Child {
        val pb = ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.DISCARD)
        pb.environment()["RUST_LOG"] = "warn"
        val proc = pb.start()
        procs.add(proc)
        val lines = LinkedBlockingQueue<String>()
        Thread {
            proc.inputStream.bufferedReader().forEachLine { lines.add(it) }
        }.apply { isDaemon = true; start() }
        return Child(lines)
    }

    fun admin(method: String, path: String, body: String): String {
        val request = HttpRequest.newBuilder(URI.create(baseUrl + path))
            .header("authorization", "Bearer $adminToken")
            .header("content-type", "application/json")
            .method(method, HttpRequest.BodyPublishers.ofString(body))
            .build()
        val answer = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(answer.statusCode() in 200..299) { "$method $path: ${answer.statusCode()} ${answer.body()}" }
        return answer.body()
    }

    fun topUp(accountId: String, amountMinor: Long) {
        admin("POST", "/v1/sandbox/top-ups", """{"account_id":"$accountId","amount_minor":$amountMinor,"currency":"CNY"}""")
    }

    fun newWalletDir(): File = File(root, "wallet-${++walletN}")

    fun config(dir: File) = WalletConfig(
        dataDir = dir.path, serverUrl = baseUrl, operatorKey = null, receiptKey = null,
        mdnsScope = MdnsScope.LOOPBACK,
    )

    override fun close() {
        procs.forEach { it.destroy() }
        procs.forEach { if (!it.waitFor(10, TimeUnit.SECONDS)) it.destroyForcibly() }
        root.deleteRecursively()
    }

    companion object {
        fun field(json: String, name: String): String =
            Regex("\"$name\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1)
                ?: error("no $name in $json")
    }
}

/** Discovers the terminal over mDNS on loopback (others on this machine are ignored). */
suspend fun findTerminal(wallet: Wallet, terminalId: String): DiscoveredTerminal {
    repeat(10) {
        wallet.terminals().discover(1500uL).firstOrNull { it.terminalId == terminalId }?.let { return it }
    }
    error("terminal $terminalId not discovered over mDNS")
}

fun rssKib(): Long = File("/proc/self/status").readLines()
    .first { it.startsWith("VmRSS:") }.split(Regex("\\s+"))[1].toLong()
