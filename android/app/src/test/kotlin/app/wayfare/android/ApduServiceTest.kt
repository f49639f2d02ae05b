package app.wayfare.android

import android.content.Intent
import android.nfc.cardemulation.HostApduService
import android.os.Bundle
import android.os.IMessenger
import android.os.Message
import android.os.Messenger
import app.wayfare.android.nfc.WayfareApduService
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import javax.xml.parsers.DocumentBuilderFactory

/**
 * The HCE service as Android's NFC stack drives it: command APDUs arrive as
 * messages on the service's binder (HostApduService's own message handling
 * from the real framework), the service hands them to the core's NfcCard and
 * answers later through sendResponseApdu.
 */
@RunWith(RobolectricTestRunner::class)
class ApduServiceTest : AppTest(notificationsAllowed = false) {
    @Before
    fun registeredWallet() = register("Tap")

    /** Plays the NFC service (android.nfc's side of the binder): sends APDUs, collects answers. */
    private class NfcStack(service: HostApduService) {
        val answers = CopyOnWriteArrayList<ByteArray>()
        private val toService = Messenger(service.onBind(Intent(HostApduService.SERVICE_INTERFACE)))
        // The NFC service's end is in another process on a phone: the framework
        // forwards the very Message it is dispatching, which an in-process
        // Handler would refuse ("already in use"). Take its data at once instead.
        private val fromService = Messenger(object : IMessenger.Stub() {
            override fun send(msg: Message) {
                if (msg.what == MSG_RESPONSE_APDU) answers.add(msg.data.getByteArray(KEY_DATA))
            }
        })

        fun exchange(command: ByteArray): ByteArray {
            val before = answers.size
            toService.send(Message.obtain(null, MSG_COMMAND_APDU).apply {
                data = Bundle().apply { putByteArray(KEY_DATA, command) }
                replyTo = fromService
            })
            waitUntil("an answer to ${command.hex()}", 20_000) { answers.size > before }
            return answers[before]
        }

        fun deactivate() {
            toService.send(Message.obtain(null, MSG_DEACTIVATED, HostApduService.DEACTIVATION_LINK_LOSS, 0))
        }

        companion object {
            // HostApduService's message protocol with the NFC service (hidden constants of android.nfc).
            const val MSG_COMMAND_APDU = 0
            const val MSG_RESPONSE_APDU = 1
            const val MSG_DEACTIVATED = 2
            const val KEY_DATA = "data"
        }
    }

    @Test
    fun `SELECT of Wayfare's AID is answered 90 00, another AID 6A 82`() {
        val service = Robolectric.buildService(WayfareApduService::class.java).create().get()
        val nfc = NfcStack(service)
        // The framework's handler calls processCommandApdu, which returns null;
        // the answer comes through sendResponseApdu when the core has it.
        val wayfare = nfc.exchange(select(WayfareApduService.AID))
        assertEquals("90 00", wayfare.takeLast(2).toByteArray().hex())
        val other = nfc.exchange(select("A0000000031010"))
        assertArrayEquals(byteArrayOf(0x6A, 0x82.toByte()), other)
        // Selected again after the phone left the field: a fresh session.
        nfc.exchange(select(WayfareApduService.AID))
        nfc.deactivate()
        assertEquals("90 00", nfc.exchange(select(WayfareApduService.AID)).takeLast(2).toByteArray().hex())
        service.onDestroy()
    }

    @Test
    fun `the manifest and apduservice xml register the service for Wayfare's AID`() {
        val main = File(System.getProperty("wayfare.app.src") ?: "src/main")
        val xml = DocumentBuilderFactory.newInstance().apply { isNamespaceAware = true }
        val android = "http://schemas.android.com/apk/res/android"

        val aids = xml.newDocumentBuilder().parse(File(main, "res/xml/apduservice.xml")).getElementsByTagName("aid-filter")
        assertEquals(1, aids.length)
        assertEquals(WayfareApduService.AID, (aids.item(0) as org.w3c.dom.Element).getAttributeNS(android, "name"))

        val services = xml.newDocumentBuilder().parse(File(main, "AndroidManifest.xml")).getElementsByTagName("service")
        val service = (0 until services.length).map { services.item(it) as org.w3c.dom.Element }
            .single { it.getAttributeNS(android, "name") == WayfareApduService::class.java.name }
        assertEquals("android.permission.BIND_NFC_SERVICE", service.getAttributeNS(android, "permission"))
        val text = File(main, "AndroidManifest.xml").readText()
        assertTrue(text.contains(HostApduService.SERVICE_INTERFACE))
        assertTrue(text.contains(HostApduService.SERVICE_META_DATA))
        assertTrue(text.contains("@xml/apduservice"))
    }

    private companion object {
        fun select(aid: String): ByteArray {
            val id = aid.chunked(2).map { it.toInt(16).toByte() }.toByteArray()
            return byteArrayOf(0x00, 0xA4.toByte(), 0x04, 0x00, id.size.toByte()) + id + byteArrayOf(0x00)
        }

        fun ByteArray.hex(): String = joinToString(" ") { "%02X".format(it) }
    }
}
