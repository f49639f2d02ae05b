package app.wayfare.android.ui

import android.content.Intent
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.text.InputType
import android.view.View
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import app.wayfare.android.platform.NsdDiscovery
import app.wayfare.core.DiscoveredTerminal
import app.wayfare.core.DiscoverySource
import app.wayfare.core.NearbyHandle
import app.wayfare.core.NearbyListener
import app.wayfare.core.NearbyOptions
import app.wayfare.core.NearbySource
import app.wayfare.core.NearbyTerminal
import app.wayfare.core.TerminalKind

/**
 * Terminals near the phone while the screen is in front, from every source
 * at once through the core's `terminals().watchNearby`: the core's own mDNS
 * browse, Android's `NsdManager` ([NsdDiscovery], the core's platform
 * browser) and recent NFC taps, merged by terminal and ordered nearest first
 * by the core (the list is shown in the core's order, each row saying which
 * sources see it). A form types a terminal's address in. Picking one opens
 * the payment sheet, which connects and verifies the terminal's certificate.
 * Bluetooth is not asked for (the app does not request BLUETOOTH_SCAN yet).
 */
class NearbyActivity : WayfareActivity() {
    private lateinit var status: TextView
    private lateinit var problems: TextView
    private lateinit var list: LinearLayout
    private lateinit var host: EditText
    private lateinit var port: EditText
    private val device: DeviceTexts by lazy { DeviceTexts.of(texts) }
    private var nearby: List<NearbyTerminal> = emptyList()
    private val unavailable = linkedMapOf<NearbySource, String>()
    private var watch: NearbyHandle? = null
    private val main = Handler(Looper.getMainLooper())
    private var resumed = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            text(texts.nearbyTitle, "title", Style.Title, topGap = 0)
            status = text(texts.searching, "status", Style.Secondary)
            problems = text("", "sources_unavailable", Style.Secondary, topGap = 4).apply { visibility = View.GONE }
            list = group("terminals")
            divider()
            text(texts.typeInTitle, "type_in_title", Style.Heading, topGap = 16)
            host = field(texts.hostHint, "host", InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_URI)
            port = field(texts.portHint, "port", InputType.TYPE_CLASS_NUMBER)
            button(texts.connectButton, "connect") { typedIn() }
        })
    }

    override fun onResume() {
        super.onResume()
        resumed = true
        withWallet({ problem -> status.text = problem }) { wallet ->
            if (!resumed || watch != null) return@withWallet
            val handle = wallet.terminals().watchNearby(Listener(), NsdDiscovery(this@NearbyActivity),
                NearbyOptions(mdns = true, bluetooth = false))
            watch = handle
            handle.error()?.let { status.text = it }
        }
    }

    override fun onPause() {
        resumed = false
        watch?.let { it.cancel(); it.destroy() }
        watch = null
        super.onPause()
    }

    /** Called on the watch's thread: hop to the main thread. */
    private inner class Listener : NearbyListener {
        override fun onNearbyChanged(terminals: List<NearbyTerminal>) {
            main.post { nearby = terminals; render() }
        }

        override fun onSourceUnavailable(source: NearbySource, reason: String) {
            main.post { unavailable[source] = reason; render() }
        }
    }

    private fun render() {
        if (isDestroyed) return
        list.removeAllViews()
        status.text = if (nearby.isEmpty()) texts.searching else ""
        status.visibility = if (nearby.isEmpty()) View.VISIBLE else View.GONE
        problems.text = unavailable.entries.joinToString("\n") { (source, why) -> device.sourceUnavailable(device.source(source), why) }
        problems.visibility = if (unavailable.isEmpty()) View.GONE else View.VISIBLE
        // The core's order: nearest first.
        nearby.forEach { terminal ->
            val row = "terminal_${terminal.terminalId}"
            val target = terminal.connect
            list.button("${terminal.merchantName} · ${texts.kindName(terminal.kind)}", row) {
                target?.let(::pay)
            }.isEnabled = target != null
            list.text(device.seenBy(terminal.sources.joinToString(", ") { device.source(it) }), "${row}_sources",
                Style.Secondary, topGap = 2)
        }
    }

    private fun typedIn() {
        val address = host.text.toString().trim()
        val number = port.text.toString().trim().toIntOrNull()
        if (address.isEmpty() || number == null || number !in 1..65535) {
            status.text = texts.typeInInvalid
            status.visibility = View.VISIBLE
            return
        }
        // No terminal id: the session checks the certificate against the
        // operator's key and shows the merchant it names.
        pay(DiscoveredTerminal(terminalId = "", merchantName = "", kind = TerminalKind.POS, host = address,
            port = number.toUShort(), source = DiscoverySource.MANUAL, rssi = null, bleId = null))
    }

    private fun pay(terminal: DiscoveredTerminal) {
        startActivity(PaymentActivity.intentFor(this, terminal))
    }
}
