package app.wayfare.android.ui

import android.Manifest
import android.app.Activity
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.ImageFormat
import android.graphics.SurfaceTexture
import android.hardware.camera2.CameraCaptureSession
import android.hardware.camera2.CameraCharacteristics
import android.hardware.camera2.CameraDevice
import android.hardware.camera2.CameraManager
import android.hardware.camera2.CaptureRequest
import android.media.ImageReader
import android.os.Bundle
import android.os.Handler
import android.os.HandlerThread
import android.view.Surface
import android.view.TextureView
import android.widget.LinearLayout
import android.widget.TextView

/**
 * Scans an invitation's QR code with the camera (camera2, the framework's
 * own API): a viewfinder and an `ImageReader` of YUV frames, each decoded
 * by [QrDecode] until one holds a QR code, whose text goes back to the
 * caller as [EXTRA_PAYLOAD]. Asks for the CAMERA permission first; without
 * it or without a camera the screen says to type the code instead. The
 * caller says what is scanned ([Scanned], [EXTRA_WHAT]) so that the title
 * names it: a guardian's or a merchant's staff invitation.
 */
class ScanActivity : WayfareActivity() {
    private val device: DeviceTexts by lazy { DeviceTexts.of(texts) }
    private lateinit var status: TextView
    private lateinit var viewfinder: TextureView
    private var thread: HandlerThread? = null
    private var camera: CameraDevice? = null
    private var session: CameraCaptureSession? = null
    private var reader: ImageReader? = null
    @Volatile private var done = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            val what = intent.getStringExtra(EXTRA_WHAT)?.let { name -> Scanned.values().firstOrNull { it.name == name } }
            text(device.scanTitle(what), "title", Style.Title, topGap = 0)
            status = text(device.scanHint, "scan_status", Style.Secondary)
            viewfinder = TextureView(context).apply { tag = "scan_viewfinder" }
            addView(viewfinder, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, dp(360)).apply { topMargin = dp(12) })
        })
    }

    override fun onResume() {
        super.onResume()
        if (checkSelfPermission(Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) start()
        else requestPermissions(arrayOf(Manifest.permission.CAMERA), REQUEST_CAMERA)
    }

    override fun onPause() {
        stop()
        super.onPause()
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode != REQUEST_CAMERA) return
        if (grantResults.isNotEmpty() && grantResults[0] == PackageManager.PERMISSION_GRANTED) start()
        else status.text = device.scanNoPermission
    }

    private fun start() {
        if (thread != null) return
        val manager = getSystemService(CameraManager::class.java)
        val id = manager.cameraIdList.firstOrNull {
            manager.getCameraCharacteristics(it).get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_BACK
        } ?: manager.cameraIdList.firstOrNull()
        if (id == null) {
            status.text = device.scanNoCamera
            return
        }
        val worker = HandlerThread("wayfare-scan").apply { start() }
        thread = worker
        val handler = Handler(worker.looper)
        val frames = ImageReader.newInstance(WIDTH, HEIGHT, ImageFormat.YUV_420_888, 2).also { reader = it }
        frames.setOnImageAvailableListener({ r ->
            val image = r.acquireLatestImage() ?: return@setOnImageAvailableListener
            val payload = try { QrDecode.decode(image) } finally { image.close() }
            if (payload != null && !done) {
                done = true
                runOnUiThread { found(payload) }
            }
        }, handler)
        try {
            manager.openCamera(id, object : CameraDevice.StateCallback() {
                override fun onOpened(opened: CameraDevice) {
                    camera = opened
                    whenViewfinderReady { preview -> capture(opened, listOfNotNull(preview, frames.surface), frames.surface, preview, handler) }
                }
                override fun onDisconnected(closed: CameraDevice) = closed.close()
                override fun onError(failed: CameraDevice, error: Int) {
                    failed.close()
                    runOnUiThread { status.text = device.scanNoCamera }
                }
            }, handler)
        } catch (e: SecurityException) {
            status.text = device.scanNoPermission
        }
    }

    /** The viewfinder's surface when it has one (it may come later); frames are decoded either way. */
    private fun whenViewfinderReady(then: (Surface?) -> Unit) {
        runOnUiThread {
            val texture = viewfinder.surfaceTexture
            if (texture != null) then(Surface(texture.apply { setDefaultBufferSize(WIDTH, HEIGHT) }))
            else viewfinder.surfaceTextureListener = object : TextureView.SurfaceTextureListener {
                override fun onSurfaceTextureAvailable(t: SurfaceTexture, w: Int, h: Int) = then(Surface(t.apply { setDefaultBufferSize(WIDTH, HEIGHT) }))
                override fun onSurfaceTextureSizeChanged(t: SurfaceTexture, w: Int, h: Int) {}
                override fun onSurfaceTextureDestroyed(t: SurfaceTexture) = true
                override fun onSurfaceTextureUpdated(t: SurfaceTexture) {}
            }
        }
    }

    @Suppress("DEPRECATION") // createCaptureSession(List<Surface>, …): the SessionConfiguration form is API 28+ only.
    private fun capture(opened: CameraDevice, surfaces: List<Surface>, frames: Surface, preview: Surface?, handler: Handler) {
        opened.createCaptureSession(surfaces, object : CameraCaptureSession.StateCallback() {
            override fun onConfigured(configured: CameraCaptureSession) {
                session = configured
                val request = opened.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW).apply {
                    addTarget(frames)
                    preview?.let(::addTarget)
                    set(CaptureRequest.CONTROL_AF_MODE, CaptureRequest.CONTROL_AF_MODE_CONTINUOUS_PICTURE)
                }.build()
                configured.setRepeatingRequest(request, null, handler)
            }
            override fun onConfigureFailed(failed: CameraCaptureSession) {
                runOnUiThread { status.text = device.scanNoCamera }
            }
        }, handler)
    }

    /** A QR code was read: back to the caller with its text. */
    private fun found(payload: String) {
        setResult(RESULT_OK, Intent().putExtra(EXTRA_PAYLOAD, payload))
        finish()
    }

    private fun stop() {
        session?.close(); session = null
        camera?.close(); camera = null
        reader?.close(); reader = null
        thread?.quitSafely(); thread = null
    }

    /** What a screen asks to scan; the scanner's title names it. */
    enum class Scanned { GUARDIAN_INVITATION, STAFF_INVITATION }

    companion object {
        /** The scanned text (an invitation's QR payload). */
        const val EXTRA_PAYLOAD = "scan.payload"
        /** A [Scanned] name: what the caller asks to scan. */
        const val EXTRA_WHAT = "scan.what"

        /** Opens the scanner for `what`; its payload comes back to `from.onActivityResult` with `requestCode`. */
        fun start(from: Activity, what: Scanned, requestCode: Int) {
            @Suppress("DEPRECATION") // startActivityForResult: the framework's only way without AndroidX.
            from.startActivityForResult(Intent(from, ScanActivity::class.java).putExtra(EXTRA_WHAT, what.name), requestCode)
        }

        /** The payload of the scanner's result when it answers `requestCode` with one, else null (cancelled, another request). */
        fun payload(requestCode: Int, resultCode: Int, data: Intent?, expected: Int): String? =
            data?.getStringExtra(EXTRA_PAYLOAD)?.trim()
                ?.takeIf { requestCode == expected && resultCode == Activity.RESULT_OK && it.isNotEmpty() }

        private const val REQUEST_CAMERA = 4203
        private const val WIDTH = 1280
        private const val HEIGHT = 720
    }
}
