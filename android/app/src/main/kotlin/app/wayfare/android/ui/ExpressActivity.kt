package app.wayfare.android.ui

import android.os.Bundle
import android.text.InputType
import android.view.View
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.Switch
import android.widget.TextView
import app.wayfare.core.ExpressSettings
import app.wayfare.core.ExpressStatus
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.launch
import java.text.DateFormat
import java.util.Date

/**
 * Express taps (`wallet.express()`): whether gates may charge this phone
 * offline and up to which limits (per tap, total under one allowance), the
 * allowance the phone holds and how much of it is spent, the taps not yet
 * settled, and the server's view (debt, paused) on request. The core
 * enforces the limits; this screen only shows and saves the rider's choice.
 */
class ExpressActivity : WayfareActivity() {
    private val device: DeviceTexts by lazy { DeviceTexts.of(texts) }
    private lateinit var enabled: Switch
    private lateinit var perTap: EditText
    private lateinit var total: EditText
    private lateinit var state: TextView
    private lateinit var allowance: TextView
    private lateinit var result: TextView
    private lateinit var account: TextView
    private lateinit var pending: LinearLayout

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            text(device.expressTitle, "title", Style.Title, topGap = 0)
            text(device.expressExplain, "express_explain", Style.Secondary)
            enabled = Switch(context).apply {
                text = device.expressEnabled
                tag = "express_enabled"
                textSize = Style.Body.sp
                setTextColor(Style.Body.color)
            }
            addView(enabled, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT)
                .apply { topMargin = dp(16) })
            text(device.expressPerTap, "express_per_tap_label", Style.Secondary, topGap = 12)
            perTap = field("2.00", "express_per_tap", InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL)
            text(device.expressTotal, "express_total_label", Style.Secondary, topGap = 12)
            total = field("20.00", "express_total", InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL)
            button(device.expressSave, "express_save") { save() }
            result = text("", "express_result", Style.Secondary)
            divider()
            state = text("", "express_state", Style.Heading, topGap = 16)
            allowance = text("", "express_allowance", Style.Body)
            pending = group("express_pending")
            button(device.expressSync, "express_sync") { sync() }
            account = text("", "express_account", Style.Secondary)
        })
        withWallet({ state.text = it }) { wallet ->
            val express = wallet.express()
            val settings = express.settings()
            enabled.isChecked = settings.enabled
            perTap.setText(plain(settings.perTapMaxMinor))
            total.setText(plain(settings.totalMaxMinor))
            render(express.status())
            // Online now: fetch an allowance if one is due (the core decides).
            if (settings.enabled) {
                try { render(express.refresh()) } catch (e: WalletException) { /* the status above stands */ }
            }
        }
    }

    private fun save() {
        val perTapMinor = FeatureTexts.parseAmount(perTap.text.toString())
        val totalMinor = FeatureTexts.parseAmount(total.text.toString())
        if (perTapMinor == null || totalMinor == null || perTapMinor == 0L || totalMinor < perTapMinor) {
            result.text = device.expressInvalid
            return
        }
        val chosen = ExpressSettings(enabled.isChecked, perTapMinor.toULong(), totalMinor.toULong())
        withWallet({ result.text = it }) { wallet ->
            val express = wallet.express()
            try {
                render(express.setSettings(chosen))
                result.text = device.expressSaved
            } catch (e: WalletException.InvalidInput) {
                result.text = device.expressInvalid
            } catch (e: WalletException) {
                // Saved; only the new allowance is missing (offline, blocked, no balance).
                render(express.status())
                result.text = device.expressNotFetched(walletErrorMessage(e))
            }
        }
    }

    private fun sync() {
        withWallet({ account.text = it }) { wallet ->
            try {
                val seen = wallet.express().sync()
                account.text = listOfNotNull(
                    if (seen.debtMinor > 0) device.expressDebt(Money.format(seen.debtMinor, seen.currency), seen.blocked)
                    else device.expressNoDebt,
                    seen.settledTaps.size.takeIf { it > 0 }?.let(device::expressSettled),
                ).joinToString("\n")
                render(wallet.express().status())
            } catch (e: WalletException) {
                account.text = walletErrorMessage(e)
            }
        }
    }

    private fun render(status: ExpressStatus) {
        state.text = when {
            !status.settings.enabled -> device.expressOff
            status.ready -> device.expressReady
            else -> device.expressNotReady
        }
        val held = status.allowance
        allowance.visibility = if (held != null && status.settings.enabled) View.VISIBLE else View.GONE
        allowance.text = held?.let {
            device.expressAllowance(it.allowanceHint, Money.format(it.spentMinor.toLong(), it.currency),
                Money.format(it.totalMaxMinor.toLong(), it.currency), Money.format(it.perTapMaxMinor.toLong(), it.currency),
                DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT).format(Date(it.expiresAtMs.toLong())))
        } ?: ""
        pending.removeAllViews()
        if (status.pendingTaps.isNotEmpty()) {
            pending.text(device.expressPending(status.pendingTaps.size), "express_pending_title", Style.Secondary, topGap = 12)
            status.pendingTaps.forEachIndexed { i, tap ->
                val where = listOf(tap.merchantName, tap.line, tap.station).filter { it.isNotEmpty() }.joinToString(" · ")
                pending.text("$where  ${Money.format(tap.amountMinor.toLong(), tap.currency)}", "express_pending_$i", Style.Body, topGap = 4)
            }
        }
    }

    /** 200 → "2.00" for the fields (the app's one currency has two decimals). */
    private fun plain(minor: ULong): String = "${minor / 100u}.${(minor % 100u).toString().padStart(2, '0')}"
}
