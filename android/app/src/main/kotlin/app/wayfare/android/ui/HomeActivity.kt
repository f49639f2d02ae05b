package app.wayfare.android.ui

import android.content.Intent
import android.content.pm.PackageManager
import android.os.Bundle
import android.view.View
import android.widget.LinearLayout
import android.widget.TextView
import app.wayfare.android.ServerUrlException
import app.wayfare.android.Wayfare
import app.wayfare.android.notify.EventDrainJob
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.notify.NotificationAccess
import app.wayfare.android.push.PushRegistration
import app.wayfare.core.HistoryEntry
import app.wayfare.core.HistoryKind
import app.wayfare.core.StoredReceipt
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.launch
import java.text.DateFormat
import java.util.Date

/**
 * The launcher screen: opens the wallet (sending a first-time rider to
 * registration), then shows the balance, the loyalty points and the history
 * with each payment's receipt, and the way to top up and to the guardians;
 * starts draining the wallet's events into notifications, asking for the
 * notification permission on Android 13+ (and saying what waits unshown
 * when it is refused), and keeps the control center's push token in step
 * with that permission ([PushRegistration.sync]). Refreshed whenever it
 * comes back to the front.
 */
class HomeActivity : WayfareActivity() {
    private lateinit var greeting: TextView
    private lateinit var balance: TextView
    private lateinit var points: TextView
    private lateinit var pending: TextView
    private lateinit var history: LinearLayout
    private lateinit var notices: LinearLayout
    private lateinit var noticesWaiting: TextView
    private val device: DeviceTexts by lazy { DeviceTexts.of(texts) }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            greeting = text(texts.openingWallet, "greeting", Style.Heading, topGap = 0)
            text(texts.balanceLabel, "balance_label", Style.Secondary, topGap = 16)
            balance = text("", "balance", Style.Amount, topGap = 0)
            points = text("", "points", Style.Secondary, topGap = 0)
            pending = text("", "pending", Style.Secondary)
            notices = group("notifications") {
                visibility = View.GONE
                text(device.notificationsOff, "notifications_off", Style.Error, topGap = 12)
                noticesWaiting = text("", "notifications_waiting", Style.Secondary, topGap = 4)
                button(device.notificationsEnable, "notifications_enable") { NotificationAccess.turnOn(this@HomeActivity) }
            }
            button(texts.payButton, "pay") { startActivity(Intent(this@HomeActivity, NearbyActivity::class.java)) }
            val feature = FeatureTexts.of(texts)
            button(feature.topUpButton, "top_up") { startActivity(Intent(this@HomeActivity, TopUpActivity::class.java)) }
            button(feature.guardiansButton, "guardians") { startActivity(Intent(this@HomeActivity, GuardiansActivity::class.java)) }
            button(device.expressButton, "express") { startActivity(Intent(this@HomeActivity, ExpressActivity::class.java)) }
            button(MerchantTexts.of(texts).button, "merchant") { startActivity(Intent(this@HomeActivity, MerchantActivity::class.java)) }
            button(texts.refreshButton, "refresh") { refresh() }
            divider()
            text(texts.historyTitle, "history_title", Style.Heading, topGap = 16)
            history = group("history")
        })
    }

    override fun onResume() {
        super.onResume()
        refresh()
    }

    private fun refresh() {
        scope.launch {
            val wallet = try {
                Wayfare.wallet(this@HomeActivity)
            } catch (e: WalletException) {
                greeting.text = texts.openFailed + " " + walletErrorMessage(e)
                return@launch
            } catch (e: ServerUrlException) {
                greeting.text = device.serverRefused(e.problem, e.url)
                return@launch
            }
            if (!wallet.account().isRegistered()) {
                startActivity(Intent(this@HomeActivity, RegisterActivity::class.java))
                finish()
                return@launch
            }
            greeting.text = wallet.account().info()?.displayName ?: ""
            EventNotifier.attach(this@HomeActivity, wallet)
            EventDrainJob.schedule(this@HomeActivity)
            checkNotifications(wallet)
            // A push token kept while offline, or one to withdraw since notifications went off.
            launch { PushRegistration.sync(this@HomeActivity, wallet) }
            show(wallet)
        }
    }

    /**
     * Android 13+: asks for POST_NOTIFICATIONS once; after a "no" the screen
     * says what waits unshown (events stay queued) and offers to turn them on.
     */
    private fun checkNotifications(wallet: Wallet) {
        when {
            NotificationAccess.allowed(this) -> notices.visibility = View.GONE
            NotificationAccess.shouldAsk(this) -> if (!askedNow) {
                askedNow = true
                NotificationAccess.ask(this)
            }
            else -> {
                val waiting = wallet.events().pendingCount().toInt()
                noticesWaiting.text = if (waiting > 0) device.notificationsWaiting(waiting) else ""
                noticesWaiting.visibility = if (waiting > 0) View.VISIBLE else View.GONE
                notices.visibility = View.VISIBLE
            }
        }
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode != NotificationAccess.REQUEST_CODE) return
        val granted = grantResults.isNotEmpty() && grantResults.all { it == PackageManager.PERMISSION_GRANTED }
        NotificationAccess.answered(this, granted)
        scope.launch {
            val wallet = try {
                Wayfare.wallet(this@HomeActivity)
            } catch (e: WalletException) {
                return@launch
            } catch (e: ServerUrlException) {
                return@launch
            }
            checkNotifications(wallet)
            // What waited unshown is posted now.
            if (NotificationAccess.allowed(this@HomeActivity)) EventNotifier.drainQuietly(this@HomeActivity, wallet)
            // Pushes go to this phone only while they can be shown.
            PushRegistration.sync(this@HomeActivity, wallet)
        }
    }

    private suspend fun show(wallet: Wallet) {
        val waiting = wallet.payments().pendingCount().toInt()
        pending.text = if (waiting > 0) texts.pendingPayments(waiting) else ""
        pending.visibility = if (waiting > 0) View.VISIBLE else View.GONE
        val receipts = wallet.payments().receipts(HISTORY_LIMIT.toUInt()).associateBy { it.paymentId }
        try {
            val now = wallet.account().balance()
            balance.text = now.formatted
            points.text = texts.points(now.points)
            val entries = wallet.account().history(HISTORY_LIMIT.toUInt())
            history.removeAllViews()
            if (entries.isEmpty()) history.text(texts.historyEmpty, "history_empty", Style.Secondary)
            entries.forEachIndexed { i, entry -> history.entry(i, entry, entry.paymentId?.let(receipts::get)) }
        } catch (e: WalletException) {
            // Offline: the receipts on this phone are still the truth about payments.
            pending.text = walletErrorMessage(e)
            pending.visibility = View.VISIBLE
            history.removeAllViews()
            receipts.values.forEachIndexed { i, r -> history.receipt(i, r) }
        }
    }

    private fun LinearLayout.entry(index: Int, entry: HistoryEntry, receipt: StoredReceipt?) {
        val what = when (entry.kind) {
            HistoryKind.PAYMENT -> entry.merchantName ?: entry.description
            HistoryKind.TOP_UP -> texts.topUp
            HistoryKind.REFUND -> listOfNotNull(texts.refund, entry.merchantName).joinToString(" · ")
            HistoryKind.OTHER -> entry.description.ifEmpty { texts.adjustment }
        }
        text("$what  ${entry.formattedAmount}", "history_$index", Style.Body, topGap = 12)
        text(time(entry.atMs), "history_${index}_time", Style.Secondary, topGap = 0)
        if (receipt != null) {
            text(texts.receiptLine(receipt.paymentId, receipt.description), "history_${index}_receipt", Style.Secondary, topGap = 0)
        }
    }

    private fun LinearLayout.receipt(index: Int, receipt: StoredReceipt) {
        text("${receipt.merchantName}  -${receipt.formattedAmount}", "history_$index", Style.Body, topGap = 12)
        text(time(receipt.completedAtMs), "history_${index}_time", Style.Secondary, topGap = 0)
        text(texts.receiptLine(receipt.paymentId, receipt.description), "history_${index}_receipt", Style.Secondary, topGap = 0)
    }

    private fun time(atMs: ULong): String =
        DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT).format(Date(atMs.toLong()))

    /** The system's question was put by this screen already (one dialog per screen). */
    private var askedNow = false

    private companion object {
        const val HISTORY_LIMIT = 50
    }
}
