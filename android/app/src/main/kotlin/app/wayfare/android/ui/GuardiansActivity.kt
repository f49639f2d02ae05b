package app.wayfare.android.ui

import android.os.Bundle
import android.text.InputType
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import app.wayfare.android.notify.EventNotifier
import app.wayfare.core.GuardianAlert
import app.wayfare.core.GuardianBinding
import app.wayfare.core.GuardianScope
import app.wayfare.core.RiderName
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import java.text.DateFormat
import java.util.Date
import java.util.TimeZone

/**
 * Guardians, both ways: a rider invites a guardian (what is shared, how the
 * rider is named; the code and its QR image) and revokes; a guardian accepts
 * a code (typed, or scanned from the QR image with [ScanActivity]), sets the rider's daily limit, leaves, and sees the alert feed —
 * the stored alerts, then the live alert stream while the screen is open
 * (each alert also goes through [EventNotifier] as a notification).
 */
class GuardiansActivity : WayfareActivity() {
    private lateinit var feature: FeatureTexts
    private lateinit var status: TextView
    private lateinit var invitation: LinearLayout
    private lateinit var code: EditText
    private lateinit var asRider: LinearLayout
    private lateinit var asGuardian: LinearLayout
    private lateinit var alerts: LinearLayout
    private var scopeChoice = GuardianScope.TRANSIT_ONLY
    private var byPhoneTail = false
    private var stream: Job? = null
    private val shownAlerts = linkedMapOf<String, GuardianAlert>()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        feature = FeatureTexts.of(texts)
        show(screen {
            text(feature.guardianTitle, "title", Style.Title, topGap = 0)
            status = text("", "status", Style.Error)
            text(feature.guardianInvite, "invite_title", Style.Heading, topGap = 16)
            lateinit var scopeButton: Button
            scopeButton = button("${feature.guardianScope}: ${feature.scopeTransit}", "invite_scope") {
                scopeChoice = if (scopeChoice == GuardianScope.TRANSIT_ONLY) GuardianScope.ALL_PAYMENTS else GuardianScope.TRANSIT_ONLY
                scopeButton.text = "${feature.guardianScope}: ${if (scopeChoice == GuardianScope.TRANSIT_ONLY) feature.scopeTransit else feature.scopeAll}"
            }
            lateinit var nameButton: Button
            nameButton = button("${feature.shownAs}: ${feature.shownAsNickname}", "invite_shown_as") {
                byPhoneTail = !byPhoneTail
                nameButton.text = "${feature.shownAs}: ${if (byPhoneTail) feature.shownAsPhoneTail else feature.shownAsNickname}"
            }
            button(feature.inviteCreate, "invite_create") { invite() }
            invitation = group("invitation")
            divider()
            text(feature.guardianAccept, "accept_title", Style.Heading, topGap = 16)
            code = field(feature.acceptPlaceholder, "accept_code", InputType.TYPE_CLASS_TEXT)
            button(feature.acceptSubmit, "accept") { accept() }
            button(DeviceTexts.of(texts).scanButton, "accept_scan") {
                scan(ScanActivity.Scanned.GUARDIAN_INVITATION)
            }
            divider()
            text(feature.myGuardians, "my_guardians", Style.Heading, topGap = 16)
            asRider = group("as_rider")
            text(feature.myRiders, "my_riders", Style.Heading, topGap = 16)
            asGuardian = group("as_guardian")
            divider()
            text(feature.alerts, "alerts_title", Style.Heading, topGap = 16)
            alerts = group("alerts")
        })
    }

    override fun onResume() {
        super.onResume()
        withWallet({ status.text = it }) { wallet ->
            refresh(wallet)
            wallet.guardians().alerts(ALERT_LIMIT.toUInt()).forEach { shownAlerts.putIfAbsent(it.alertId, it) }
            renderAlerts()
            follow(wallet)
        }
    }

    override fun onPause() {
        stream?.cancel()
        stream = null
        super.onPause()
    }

    /** The live alert stream while the screen is in front; every new alert is shown and notified. */
    private fun follow(wallet: Wallet) {
        if (stream != null) return
        stream = scope.launch {
            val live = wallet.guardians().alertStream()
            try {
                while (true) {
                    val alert = live.next()
                    shownAlerts[alert.alertId] = alert
                    renderAlerts()
                    EventNotifier.drain(this@GuardiansActivity, wallet)
                }
            } catch (e: WalletException) {
                if (e !is WalletException.Cancelled) status.text = walletErrorMessage(e)
            } finally {
                live.cancel()
                live.destroy()
            }
        }
    }

    private fun invite() = withWallet({ status.text = it }) { wallet ->
        val shownAs = if (byPhoneTail) RiderName.PhoneTail else RiderName.Nickname(wallet.account().info()?.displayName ?: "")
        val created = try {
            wallet.guardians().createInvitation(scopeChoice, shownAs, null)
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
            return@withWallet
        }
        status.text = ""
        invitation.removeAllViews()
        invitation.text(feature.inviteCode, "invitation_label", Style.Secondary, topGap = 12)
        invitation.text(created.code, "invitation_code", Style.Amount, topGap = 0)
        invitation.addView(ImageView(this@GuardiansActivity).apply {
            tag = "invitation_qr"
            setImageBitmap(QrImage.bitmap(created.qrPayload))
            contentDescription = created.qrPayload
        }, LinearLayout.LayoutParams(dp(200), dp(200)).apply { topMargin = dp(8) })
        invitation.text(feature.inviteExpires(time(created.expiresAtMs)), "invitation_expires", Style.Secondary)
    }

    /** A scanned invitation: its payload is accepted like a typed code. */
    override fun onScanned(payload: String) {
        code.setText(payload)
        accept()
    }

    private fun accept() = withWallet({ status.text = it }) { wallet ->
        val typed = code.text.toString().trim()
        if (typed.isEmpty()) return@withWallet
        try {
            wallet.guardians().acceptInvitation(typed)
            status.text = ""
            code.setText("")
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
        }
        refresh(wallet)
    }

    private suspend fun refresh(wallet: Wallet) {
        val all = try {
            wallet.guardians().bindings(false)
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
            return
        }
        asRider.removeAllViews()
        if (all.asRider.isEmpty()) asRider.text(feature.none, "as_rider_none", Style.Secondary)
        all.asRider.forEachIndexed { i, b ->
            asRider.text(summary(b, b.counterpartName), "guardian_$i", Style.Body, topGap = 12)
            asRider.button(feature.revoke, "revoke_$i") { act(wallet) { it.guardians().revoke(b.bindingId) } }
        }
        asGuardian.removeAllViews()
        if (all.asGuardian.isEmpty()) asGuardian.text(feature.none, "as_guardian_none", Style.Secondary)
        all.asGuardian.forEachIndexed { i, b ->
            val riderName = if (texts is Texts.Chinese) b.riderNameZh.ifEmpty { b.riderName } else b.riderName
            asGuardian.text(summary(b, riderName), "rider_$i", Style.Body, topGap = 12)
            val limit = asGuardian.field(feature.limitPlaceholder, "limit_$i", InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL)
            asGuardian.button(feature.limitSet, "limit_set_$i") {
                val minor = FeatureTexts.parseAmount(limit.text.toString())
                if (minor == null) status.text = feature.amountInvalid
                else act(wallet) { it.guardians().setDailyLimit(b.bindingId, minor.toULong(), utcOffsetMinutes()) }
            }
            asGuardian.button(feature.limitClear, "limit_clear_$i") { act(wallet) { it.guardians().setDailyLimit(b.bindingId, null, utcOffsetMinutes()) } }
            asGuardian.button(feature.leave, "leave_$i") { act(wallet) { it.guardians().leave(b.bindingId) } }
        }
    }

    private fun summary(b: GuardianBinding, name: String): String {
        val limit = b.dailyLimitMinor?.let { feature.limitValue(Money.format(it, b.currency)) } ?: feature.limitNone
        return "$name · ${feature.scopeText(b.scope)} · $limit"
    }

    /** Runs one binding change, then shows the list as the server has it. */
    private fun act(wallet: Wallet, change: suspend (Wallet) -> Unit) {
        scope.launch {
            try {
                change(wallet)
                status.text = ""
            } catch (e: WalletException) {
                status.text = walletErrorMessage(e)
            }
            refresh(wallet)
        }
    }

    private fun renderAlerts() {
        alerts.removeAllViews()
        if (shownAlerts.isEmpty()) alerts.text(feature.alertsEmpty, "alerts_empty", Style.Secondary)
        shownAlerts.values.sortedByDescending { it.atMs }.forEachIndexed { i, a ->
            alerts.text(feature.alertText(a.textEn, a.textZh), "alert_$i", Style.Body, topGap = 12)
            a.transit?.let { t ->
                val where = listOf(t.line, t.station, t.directionTowards).filter { it.isNotEmpty() }.joinToString(" · ")
                alerts.text(where, "alert_${i}_transit", Style.Secondary, topGap = 0)
            }
            alerts.text("${a.localTime} (${a.utcOffset})", "alert_${i}_time", Style.Secondary, topGap = 0)
        }
    }

    private fun utcOffsetMinutes(): Int = TimeZone.getDefault().getOffset(System.currentTimeMillis()) / 60_000

    private fun time(atMs: Long): String =
        DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT).format(Date(atMs))

    private companion object {
        const val ALERT_LIMIT = 50
    }
}
