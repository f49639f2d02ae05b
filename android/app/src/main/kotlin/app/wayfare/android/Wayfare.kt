package app.wayfare.android

import android.content.Context
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
    /** Where the wallet talks to and how it looks for terminals. */
    data class Settings(val serverUrl: String, val mdnsScope: MdnsScope)

    /**
     * The control center of a build that was not configured. TODO(issue 10):
     * the release build sets the operator's URL and pins its keys.
     */
    const val DEFAULT_SERVER_URL = "https://cc.wayfare.invalid"
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

    fun settings(context: Context): Settings {
        val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
        return Settings(
            serverUrl = prefs.getString("server_url", null) ?: DEFAULT_SERVER_URL,
            mdnsScope = MdnsScope.valueOf(prefs.getString("mdns_scope", null) ?: MdnsScope.ALL_INTERFACES.name),
        )
    }

    /** Stores the settings the next [wallet] opens with. */
    fun configure(context: Context, settings: Settings) {
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit()
            .putString("server_url", settings.serverUrl)
            .putString("mdns_scope", settings.mdnsScope.name)
            .commit()
    }

    /** The wallet's data directory (not backed up: its sealed key is bound to this phone's Keystore). */
    fun dataDir(context: Context): File = File(context.applicationContext.noBackupFilesDir, "wallet")

    /** The open wallet, opening it (and starting the core's logging) on first use. */
    suspend fun wallet(context: Context): Wallet {
        wallet?.let { return it }
        return lock.withLock {
            wallet ?: open(context.applicationContext).also { wallet = it }
        }
    }

    private suspend fun open(context: Context): Wallet {
        loadNativeLibrary()
        startLogging()
        val settings = settings(context)
        val config = WalletConfig(
            dataDir = dataDir(context).path,
            serverUrl = settings.serverUrl,
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
