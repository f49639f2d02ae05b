package app.wayfare.android

import android.app.Activity
import android.content.Intent
import android.graphics.Bitmap
import android.graphics.Canvas
import android.os.Looper
import android.view.View
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import app.wayfare.android.platform.SealingKeys
import org.robolectric.Robolectric
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ActivityController
import java.io.File
import java.io.FileOutputStream
import java.security.KeyStore
import java.time.Duration
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/** Runs the main looper (where the app's coroutines resume) until `done` holds. */
fun waitUntil(what: String, timeoutMs: Long = 60_000, done: () -> Boolean) {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (true) {
        shadowOf(Looper.getMainLooper()).idle()
        if (done()) return
        check(System.currentTimeMillis() < deadline) { "timed out waiting for $what" }
        Thread.sleep(15)
    }
}

/** The person allowed notifications (Android 13+ runtime permission; Robolectric starts without it). */
fun allowNotifications() {
    shadowOf(org.robolectric.RuntimeEnvironment.getApplication()).grantPermissions(android.Manifest.permission.POST_NOTIFICATIONS)
}

/**
 * Runs a suspending call on another thread while the main looper keeps
 * running: a screen's coroutine may hold what the call waits for (the
 * event drain's lock) and can only go on through the main thread.
 */
fun <T> offMain(what: String, block: suspend () -> T): T {
    val result = java.util.concurrent.atomic.AtomicReference<Result<T>?>(null)
    Thread { result.set(runCatching { kotlinx.coroutines.runBlocking { block() } }) }.apply { isDaemon = true; start() }
    waitUntil(what) { result.get() != null }
    return result.get()!!.getOrThrow()
}

fun Activity.view(tag: String): View? = window.decorView.findViewWithTag(tag)

/** The text a person sees in the view tagged `tag` ("" when it is not there). */
fun Activity.textOf(tag: String): String = (view(tag) as? TextView)?.text?.toString() ?: ""

/** Waits until the view tagged `tag` shows text matching `expected`, and returns it. */
fun Activity.waitForText(tag: String, timeoutMs: Long = 60_000, expected: (String) -> Boolean = { it.isNotEmpty() }): String {
    waitUntil("'$tag' on ${javaClass.simpleName} (now '${textOf(tag)}')", timeoutMs) { expected(textOf(tag)) }
    return textOf(tag)
}

fun Activity.click(tag: String) {
    val button = view(tag) as? Button ?: error("no button '$tag' on ${javaClass.simpleName}")
    check(button.isEnabled) { "button '$tag' is disabled" }
    check(button.performClick()) { "button '$tag' did not handle the click" }
    shadowOf(Looper.getMainLooper()).idle()
}

fun Activity.type(tag: String, text: String) {
    (view(tag) as? EditText ?: error("no field '$tag' on ${javaClass.simpleName}")).setText(text)
}

/** The scanner's answer to the system's CAMERA request, as the person gives it (allowed: the app then holds it). */
fun Activity.answerCameraRequest(granted: Boolean) {
    val asked = shadowOf(this).lastRequestedPermission ?: error("${javaClass.simpleName} asked for no permission")
    if (granted) shadowOf(org.robolectric.RuntimeEnvironment.getApplication()).grantPermissions(android.Manifest.permission.CAMERA)
    onRequestPermissionsResult(asked.requestCode, asked.requestedPermissions,
        intArrayOf(if (granted) android.content.pm.PackageManager.PERMISSION_GRANTED else android.content.pm.PackageManager.PERMISSION_DENIED))
}

/** Hands `payload` back as the scanner's result for the request this screen started, as Android does. */
fun Activity.scanned(asked: org.robolectric.shadows.ShadowActivity.IntentForResult, payload: String) {
    shadowOf(this).receiveResult(asked.intent, Activity.RESULT_OK,
        Intent().putExtra(app.wayfare.android.ui.ScanActivity.EXTRA_PAYLOAD, payload))
}

private const val REQUEST_PERMISSIONS = "android.content.pm.action.REQUEST_PERMISSIONS"

/** Waits for the Activity `from` starts next and brings it up with that Intent. */
fun <T : Activity> Activity.next(type: Class<T>, timeoutMs: Long = 60_000): ActivityController<T> {
    var started: Intent? = null
    waitUntil("${javaClass.simpleName} to start ${type.simpleName}", timeoutMs) {
        // The system's permission dialog (Activity.requestPermissions starts it) is not a screen of the app.
        while (started == null) {
            val intent = shadowOf(this).nextStartedActivity ?: break
            if (intent.action != REQUEST_PERMISSIONS) started = intent
        }
        started != null
    }
    val intent = started!!
    check(intent.component?.className == type.name) { "expected ${type.name}, started ${intent.component}" }
    return Robolectric.buildActivity(type, intent).setup()
}

/** Screenshots of every screen (Robolectric's native graphics), under target/screenshots. */
object Screenshots {
    private val dir = File(System.getProperty("wayfare.screenshots.dir") ?: "target/screenshots")

    /** Renders the screen from its top or, with `showTag`, scrolled so that view is at the top. */
    fun capture(activity: Activity, name: String, showTag: String? = null): File {
        shadowOf(Looper.getMainLooper()).idleFor(Duration.ofMillis(50))
        val root = activity.window.decorView
        val metrics = activity.resources.displayMetrics
        if (root.width == 0 || root.height == 0 || root.isLayoutRequested) {
            root.measure(
                View.MeasureSpec.makeMeasureSpec(metrics.widthPixels, View.MeasureSpec.EXACTLY),
                View.MeasureSpec.makeMeasureSpec(metrics.heightPixels, View.MeasureSpec.EXACTLY),
            )
            root.layout(0, 0, metrics.widthPixels, metrics.heightPixels)
        }
        // After the layout, which scrolls to the focused field: from the top of the screen, or from the named row.
        (activity.findViewById<android.view.ViewGroup>(android.R.id.content)?.getChildAt(0) as? android.widget.ScrollView)?.let { scroll ->
            var y = 0
            var v: View? = showTag?.let { activity.view(it) }
            while (v != null && v !== scroll) { y += v.top; v = v.parent as? View }
            scroll.scrollTo(0, if (v === scroll) y else 0)
        }
        val bitmap = Bitmap.createBitmap(root.width, root.height, Bitmap.Config.ARGB_8888)
        root.draw(Canvas(bitmap))
        dir.mkdirs()
        val file = File(dir, "$name.png")
        FileOutputStream(file).use { check(bitmap.compress(Bitmap.CompressFormat.PNG, 100, it)) { "PNG encoding failed" } }
        println("screenshot: ${file.absolutePath}")
        return file
    }
}

/**
 * The sealing key in a JCE key store (PKCS12, file-backed like the Android
 * Keystore's own storage, so it survives an app restart), for a JVM where the
 * "AndroidKeyStore" provider does not exist. The seal/unseal code under test
 * is the app's KeystoreSealer, unchanged. Counts key uses.
 */
class JceSealingKeys(private val file: File, private val alias: String = "wayfare-device-seal") : SealingKeys {
    val uses = AtomicInteger()
    override val cipherProvider: String? = null
    private val password = "test-only".toCharArray()

    @Synchronized
    override fun key(): SecretKey {
        uses.incrementAndGet()
        val store = KeyStore.getInstance("PKCS12")
        if (file.exists()) file.inputStream().use { store.load(it, password) } else store.load(null, password)
        (store.getKey(alias, password) as? SecretKey)?.let { return it }
        val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        store.setEntry(alias, KeyStore.SecretKeyEntry(key), KeyStore.PasswordProtection(password))
        file.parentFile.mkdirs()
        file.outputStream().use { store.store(it, password) }
        return key
    }
}
