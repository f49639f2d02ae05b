package app.wayfare.android

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * A real wayfare-server (with the sandbox over-the-air top-up provider) and
 * three real wayfare-terminals on loopback, started
 * once for the test JVM (the one Robolectric sandbox keeps this object) and
 * stopped when it exits: a café's POS terminal (sales rung through its
 * control interface, as the cashier's till does) and a tram's on-board
 * reader (a flat ¥2.00 fare on line T1 at Central, from A towards B) and a
 * station's cash top-up kiosk (cash entered through its control interface,
 * as the cashier's till does).
 * Binaries come from -Dwayfare.bin.dir, as in tests/kotlin.
 *
 * Started lazily from a test, not in a static initializer: the output
 * readers' lambdas are methods of this class and would wait for its
 * initialisation to finish.
 */
val system: LocalSystem by lazy { LocalSystem() }

class LocalSystem internal constructor() {
    private val binDir = File(System.getProperty("wayfare.bin.dir") ?: "../../target/debug")
    private val root: File = Files.createTempDirectory("wayfare-android-").toFile()
    private val procs = mutableListOf<Process>()
    private val terminals = java.util.concurrent.atomic.AtomicInteger()
    private val http = HttpClient.newHttpClient()
    private val serverDir = File(root, "server")

    /**
     * The server's SQLite database (its default, DATA_DIR/wayfare.db), for
     * what no route shows: the push token a device registered (the server
     * has no read route for tokens).
     */
    val database: File get() = File(serverDir, "wayfare.db")
    val baseUrl: String
    private val adminToken: String
    val pos: Terminal
    val tram: Terminal
    val kiosk: Terminal

    /**
     * A station's entry gate doing tap-in/tap-out (distance fares by
     * station, charged at the exit): started on first use, so that a
     * problem with it fails only the test that taps there.
     */
    val gate: Terminal by lazy {
        terminal("Metro T1", "gate", "--tap-role", "entry", "--line", "T1", "--vehicle", "Central gate",
            "--station", "Central", "--station-index", "4", "--direction-from", "A", "--direction-towards", "B") { toml ->
            toml.replace(Regex("(?s)\\[mode\\].*?(?=\\n\\[linkage\\])"), TAP_MODE)
        }
    }

    /**
     * The same line's exit gate at Harbour (station 7), of the same operator
     * as [gate] (an exit honours only its own operator's tap-in tokens):
     * Central (4) → Harbour is 3 stations, ¥3.00 in the fare table.
     */
    val exitGate: Terminal by lazy {
        terminal("Metro T1", "gate", "--tap-role", "exit", "--line", "T1", "--vehicle", "Harbour gate",
            "--station", "Harbour", "--station-index", "7", "--direction-from", "A", "--direction-towards", "B",
            merchantId = gate.merchantId) { toml ->
            toml.replace(Regex("(?s)\\[mode\\].*?(?=\\n\\[linkage\\])"), TAP_MODE
                .replace("role = \"entry\"", "role = \"exit\"").replace("Central gate", "Harbour gate")
                .replace("station = \"Central\"", "station = \"Harbour\"").replace("station_index = 4", "station_index = 7"))
        }
    }

    /**
     * A tea shop's POS (a merchant of its own, so that the points rate a
     * test sets there changes no other test's sheet): started on first use.
     */
    val pointsShop: Terminal by lazy { terminal("Tea Garden", "pos") }

    /** A running terminal: its id and merchant, where phones connect, and its control interface. */
    class Terminal(val id: String, val merchantId: String, val host: String, val port: Int, val controlUrl: String, val controlToken: String)

    init {
        Runtime.getRuntime().addShutdownHook(Thread { stop() })
        val config = File(root, "server.toml").apply {
            writeText("[[funding.providers]]\nid = \"sandbox\"\nkind = \"sandbox\"\ndisplay_name = \"Sandbox\"\ncurrencies = [\"CNY\"]\n")
        }
        val server = spawn(listOf(File(binDir, "wayfare-server").path, "--data-dir", serverDir.path, "--listen", "127.0.0.1:0",
            "--config", config.path))
        baseUrl = server.lineContaining("listening on").substringAfter("listening on").trim()
        adminToken = File(serverDir, "admin-token").readText().trim()
        pos = terminal("Corner Café", "pos")
        tram = terminal("Tram Line T1", "tram", "--fare-minor", "200", "--line", "T1", "--station", "Central",
            "--direction-from", "A", "--direction-towards", "B")
        // `enroll` writes a fare mode for every kind but POS; a kiosk's mode is its own.
        kiosk = terminal("Central Station", "top_up", "--station", "Central") { toml ->
            toml.replace(Regex("(?s)\\[mode\\].*?(?=\\n\\[linkage\\])"), "[mode]\nkind = \"top_up\"\ncurrency = \"CNY\"\n")
        }
    }

    private fun terminal(merchant: String, kind: String, vararg extra: String, merchantId: String? = null,
                         edit: (String) -> String = { it }): Terminal {
        val merchantId = merchantId
            ?: field(admin("POST", "/v1/merchants", """{"name":"$merchant","currency":"CNY"}"""), "merchant_id")
        val dir = File(root, "terminal-$kind-${terminals.incrementAndGet()}")
        val enroll = ProcessBuilder(
            listOf(File(binDir, "wayfare-terminal").path, "enroll", "--server-url", baseUrl,
                "--admin-token-file", File(serverDir, "admin-token").path, "--merchant-id", merchantId,
                "--kind", kind, "--currency", "CNY", "--data-dir", dir.path) + extra,
        ).redirectErrorStream(true).start()
        val out = enroll.inputStream.bufferedReader().readText()
        check(enroll.waitFor(60, TimeUnit.SECONDS) && enroll.exitValue() == 0) { "enroll failed: $out" }
        val id = out.substringAfter("enrolled terminal").substringBefore(";").trim()
        File(dir, "terminal.toml").let { it.writeText(edit(it.readText())) }
        val running = spawn(listOf(File(binDir, "wayfare-terminal").path, "--config", File(dir, "terminal.toml").path))
        // "terminal T listening for phones on 127.0.0.1:P, control interface on http://127.0.0.1:C"
        val line = running.lineContaining("listening for phones on")
        val phoneAddr = line.substringAfter("listening for phones on").substringBefore(",").trim()
        val controlUrl = line.substringAfter("control interface on").trim()
        val tokenPath = running.lineContaining("control interface token").substringAfter(" in ").trim()
        return Terminal(id, merchantId, phoneAddr.substringBeforeLast(":"), phoneAddr.substringAfterLast(":").toInt(),
            controlUrl, File(tokenPath).readText().trim())
    }

    class Child(private val lines: LinkedBlockingQueue<String>) {
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
        synchronized(procs) { procs.add(proc) }
        val lines = LinkedBlockingQueue<String>()
        Thread { proc.inputStream.bufferedReader().forEachLine { lines.add(it) } }.apply { isDaemon = true; start() }
        return Child(lines)
    }

    private fun send(request: HttpRequest.Builder, method: String, body: String?): Pair<Int, String> {
        val built = request.method(method, body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody()).build()
        val answer = http.send(built, HttpResponse.BodyHandlers.ofString())
        return answer.statusCode() to answer.body()
    }

    fun admin(method: String, path: String, body: String): String {
        val (status, text) = send(HttpRequest.newBuilder(URI.create(baseUrl + path))
            .header("authorization", "Bearer $adminToken")
            .header("content-type", "application/json"), method, body)
        check(status in 200..299) { "$method $path: $status $text" }
        return text
    }

    /** A merchant with no terminal (one a person can own or staff); returns its id. */
    fun merchant(name: String): String =
        field(admin("POST", "/v1/merchants", """{"name":"$name","currency":"CNY"}"""), "merchant_id")

    /** The operator makes `accountId` an owner of `merchantId` (prompts in English). */
    fun makeOwner(merchantId: String, accountId: String) {
        admin("POST", "/v1/merchants/$merchantId/owner", """{"account_id":"$accountId","locale":"en"}""")
    }

    fun topUp(accountId: String, amountMinor: Long) {
        admin("POST", "/v1/sandbox/top-ups", """{"account_id":"$accountId","amount_minor":$amountMinor,"currency":"CNY"}""")
    }

    /** The operator sets what one point pays at `merchantId` and the largest share of a payment points may pay. */
    fun setPointsRate(merchantId: String, minorPerPoint: Long, maxShareBps: Int) {
        admin("PUT", "/v1/admin/merchants/$merchantId/points-rate", """{"minor_per_point":$minorPerPoint,"max_share_bps":$maxShareBps}""")
    }

    /** The cashier rings up a sale on a POS terminal (its control interface; the café's unless `at`); returns the order id. */
    fun ringSale(amountMinor: Long, description: String, at: Terminal = pos): String {
        val (status, text) = send(HttpRequest.newBuilder(URI.create(at.controlUrl + "/sales"))
            .header("authorization", "Bearer ${at.controlToken}")
            .header("content-type", "application/json"),
            "POST", """{"amount_minor":$amountMinor,"description":"$description"}""")
        check(status == 201) { "POST /sales: $status $text" }
        return field(text, "order_id")
    }

    /** The cashier takes cash at the kiosk (its control interface); returns the order id. */
    fun takeCash(amountMinor: Long): String {
        val (status, text) = send(HttpRequest.newBuilder(URI.create(kiosk.controlUrl + "/top-ups"))
            .header("authorization", "Bearer ${kiosk.controlToken}")
            .header("content-type", "application/json"),
            "POST", """{"amount_minor":$amountMinor}""")
        check(status in 200..299) { "POST /top-ups: $status $text" }
        return field(text, "order_id")
    }

    /** The sale's outcome as the POS terminal reports it (JSON). */
    fun sale(orderId: String): String {
        val (status, text) = send(HttpRequest.newBuilder(URI.create(pos.controlUrl + "/sales/$orderId"))
            .header("authorization", "Bearer ${pos.controlToken}"), "GET", null)
        check(status == 200) { "GET /sales/$orderId: $status $text" }
        return text
    }

    private companion object {
        const val TAP_MODE = """[mode]
kind = "tap_in_out"
role = "entry"
currency = "CNY"
line = "T1"
vehicle = "Central gate"
direction_from = "A"
direction_towards = "B"
station = "Central"
station_index = 4

[mode.fare_table]
by = "stations"
maximum_minor = 500
bands = [{ up_to = 2, fare_minor = 200 }, { up_to = 5, fare_minor = 300 }]
"""
    }

    private fun stop() {
        synchronized(procs) {
            procs.forEach { it.destroy() }
            procs.forEach { if (!it.waitFor(10, TimeUnit.SECONDS)) it.destroyForcibly() }
        }
        root.deleteRecursively()
    }

    private fun field(json: String, name: String): String =
        Regex("\"$name\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1) ?: error("no $name in $json")
}
