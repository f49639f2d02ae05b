package app.wayfare.android.nfc

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.util.Log
import app.wayfare.android.Wayfare
import app.wayfare.android.notify.NotificationAccess
import app.wayfare.android.ui.DeviceTexts
import app.wayfare.android.ui.Foreground
import app.wayfare.android.ui.PaymentActivity
import app.wayfare.core.TerminalSession

/**
 * Opens the payment sheet for a session an NFC tap verified. Android 10+
 * allows `startActivity` from a service only while the app is in front;
 * otherwise the sheet comes as a full-screen-intent notification (shown
 * over the lock screen or as a heads-up, as the system decides), which
 * the sheet removes once it opens.
 */
object TapSheet {
    const val CHANNEL_TAPS = "wayfare.taps"
    /** One tap at a time; event notifications use the event ids (small numbers). */
    const val NOTIFICATION_ID = Int.MAX_VALUE - 1
    private const val TAG = "Wayfare/nfc"
    /** A terminal's session does not outlive this; neither should its notification. */
    private const val TIMEOUT_MS = 120_000L

    /** Hands `session` to the sheet and brings the sheet up the way Android allows now. */
    fun open(context: Context, session: TerminalSession) {
        Wayfare.handOff(session)
        val sheet = PaymentActivity.intentForHandoff(context).addFlags(Intent.FLAG_ACTIVITY_NEW_TASK)
        if (Foreground.inFront(context) || !NotificationAccess.allowed(context)) {
            // In front; or no notification could be shown, so try the start (the system may refuse it).
            context.startActivity(sheet)
            return
        }
        val texts = DeviceTexts.of(context)
        val manager = context.getSystemService(NotificationManager::class.java)
        manager.createNotificationChannel(NotificationChannel(CHANNEL_TAPS, texts.channelTaps, NotificationManager.IMPORTANCE_HIGH))
        val open = PendingIntent.getActivity(context, NOTIFICATION_ID, sheet,
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT)
        val merchant = session.terminal().merchantName
        val notification = Notification.Builder(context, CHANNEL_TAPS)
            .setSmallIcon(android.R.drawable.stat_notify_more)
            .setContentTitle(texts.tapTitle(merchant))
            .setContentText(texts.tapBody)
            .setCategory(Notification.CATEGORY_EVENT)
            .setContentIntent(open)
            .setFullScreenIntent(open, true)
            .setTimeoutAfter(TIMEOUT_MS)
            .setAutoCancel(true)
            .build()
        manager.notify(NOTIFICATION_ID, notification)
        Log.i(TAG, "payment sheet offered through a full-screen notification (app not in front)")
    }

    /** The sheet is open: its notification has done its work. */
    fun opened(context: Context) {
        context.getSystemService(NotificationManager::class.java).cancel(NOTIFICATION_ID)
    }
}
