package app.wayfare.android

import android.net.nsd.NsdManager
import android.net.nsd.NsdServiceInfo
import android.widget.Button
import android.widget.LinearLayout
import app.wayfare.android.platform.NsdDiscovery
import app.wayfare.android.ui.NearbyActivity
import app.wayfare.android.ui.OutcomeActivity
import app.wayfare.android.ui.PaymentActivity
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import java.net.InetAddress

/**
 * Android's own discovery: the nearby screen watches through the core's
 * `watchNearby` with [NsdDiscovery] as the platform browser. Robolectric's
 * ShadowNsdManager stands in for the system's browser (the test plays the
 * network: a service found, resolved with the real till's address and
 * beacon, lost, a browse that fails); the core, server and terminals are real.
 */
@RunWith(RobolectricTestRunner::class)
class DiscoveryAppTest : AppTest() {
    private fun service(name: String) = NsdServiceInfo().apply { serviceName = name; serviceType = NsdDiscovery.SERVICE_TYPE }

    @Test
    fun `NsdManager's services reach the core's nearby list, in the core's order, and paying from it reaches the terminal`() {
        register("Ode")
        val controller = Robolectric.buildActivity(NearbyActivity::class.java).setup()
        val nearby = controller.get()
        val nsd = shadowOf(context.getSystemService(NsdManager::class.java))
        waitUntil("the NsdManager browse") { nsd.getDiscoveryListeners(NsdDiscovery.SERVICE_TYPE).orEmpty().isNotEmpty() }
        val browser = nsd.getDiscoveryListeners(NsdDiscovery.SERVICE_TYPE)!!.single()

        // Android's browser finds the café's till; the app resolves it and hands the beacon to the core.
        val kiosk = service("wayfare-till")
        browser.onServiceFound(kiosk)
        waitUntil("the resolve request") { nsd.getResolveListeners(kiosk).orEmpty().isNotEmpty() }
        nsd.getResolveListeners(kiosk)!!.single().onServiceResolved(service("wayfare-till").apply {
            host = InetAddress.getByName(system.pos.host)
            port = system.pos.port
            setAttribute("v", "1")
            setAttribute("tid", system.pos.id)
            setAttribute("name", "Corner Café")
            setAttribute("kind", "pos")
        })
        // A service of the same type that is not a Wayfare beacon is not listed.
        val stranger = service("printer")
        browser.onServiceFound(stranger)
        waitUntil("the second resolve request") { nsd.getResolveListeners(stranger).orEmpty().isNotEmpty() }
        nsd.getResolveListeners(stranger)!!.single().onServiceResolved(service("printer").apply {
            host = InetAddress.getByName("127.0.0.1"); port = 9100; setAttribute("model", "laser")
        })

        val row = "terminal_${system.pos.id}"
        assertEquals("Corner Café · ${kindName()}", nearby.waitForText(row))
        nearby.waitForText("${row}_sources") { it.contains("Wi-Fi (Android)") && it.contains("Wi-Fi (Wayfare)") }
        assertEquals("Seen by Wi-Fi (Wayfare), Wi-Fi (Android)", nearby.textOf("${row}_sources"))
        // The core's order, kept on screen (LAN-only terminals: by merchant name).
        waitUntil("the tram in the list") { nearby.view("terminal_${system.tram.id}") != null }
        val shown = (nearby.view("terminals") as LinearLayout).let { list ->
            (0 until list.childCount).map { list.getChildAt(it) }.filterIsInstance<Button>().map { it.text.toString().substringBefore(" · ") }
        }
        assertEquals(shown.sorted(), shown)
        assertTrue(shown.none { it.isEmpty() || it == "printer" })
        Screenshots.capture(nearby, "46-nearby-nsd")

        // Android loses it: only the core's own sighting remains.
        browser.onServiceLost(service("wayfare-till"))
        assertEquals("Seen by Wi-Fi (Wayfare)", nearby.waitForText("${row}_sources") { !it.contains("Android") })

        // Paying from the merged list connects to the till named there.
        system.ringSale(700, "Cookie")
        nearby.click(row)
        val sheet = nearby.next(PaymentActivity::class.java).get()
        assertEquals("¥7.00", sheet.waitForText("amount"))
        assertEquals("Corner Café", sheet.textOf("merchant"))
        sheet.click("decline")
        assertEquals("You declined. Nothing was paid.", sheet.next(OutcomeActivity::class.java).get().textOf("outcome_body"))

        // A browse the system cannot start is said once on the screen; leaving the screen stops Android's browse.
        browser.onStartDiscoveryFailed(NsdDiscovery.SERVICE_TYPE, NsdManager.FAILURE_INTERNAL_ERROR)
        assertEquals("Wi-Fi (Android) is unavailable: NsdManager could not start browsing (error 0)",
            nearby.waitForText("sources_unavailable"))
        controller.pause()
        assertTrue(nsd.getDiscoveryListeners(NsdDiscovery.SERVICE_TYPE).orEmpty().isEmpty())
    }

    private fun kindName() = app.wayfare.android.ui.Texts.English.kindName(app.wayfare.core.TerminalKind.POS)
}
