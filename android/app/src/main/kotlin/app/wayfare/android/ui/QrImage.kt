package app.wayfare.android.ui

import android.graphics.Bitmap
import android.graphics.Color
import io.nayuki.qrcodegen.QrCode

/**
 * Draws an invitation's QR payload as a bitmap (io.nayuki:qrcodegen, pure
 * Java, so no Google library is needed), with the standard 4-module quiet
 * zone, `scale` pixels per module.
 */
object QrImage {
    fun bitmap(payload: String, scale: Int = 6): Bitmap {
        val qr = QrCode.encodeText(payload, QrCode.Ecc.MEDIUM)
        val border = 4
        val side = (qr.size + 2 * border) * scale
        val pixels = IntArray(side * side) { i ->
            val x = (i % side) / scale - border
            val y = (i / side) / scale - border
            if (x in 0 until qr.size && y in 0 until qr.size && qr.getModule(x, y)) Color.BLACK else Color.WHITE
        }
        return Bitmap.createBitmap(pixels, side, side, Bitmap.Config.ARGB_8888)
    }
}
