package app.wayfare.android.push

import android.content.Context
import android.util.Log
import app.wayfare.android.ServerUrlException
import app.wayfare.android.Wayfare
import app.wayfare.android.notify.EventDrainJob
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.notify.NotificationAccess
import app.wayfare.android.ui.DeviceTexts
import app.wayfare.core.PushPlatform
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout

/**
 * Push to a closed app (decision 0019) on the app's side, without the
 * Firebase SDK: `WayfareMessagingService` (src/firebase, compiled by the
 * Gradle build only) hands over what Firebase Cloud Messaging gives it.
 *
 * - The token: kept in SharedPreferences, then registered with the control
 *   center through the core (`registerPushToken`, [PushPlatform.FCM], the
 *   phone's language). What the control center holds is recorded beside
 *   it, so a token handed over while offline, before registration or
 *   before notifications were allowed is sent by the next [sync] (the home
 *   screen and [EventDrainJob] call it), and removed (`removePushToken`)
 *   while the person has notifications turned off: the push could not be
 *   shown anyway.
 * - A push: only "look" (an id, a kind, a short text). [onMessage] runs the
 *   event drain, so what is shown comes from the core's queue, fetched over
 *   the signed API; the push's own text is shown only when the wallet
 *   cannot be reached.
 */
object PushRegistration {
    private const val PREFS = "wayfare.push"
    /** The newest token FCM handed over. */
    private const val TOKEN = "token"
    /** What the control center holds for this device ("locale token"), absent when it holds nothing of ours. */
    private const val REGISTERED = "registered"
    private const val TAG = "Wayfare/push"
    /** FCM gives onMessageReceived about 20 s; the drain gets most of it, the fallback the rest. */
    private const val MESSAGE_BUDGET_MS = 15_000L

    private val lock = Mutex()

    /**
     * Firebase handed this app a token (first start, or a refresh): kept,
     * then registered if that can be done now. Returns true when the
     * control center has it; false leaves it pending for the next [sync].
     */
    suspend fun onNewToken(context: Context, token: String): Boolean {
        prefs(context).edit().putString(TOKEN, token.trim()).commit()
        val wallet = try {
            Wayfare.wallet(context)
        } catch (e: WalletException) {
            Log.i(TAG, "push token kept for later: the wallet cannot be opened (${e.javaClass.simpleName})")
            return false
        } catch (e: ServerUrlException) {
            Log.i(TAG, "push token kept for later: ${e.problem}")
            return false
        }
        return sync(context, wallet)
    }

    /**
     * Makes the control center hold what this phone wants: the token in
     * the phone's language while notifications are allowed, nothing while
     * they are not. Returns true when it does (or there is no token); a
     * failure (offline, not registered yet) is logged and left pending.
     * Runs off the main thread: the lock is never held by a continuation
     * waiting for a screen's main looper (a screen closed mid-way would
     * otherwise keep it).
     */
    suspend fun sync(context: Context, wallet: Wallet): Boolean = withContext(Dispatchers.Default) { syncLocked(context, wallet) }

    private suspend fun syncLocked(context: Context, wallet: Wallet): Boolean = lock.withLock {
        val prefs = prefs(context)
        val token = prefs.getString(TOKEN, null) ?: return@withLock true
        val wanted = if (NotificationAccess.allowed(context)) "${locale(context)} $token" else null
        val held = prefs.getString(REGISTERED, null)
        if (wanted == held) return@withLock true
        try {
            if (!wallet.account().isRegistered()) return@withLock false
            if (wanted != null) {
                wallet.account().registerPushToken(PushPlatform.FCM, token, locale(context))
            } else {
                wallet.account().removePushToken()
            }
            prefs.edit().putString(REGISTERED, wanted).commit()
            true
        } catch (e: WalletException) {
            // Never the token in the log; sent again at the next start or drain.
            Log.i(TAG, "push token not ${if (wanted != null) "registered" else "removed"} yet (${e.javaClass.simpleName})")
            false
        }
    }

    /** True while the control center does not hold what [sync] would send (a token kept for later). */
    fun pending(context: Context): Boolean {
        val prefs = prefs(context)
        val token = prefs.getString(TOKEN, null) ?: return false
        val wanted = if (NotificationAccess.allowed(context)) "${locale(context)} $token" else null
        return wanted != prefs.getString(REGISTERED, null)
    }

    /**
     * A push arrived (`data`: the message's `id` and `kind`, and the
     * notification's `title` and `body` when it had one). Runs the drain
     * [EventDrainJob] runs, so the notification is posted from the core's
     * event queue; only when the wallet cannot be reached in time is the
     * push's own text shown instead (replaced by the real one once drained).
     */
    suspend fun onMessage(context: Context, data: Map<String, String>) {
        val why = try {
            withTimeout(MESSAGE_BUDGET_MS) { EventDrainJob.drainOnce(context) }
            return
        } catch (e: WalletException) {
            e.javaClass.simpleName
        } catch (e: ServerUrlException) {
            e.problem.name
        } catch (e: TimeoutCancellationException) {
            "timeout"
        }
        val id = data["id"] ?: return // nothing of its own to show (Firebase dropped held pushes)
        Log.i(TAG, "push shown from its own text: the wallet could not be reached ($why)")
        val texts = DeviceTexts.of(context)
        EventNotifier.postPushFallback(context, data["kind"], id,
            data["title"]?.takeIf { it.isNotBlank() } ?: texts.pushFallbackTitle,
            data["body"]?.takeIf { it.isNotBlank() } ?: texts.pushFallbackBody)
    }

    /** The phone's language tag (the core reduces it to the control center's en or zh). */
    private fun locale(context: Context): String = context.resources.configuration.locales[0].toLanguageTag()

    private fun prefs(context: Context) = context.applicationContext.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
}
