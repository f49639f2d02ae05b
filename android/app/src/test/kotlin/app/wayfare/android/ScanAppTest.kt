package app.wayfare.android

import android.Manifest
import android.app.Activity
import android.graphics.Bitmap
import android.graphics.Color
import app.wayfare.android.ui.GuardiansActivity
import app.wayfare.android.ui.QrDecode
import app.wayfare.android.ui.QrImage
import app.wayfare.android.ui.ScanActivity
import app.wayfare.core.GuardianScope
import app.wayfare.core.RiderName
import app.wayfare.core.Wallet
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf

/**
 * Scanning a guardian invitation's QR code: the QR image the app draws for
 * a real invitation is decoded with ZXing (as a bitmap and as a camera's
 * padded luminance plane), the scanner screen asks for the camera, and the
 * payload it returns is accepted by the guardian screen against the real
 * server. Robolectric has no camera frames: the camera2 capture itself is
 * not run here.
 */
@RunWith(RobolectricTestRunner::class)
class ScanAppTest : AppTest() {
    private var rider: Wallet? = null

    private fun riderInvitation(): String {
        val w = otherPhone("Mia").also { rider = it }
        return runBlocking { w.guardians().createInvitation(GuardianScope.TRANSIT_ONLY, RiderName.Nickname("Mia"), null).qrPayload }
    }

    /** The bitmap's luminance as a camera's Y plane, each row padded to `rowStride` bytes. */
    private fun luminance(bitmap: Bitmap, rowStride: Int): ByteArray {
        val bytes = ByteArray(rowStride * bitmap.height)
        for (y in 0 until bitmap.height) for (x in 0 until bitmap.width) {
            val c = bitmap.getPixel(x, y)
            bytes[y * rowStride + x] = ((Color.red(c) * 299 + Color.green(c) * 587 + Color.blue(c) * 114) / 1000).toByte()
        }
        return bytes
    }

    @Test
    fun `the QR code the app draws for an invitation decodes to its payload, as a bitmap and as a camera plane`() {
        val payload = riderInvitation()
        val drawn = QrImage.bitmap(payload)
        assertEquals(payload, QrDecode.decode(drawn))
        assertEquals(payload, QrDecode.decodeLuminance(luminance(drawn, drawn.width + 64), drawn.width, drawn.height, drawn.width + 64))
        val blank = Bitmap.createBitmap(200, 200, Bitmap.Config.ARGB_8888).apply { eraseColor(Color.WHITE) }
        assertNull(QrDecode.decode(blank))
    }

    /**
     * Payloads whose codes ZXing's plain reader cannot read, clean as they
     * are: a data run looks like a finder pattern (about 1 in 100 random
     * invitations; CI met one). Each must still be read, from a bitmap and
     * from a camera plane.
     */
    @Test
    fun `codes whose data looks like a finder pattern are still read`() {
        for (secret in listOf(
            "f3f56b0c8b50b6857ed19116d041468ddc302ea2bf13317a5b42cccc5b6359e3",
            "75d9dd22bdc5d8d9e1ee7eb4606a9fb64c52e6c010343ac51b9e8762dfdecca3",
            "5126bd8e62995a662ef107237a088b6124ef0ba6359dd1738e42ba9091d9a8e6",
        )) {
            val payload = "wayfare:guardian-invite:v2:$secret"
            val drawn = QrImage.bitmap(payload)
            assertEquals(payload, QrDecode.decode(drawn))
            assertEquals(payload, QrDecode.decodeLuminance(luminance(drawn, drawn.width), drawn.width, drawn.height))
        }
    }

    @Test
    fun `a guardian scans a rider's invitation and is bound to her`() {
        register("Grandma")
        val payload = riderInvitation()
        val screen = Robolectric.buildActivity(GuardiansActivity::class.java).setup().get()
        screen.waitForText("as_guardian_none")
        screen.click("accept_scan")
        val asked = shadowOf(screen).peekNextStartedActivityForResult()
        assertEquals(ScanActivity::class.java.name, asked.intent.component?.className)

        // The scanner asks for the camera; refused, it says to type the code instead.
        val scanner = Robolectric.buildActivity(ScanActivity::class.java, asked.intent).setup().get()
        assertEquals("Scan a guardian invitation", scanner.textOf("title"))
        val camera = shadowOf(scanner).lastRequestedPermission
        assertEquals(listOf(Manifest.permission.CAMERA), camera.requestedPermissions.toList())
        scanner.answerCameraRequest(granted = false)
        assertEquals("Without the camera, type the code instead.", scanner.textOf("scan_status"))
        Screenshots.capture(scanner, "47-scan-no-camera")
        // Allowed, on a phone without a camera (Robolectric's CameraManager lists none): the same advice.
        scanner.answerCameraRequest(granted = true)
        assertEquals("No camera can be used on this phone: type the code instead.", scanner.textOf("scan_status"))

        // What the camera would read: the QR image the rider's phone shows, decoded.
        val read = QrDecode.decode(QrImage.bitmap(payload))!!
        // As Android hands the scanner's result back (Activity.onActivityResult).
        screen.scanned(asked, read)
        waitUntil("the binding or an error") { screen.textOf("rider_0").isNotEmpty() || screen.textOf("status").isNotEmpty() }
        assertEquals("", screen.textOf("status"))
        assertTrue(screen.waitForText("rider_0").startsWith("Mia · Rides only"))
        val bound = runBlocking { rider!!.guardians().bindings(false) }
        assertEquals(1, bound.asRider.size)
    }
}
