package app.wayfare.android.notify

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.util.Log
import app.wayfare.android.ui.FeatureTexts
import app.wayfare.android.ui.GuardiansActivity
import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.MerchantActivity
import app.wayfare.android.ui.Money
import app.wayfare.core.Wallet
import app.wayfare.core.WalletEvent
import app.wayfare.core.WalletEventBody
import app.wayfare.core.WalletEventListener
import app.wayfare.core.WalletException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

/**
 * Turns the wallet's persisted event queue (`wallet.events()`) into Android
 * notifications, one channel per kind (guardian alerts, merchant prompts,
 * payments and top-ups). Each event is acknowledged only after its
 * notification was posted, so an event the app never showed (killed,
 * crashed) comes again on the next drain; the notification id is the
 * event id, so showing it twice replaces rather than duplicates; tapping
 * one opens its screen (alerts: guardians, prompts: merchant, else home).
 * While notifications are not allowed, events stay queued. Prompts
 * are also spoken and vibrated by [PromptAnnouncer] as the prompt says.
 */
object EventNotifier {
    const val CHANNEL_ALERTS = "wayfare.alerts"
    const val CHANNEL_PROMPTS = "wayfare.prompts"
    const val CHANNEL_PAYMENTS = "wayfare.payments"
    private const val TAG = "Wayfare/notify"
    private const val BATCH = 50u

    private val lock = Mutex()
    private val background = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    @Volatile private var attached: Wallet? = null

    /** Drains now and whenever the core says events are waiting (once per open wallet). */
    fun attach(context: Context, wallet: Wallet) {
        if (attached === wallet) return
        attached = wallet
        val app = context.applicationContext
        wallet.events().setListener(object : WalletEventListener {
            override fun onEventsAvailable(pending: UInt) {
                drainQuietly(app, wallet)
            }
        })
        drainQuietly(app, wallet)
    }

    /** A drain off the main thread; a wallet closed meanwhile leaves its events for the next open. */
    fun drainQuietly(context: Context, wallet: Wallet) {
        background.launch {
            try {
                if (attached === wallet) drain(context, wallet)
            } catch (e: Exception) {
                Log.w(TAG, "draining events failed (${e.javaClass.simpleName}); they stay queued")
            }
        }
    }

    /** Stops following a wallet that is being closed. */
    fun detach(wallet: Wallet) {
        if (attached === wallet) attached = null
    }

    /**
     * Posts every waiting event and acknowledges it; returns how many were
     * posted. While notifications are not allowed ([NotificationAccess])
     * nothing would be shown, so every event stays queued.
     */
    suspend fun drain(context: Context, wallet: Wallet): Int = lock.withLock {
        val app = context.applicationContext
        if (!NotificationAccess.allowed(app)) return@withLock 0
        val manager = app.getSystemService(NotificationManager::class.java)
        val texts = FeatureTexts.of(app)
        ensureChannels(manager, texts)
        var posted = 0
        while (true) {
            val batch = wallet.events().pending(BATCH)
            if (batch.isEmpty()) break
            for (event in batch) {
                val notification = build(app, texts, event)
                if (notification != null) {
                    manager.notify(event.eventId.toInt(), notification)
                    // The push's own line, if one was shown while the wallet was out of reach, gives way.
                    (event.body as? WalletEventBody.GuardianAlert)?.let { manager.cancel(pushTag(it.alert.alertId), PUSH_ID) }
                    (event.body as? WalletEventBody.MerchantPrompt)?.let { PromptAnnouncer.announce(app, it.prompt) }
                    posted++
                }
                try {
                    wallet.events().acknowledge(event.eventId)
                } catch (e: WalletException) {
                    Log.w(TAG, "acknowledging an event failed; it comes again")
                    return@withLock posted
                }
            }
        }
        posted
    }

    /**
     * A push's own short text, shown only when the wallet could not be
     * reached to fetch what the push points at (decision 0019: a push says
     * "look", the details come over the signed API). Tagged by the message
     * id, so the event's own notification replaces it once drained (alerts)
     * and a repeated push does not add a second one.
     */
    fun postPushFallback(context: Context, kind: String?, messageId: String, title: String, body: String) {
        val app = context.applicationContext
        if (!NotificationAccess.allowed(app)) return
        val manager = app.getSystemService(NotificationManager::class.java)
        ensureChannels(manager, FeatureTexts.of(app))
        val (channel, screen) = when (kind) {
            PUSH_PROMPT -> CHANNEL_PROMPTS to MerchantActivity::class.java
            PUSH_ALERT -> CHANNEL_ALERTS to GuardiansActivity::class.java
            else -> CHANNEL_ALERTS to HomeActivity::class.java
        }
        val open = PendingIntent.getActivity(app, messageId.hashCode(),
            Intent(app, screen).addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT)
        manager.notify(pushTag(messageId), PUSH_ID, Notification.Builder(app, channel)
            .setContentIntent(open)
            .setSmallIcon(android.R.drawable.stat_notify_chat)
            .setContentTitle(title)
            .setContentText(body)
            .setAutoCancel(true)
            .build())
    }

    /** The push kinds the control center sends (decision 0019). */
    const val PUSH_ALERT = "guardian.alert"
    const val PUSH_PROMPT = "merchant.prompt"

    /** The tag of a push's fallback notification, by message id (with [PUSH_ID]). */
    fun pushTag(messageId: String) = "push:$messageId"
    const val PUSH_ID = 1

    private fun ensureChannels(manager: NotificationManager, texts: FeatureTexts) {
        manager.createNotificationChannel(NotificationChannel(CHANNEL_ALERTS, texts.channelAlerts, NotificationManager.IMPORTANCE_HIGH))
        manager.createNotificationChannel(NotificationChannel(CHANNEL_PROMPTS, texts.channelPrompts, NotificationManager.IMPORTANCE_HIGH))
        manager.createNotificationChannel(NotificationChannel(CHANNEL_PAYMENTS, texts.channelPayments, NotificationManager.IMPORTANCE_DEFAULT))
    }

    /** The notification of one event; null for a kind this app version does not know (acknowledged, not shown). */
    private fun build(context: Context, texts: FeatureTexts, event: WalletEvent): Notification? {
        val (channel, title, body) = when (val b = event.body) {
            is WalletEventBody.GuardianAlert -> Triple(CHANNEL_ALERTS, texts.notifyAlert(b.alert.riderName), texts.alertText(b.alert.textEn, b.alert.textZh))
            is WalletEventBody.MerchantPrompt -> Triple(CHANNEL_PROMPTS, texts.notifyPrompt,
                if (b.prompt.showText) b.prompt.displayText else texts.notifyPromptHidden)
            is WalletEventBody.PaymentCompleted -> Triple(CHANNEL_PAYMENTS, texts.notifyPaid(b.outcome.receipt.merchantName),
                b.outcome.receipt.formattedAmount)
            is WalletEventBody.PaymentFailed -> Triple(CHANNEL_PAYMENTS, texts.notifyFailed, texts.notifyFailedRetry)
            is WalletEventBody.TopUpCompleted -> Triple(CHANNEL_PAYMENTS, texts.notifyTopUp, texts.notifyTopUpBody(b.topUp.formattedAmount))
            is WalletEventBody.TopUpFailed -> Triple(CHANNEL_PAYMENTS, texts.notifyTopUpFailed, texts.notifyTopUpFailedBody)
            is WalletEventBody.Unknown -> return null
        }
        val screen = when (channel) {
            CHANNEL_ALERTS -> GuardiansActivity::class.java
            CHANNEL_PROMPTS -> MerchantActivity::class.java
            else -> HomeActivity::class.java
        }
        val open = PendingIntent.getActivity(context, event.eventId.toInt(),
            Intent(context, screen).addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT)
        return Notification.Builder(context, channel)
            .setContentIntent(open)
            .setSmallIcon(android.R.drawable.stat_notify_chat)
            .setContentTitle(title)
            .setContentText(body)
            .setStyle(Notification.BigTextStyle().bigText(body))
            .setWhen(event.createdAtMs.toLong())
            .setShowWhen(true)
            .setAutoCancel(true)
            .build()
    }
}
