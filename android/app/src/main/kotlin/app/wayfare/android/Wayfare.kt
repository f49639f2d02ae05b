package app.wayfare.android

import android.content.Context
import android.content.pm.ApplicationInfo
import android.content.pm.PackageManager
import android.net.Uri
import android.util.Log
import app.wayfare.android.platform.AndroidKeystoreKeys
import app.wayfare.android.platform.AndroidLogSink
import app.wayfare.android.platform.KeystoreSealer
import app.wayfare.android.platform.SealingKeys
import app.wayfare.core.LogLevel
import app.wayfare.core.MdnsScope
import app.wayfare.core.TerminalSession
import app.wayfare.core.Wallet
import app.wayfare.core.WalletConfig
import app.wayfare.core.WalletException
import app.wayfare.core.initLogging
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import java.io.File
import java.util.concurrent.atomic.AtomicReference

/**
 * The app's one wallet per process, shared by the Activities and the HCE
 * service. The wallet is opened on first use (on the core's runtime, never
 * on the main thread: every call here suspends) and stays open for the
 * process; [shutdown] closes it (tests use it to play an app restart).
 */
object Wayfare {
    /**
     * Where the wallet talks to and how it looks for terminals. `serverUrl`
     * is the person's (or a test's) override; null uses the build's
     * [SERVER_URL_META].
     */
    data class Settings(val serverUrl: String?, val mdnsScope: MdnsScope)

    /**
     * The manifest's `<meta-data>` naming the operator's control center, set
     * once per build (Gradle's `manifestPlaceholders`, `wayfareServerUrl`):
     * an app ships to one operator, so the URL is part of the build, not a
     * setting people type.
     */
    const val SERVER_URL_META = "app.wayfare.SERVER_URL"
    private const val PREFS = "wayfare"
    private const val TAG = "Wayfare/app"

    /**
     * Where the sealing key comes from: the Android Keystore on a phone.
     * Tests on a JVM without the Keystore's provider plug in another
     * [SealingKeys]; the seal/unseal code ([KeystoreSealer]) is the same.
     */
    @Volatile var sealingKeys: () -> SealingKeys = { AndroidKeystoreKeys() }

    private val lock = Mutex()
    @Volatile private var wallet: Wallet? = null
    @Volatile private var loggingStarted = false

    /** A session the HCE service or the nearby screen handed to the payment sheet. */
    private val handoff = AtomicReference<TerminalSession?>(null)

    /** The stored settings (the override, if any, not yet checked: see [serverUrl]). */
    fun settings(context: Context): Settings {
        val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
        return Settings(
            serverUrl = prefs.getString("server_url", null),
            mdnsScope = MdnsScope.valueOf(prefs.getString("mdns_scope", null) ?: MdnsScope.ALL_INTERFACES.name),
        )
    }

    /**
     * The control center this app talks to: the override in the settings
     * if one was set, else the build's [SERVER_URL_META]. Refused with a
     * [ServerUrlException] (shown on the screen, never a crash) when the
     * build names none, when it is not an http(s) URL, or when a build that
     * is not debuggable would talk to it without TLS.
     */
    fun serverUrl(context: Context): String {
        val info = applicationInfo(context)
        val url = settings(context).serverUrl ?: info?.metaData?.getString(SERVER_URL_META)
        // An unfilled placeholder is a build that was never configured.
        if (url.isNullOrBlank() || url.contains("\${")) throw ServerUrlException(ServerUrlException.Problem.NOT_CONFIGURED, null)
        val parsed = Uri.parse(url.trim())
        val scheme = parsed.scheme?.lowercase()
        if ((scheme != "https" && scheme != "http") || parsed.host.isNullOrEmpty()) {
            throw ServerUrlException(ServerUrlException.Problem.MALFORMED, url)
        }
        val debuggable = info != null && (info.flags and ApplicationInfo.FLAG_DEBUGGABLE) != 0
        if (scheme != "https" && !debuggable) throw ServerUrlException(ServerUrlException.Problem.NOT_HTTPS, url)
        return url.trim()
    }

    /** The app's ApplicationInfo with its manifest meta-data (null only if the system does not know the app). */
    private fun applicationInfo(context: Context): ApplicationInfo? = try {
        context.packageManager.getApplicationInfo(context.packageName, PackageManager.GET_META_DATA)
    } catch (e: PackageManager.NameNotFoundException) {
        null
    }

    /** Stores the settings the next [wallet] opens with (a null `serverUrl` removes the override). */
    fun configure(context: Context, settings: Settings) {
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit()
            .putString("server_url", settings.serverUrl)
            .putString("mdns_scope", settings.mdnsScope.name)
            .commit()
    }

    /** The wallet's data directory (not backed up: its sealed key is bound to this phone's Keystore). */
    fun dataDir(context: Context): File = File(context.applicationContext.noBackupFilesDir, "wallet")

    /**
     * The open wallet, opening it (and starting the core's logging) on first
     * use. Throws [WalletException] when the core cannot open it and
     * [ServerUrlException] when this build's control center is refused.
     */
    suspend fun wallet(context: Context): Wallet {
        wallet?.let { return it }
        return lock.withLock {
            wallet ?: open(context.applicationContext).also { wallet = it }
        }
    }

    private suspend fun open(context: Context): Wallet {
        val serverUrl = serverUrl(context)
        loadNativeLibrary()
        startLogging()
        val settings = settings(context)
        val config = WalletConfig(
            dataDir = dataDir(context).path,
            serverUrl = serverUrl,
            operatorKey = null,
            receiptKey = null,
            mdnsScope = settings.mdnsScope,
        )
        val created = Wallet(config, KeystoreSealer(sealingKeys()))
        try {
            val report = created.open()
            Log.i(TAG, "wallet open; ${report.settled.size} pending payment(s) settled, ${report.stillPending} still pending")
        } catch (e: WalletException) {
            created.destroy()
            throw e
        }
        return created
    }

    /**
     * On a phone the core must be loaded by the system first: its
     * JNI_OnLoad initialises the Bluetooth stack, which JNA's own loading
     * never calls. On a desktop JVM (the tests) the library is not on
     * java.library.path and JNA finds it through jna.library.path.
     */
    private fun loadNativeLibrary() {
        try {
            System.loadLibrary("wayfare_core")
        } catch (e: UnsatisfiedLinkError) {
            Log.i(TAG, "libwayfare_core left to JNA (${e.message})")
        }
    }

    private fun startLogging() {
        if (loggingStarted) return
        loggingStarted = true
        try {
            initLogging(LogLevel.INFO, AndroidLogSink())
        } catch (e: WalletException.InvalidInput) {
            // Already started in this process (the logger lives as long as the process).
        }
    }

    /** Closes the wallet (flushes its database); the next [wallet] opens it again. */
    suspend fun shutdown() {
        lock.withLock {
            handoff.getAndSet(null)?.let { it.cancel(); it.destroy() }
            wallet?.let {
                app.wayfare.android.notify.EventNotifier.detach(it)
                it.closeWallet()
                it.destroy()
            }
            wallet = null
        }
    }

    /** Hands a verified session to the payment sheet (one at a time; an older one is cancelled). */
    fun handOff(session: TerminalSession) {
        handoff.getAndSet(session)?.let { it.cancel(); it.destroy() }
    }

    /** Takes the session handed off last, if any. */
    fun takeHandoff(): TerminalSession? = handoff.getAndSet(null)
}

/**
 * The app will not talk to the control center it was given: a build
 * without one, an address that is not a URL, or a release build pointed at
 * plain http (payments and device keys must not cross the network
 * unencrypted). Screens show [problem] in words instead of opening the
 * wallet; nothing is retried until the app is rebuilt or the override fixed.
 */
class ServerUrlException(val problem: Problem, val url: String?) :
    Exception("control center URL refused: $problem${url?.let { " ($it)" } ?: ""}") {
    /** Why the URL was refused. */
    enum class Problem { NOT_CONFIGURED, MALFORMED, NOT_HTTPS }
}
