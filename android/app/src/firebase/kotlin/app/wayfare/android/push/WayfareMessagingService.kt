package app.wayfare.android.push

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import kotlinx.coroutines.runBlocking

/**
 * Firebase Cloud Messaging's entry points, forwarded to [PushRegistration].
 * Only the Gradle build compiles this file (src/firebase, with the
 * firebase-messaging dependency from Google's Maven); the JVM build here
 * has no Firebase SDK and tests [PushRegistration] directly.
 *
 * Firebase calls both methods on a worker thread of its own and may stop
 * the process soon after they return, so they block until the work is done
 * (onMessageReceived has about 20 s; [PushRegistration.onMessage] keeps
 * within that).
 */
class WayfareMessagingService : FirebaseMessagingService() {
    /** A new registration token (first start, reinstall, refresh): the control center must have it. */
    override fun onNewToken(token: String) {
        runBlocking { PushRegistration.onNewToken(applicationContext, token) }
    }

    /**
     * A push: the control center sends data-only messages (id, kind, title
     * and short text as data), so this runs in the background too and the
     * drain posts the event from the core's queue. A notification part, if
     * a future server sent one, is taken as the text as well.
     */
    override fun onMessageReceived(message: RemoteMessage) {
        val data = buildMap {
            putAll(message.data)
            message.notification?.title?.let { put("title", it) }
            message.notification?.body?.let { put("body", it) }
        }
        runBlocking { PushRegistration.onMessage(applicationContext, data) }
    }

    /** Firebase dropped pushes it held too long: drain, the events themselves are not lost. */
    override fun onDeletedMessages() {
        runBlocking { PushRegistration.onMessage(applicationContext, emptyMap()) }
    }
}
