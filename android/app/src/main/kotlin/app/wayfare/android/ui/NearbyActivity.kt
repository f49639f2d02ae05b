package app.wayfare.android.ui

import android.content.Intent
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.text.InputType
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import app.wayfare.core.DiscoveredTerminal
import app.wayfare.core.DiscoveryHandle
import app.wayfare.core.DiscoveryListener
import app.wayfare.core.DiscoverySource
import app.wayfare.core.TerminalKind

/**
 * Terminals near the phone, found by the core's continuous mDNS browse while
 * the screen is in front (`terminals().startDiscovery`), and a form to type
 * a terminal's address in. Picking one opens the payment sheet, which
 * connects and verifies the terminal's certificate.
 *
 * TODO(issue 10): Android's own NsdManager browse and BLE/NFC sources through
 * `watchNearby`, nearest first.
 */
class NearbyActivity : WayfareActivity() {
    private lateinit var status: TextView
    private lateinit var list: LinearLayout
    private lateinit var host: EditText
    private lateinit var port: EditText
    private val found = linkedMapOf<String, DiscoveredTerminal>()
    private var discovery: DiscoveryHandle? = null
    private val main = Handler(Looper.getMainLooper())
    private var resumed = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            text(texts.nearbyTitle, "title", Style.Title, topGap = 0)
            status = text(texts.searching, "status", Style.Secondary)
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
            if (!resumed || discovery != null) return@withWallet
            val handle = wallet.terminals().startDiscovery(Listener())
            discovery = handle
            handle.error()?.let { status.text = it }
        }
    }

    override fun onPause() {
        resumed = false
        discovery?.let { it.cancel(); it.destroy() }
        discovery = null
        super.onPause()
    }

    /** Called on the core's discovery thread: hop to the main thread. */
    private inner class Listener : DiscoveryListener {
        override fun onTerminalFound(terminal: DiscoveredTerminal) {
            main.post { found[terminal.terminalId] = terminal; render() }
        }

        override fun onTerminalLost(terminalId: String) {
            main.post { found.remove(terminalId); render() }
        }
    }

    private fun render() {
        if (isDestroyed) return
        list.removeAllViews()
        status.text = if (found.isEmpty()) texts.searching else ""
        found.values.sortedBy { it.merchantName }.forEach { terminal ->
            list.button("${terminal.merchantName} · ${texts.kindName(terminal.kind)}", "terminal_${terminal.terminalId}") {
                pay(terminal)
            }
        }
    }

    private fun typedIn() {
        val address = host.text.toString().trim()
        val number = port.text.toString().trim().toIntOrNull()
        if (address.isEmpty() || number == null || number !in 1..65535) {
            status.text = texts.typeInInvalid
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
