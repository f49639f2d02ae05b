package app.wayfare.android.ui

import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import app.wayfare.android.ServerUrlException
import app.wayfare.android.Wayfare
import app.wayfare.android.nfc.TapSheet
import app.wayfare.core.DiscoveredTerminal
import app.wayfare.core.DiscoverySource
import app.wayfare.core.PaymentRequestInfo
import app.wayfare.core.PointsRate
import app.wayfare.core.TapOutcome
import app.wayfare.core.TerminalKind
import app.wayfare.core.TerminalSession
import app.wayfare.core.TopUpOfferInfo
import app.wayfare.core.WalletException
import app.wayfare.core.maxPointsFor
import app.wayfare.core.pointsSplit
import kotlinx.coroutines.launch

/**
 * The payment sheet. Connects to the chosen terminal (or takes the session an
 * NFC tap started) and taps (`tap()`), which serves every terminal kind: a
 * gate or tram reader that records an entry goes straight to the entry
 * outcome; a fare or sale asked is shown as the terminal's certificate
 * vouches for it (the certified merchant, the amount, what it is for and,
 * for fares, line, station and direction; points when the merchant takes
 * them); a kiosk's cash offer is shown as a top-up sheet (Accept / Decline).
 * Confirm pays (the core records the intent first and never charges twice);
 * Decline tells the terminal. Either way the outcome screen follows.
 */
class PaymentActivity : WayfareActivity() {
    private lateinit var sheetTitle: TextView
    private lateinit var status: TextView
    private lateinit var sheet: LinearLayout
    private var session: TerminalSession? = null
    private var request: PaymentRequestInfo? = null
    private val feature: FeatureTexts by lazy { FeatureTexts.of(texts) }
    /** Points the rider chose to spend on this payment (0: none). */
    private var pointsToSpend = 0uL
    /** Set once the rider chose: the session is then the outcome's to finish. */
    private var decided = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            sheetTitle = text(texts.sheetTitle, "title", Style.Title, topGap = 0)
            status = text(texts.connecting, "status", Style.Secondary)
            sheet = group("sheet")
        })
        scope.launch { run() }
    }

    override fun onDestroy() {
        // Leaving the sheet without choosing ends the session (the terminal
        // keeps the sale for the next phone); a chosen payment runs to its end.
        if (!decided) session?.cancel()
        super.onDestroy()
    }

    private suspend fun run() {
        try {
            val current = if (intent.getBooleanExtra(EXTRA_HANDOFF, false)) {
                TapSheet.opened(this)
                Wayfare.takeHandoff() ?: return finish()
            } else {
                Wayfare.wallet(this).terminals().connect(terminalFrom(intent))
            }
            session = current
            status.text = texts.waitingForRequest
            when (val tapped = current.tap()) {
                is TapOutcome.Entered -> {
                    decided = true
                    finishWith(Outcome.entered(feature, tapped))
                }
                is TapOutcome.PaymentRequested -> {
                    request = tapped.request
                    showSheet(current, tapped.request)
                    offerPoints(tapped.request)
                }
                is TapOutcome.TopUpOffered -> showOffer(current, tapped.offer)
            }
        } catch (e: WalletException) {
            if (!isDestroyed) finishWith(Outcome.failed(texts, e, request))
        } catch (e: ServerUrlException) {
            if (!isDestroyed) finishWith(Outcome(Outcome.Kind.FAILED, texts.failedTitle, DeviceTexts.of(texts).serverRefused(e.problem, e.url)))
        }
    }

    private fun showSheet(current: TerminalSession, asked: PaymentRequestInfo) {
        status.text = ""
        val certified = current.terminal().merchantName
        lateinit var confirm: Button
        lateinit var decline: Button
        sheet.removeAllViews()
        sheet.apply {
            text(texts.certifiedMerchant, "merchant_label", Style.Secondary, topGap = 12)
            text(certified, "merchant", Style.Heading, topGap = 0)
            text(texts.amountLabel, "amount_label", Style.Secondary, topGap = 12)
            text(asked.formattedAmount, "amount", Style.Amount, topGap = 0)
            if (asked.description.isNotBlank()) {
                text(texts.descriptionLabel, "description_label", Style.Secondary, topGap = 12)
                text(asked.description, "description", Style.Body, topGap = 0)
            }
            asked.fare?.let { fare ->
                text(texts.fareLine(fare.line, fare.station, fare.directionFrom, fare.directionTowards), "fare", Style.Body, topGap = 12)
                fare.entryStation?.let { text(texts.entryLine(it), "fare_entry", Style.Secondary, topGap = 0) }
            }
            group("points")
            confirm = button(texts.confirmButton, "confirm") {
                decide(confirm, decline)
                scope.launch { confirm(current) }
            }
            decline = button(texts.declineButton, "decline") {
                decide(confirm, decline)
                scope.launch { decline(current) }
            }
        }
    }

    /** When the merchant takes points and the rider has some: a toggle showing the split. */
    private suspend fun offerPoints(asked: PaymentRequestInfo) {
        val (rate, available) = try {
            val wallet = Wayfare.wallet(this)
            wallet.payments().pointsRate(asked.merchantId) to wallet.account().balance().points
        } catch (e: WalletException) {
            return // no rate known: pay with money only
        }
        val most = maxPointsFor(rate, asked.amountMinor, available)
        if (!rate.acceptsPoints || most == 0uL || isDestroyed) return
        val box = sheet.findViewWithTag<LinearLayout>("points") ?: return
        lateinit var toggle: Button
        lateinit var split: TextView
        toggle = box.button(feature.usePoints(available), "points_toggle") {
            pointsToSpend = if (pointsToSpend == 0uL) most else 0uL
            toggle.text = if (pointsToSpend == 0uL) feature.usePoints(available) else feature.noPoints
            split.text = splitText(rate, asked, pointsToSpend)
        }
        split = box.text("", "points_split", Style.Secondary)
    }

    private fun splitText(rate: PointsRate, asked: PaymentRequestInfo, points: ULong): String {
        if (points == 0uL) return ""
        val parts = pointsSplit(rate, asked.amountMinor, points) ?: return ""
        return feature.pointsSplit(parts.pointsSpent.toLong(), Money.format(parts.pointsValueMinor.toLong(), asked.currency),
            Money.format(parts.moneyMinor.toLong(), asked.currency))
    }

    /** A kiosk's signed cash offer: who offers it and how much; Accept credits it, Decline leaves the cash with the cashier. */
    private fun showOffer(current: TerminalSession, offer: TopUpOfferInfo) {
        status.text = ""
        sheetTitle.text = feature.offerTitle
        lateinit var accept: Button
        lateinit var decline: Button
        sheet.removeAllViews()
        sheet.apply {
            text(feature.offerFrom, "merchant_label", Style.Secondary, topGap = 12)
            text(offer.merchantName, "merchant", Style.Heading, topGap = 0)
            text(feature.offerAmount, "amount_label", Style.Secondary, topGap = 12)
            text(offer.formattedAmount, "amount", Style.Amount, topGap = 0)
            text(feature.offerExplain, "offer_explain", Style.Body, topGap = 12)
            accept = button(feature.acceptButton, "accept") {
                decide(accept, decline)
                status.text = feature.accepting
                scope.launch {
                    finishWith(try {
                        Outcome.toppedUp(feature, offer, current.acceptTopUp())
                    } catch (e: WalletException) {
                        Outcome.topUpFailed(texts, feature, e)
                    })
                }
            }
            decline = button(feature.declineButton, "decline") {
                decide(accept, decline)
                scope.launch {
                    try { current.declineTopUp(feature.offerDeclineReason) } catch (e: WalletException) { /* nothing was added either way */ }
                    finishWith(Outcome.topUpDeclined(feature))
                }
            }
        }
    }

    private fun decide(vararg buttons: Button) {
        decided = true
        buttons.forEach { it.isEnabled = false }
        status.text = texts.paying
    }

    private suspend fun confirm(current: TerminalSession) {
        val outcome = try {
            Outcome.paid(texts, if (pointsToSpend > 0uL) current.confirmWithPoints(pointsToSpend) else current.confirm())
        } catch (e: WalletException) {
            Outcome.failed(texts, e, request)
        }
        finishWith(outcome)
    }

    private suspend fun decline(current: TerminalSession) {
        val outcome = try {
            Outcome.declined(texts, current.decline(texts.declineReason))
        } catch (e: WalletException) {
            // The terminal did not hear it; nothing was paid either way.
            Outcome.declined(texts, null)
        }
        finishWith(outcome)
    }

    private fun finishWith(outcome: Outcome) {
        startActivity(outcome.into(Intent(this, OutcomeActivity::class.java)))
        finish()
    }

    companion object {
        private const val EXTRA_HANDOFF = "payment.handoff"
        private const val EXTRA_ID = "terminal.id"
        private const val EXTRA_NAME = "terminal.name"
        private const val EXTRA_KIND = "terminal.kind"
        private const val EXTRA_HOST = "terminal.host"
        private const val EXTRA_PORT = "terminal.port"
        private const val EXTRA_SOURCE = "terminal.source"

        /** The sheet for a terminal picked from the list or typed in. */
        fun intentFor(context: Context, terminal: DiscoveredTerminal): Intent =
            Intent(context, PaymentActivity::class.java)
                .putExtra(EXTRA_ID, terminal.terminalId)
                .putExtra(EXTRA_NAME, terminal.merchantName)
                .putExtra(EXTRA_KIND, terminal.kind.name)
                .putExtra(EXTRA_HOST, terminal.host)
                .putExtra(EXTRA_PORT, terminal.port.toInt())
                .putExtra(EXTRA_SOURCE, terminal.source.name)

        /** The sheet for the session [Wayfare.handOff] holds (an NFC tap). */
        fun intentForHandoff(context: Context): Intent =
            Intent(context, PaymentActivity::class.java).putExtra(EXTRA_HANDOFF, true)

        private fun terminalFrom(intent: Intent) = DiscoveredTerminal(
            terminalId = intent.getStringExtra(EXTRA_ID) ?: "",
            merchantName = intent.getStringExtra(EXTRA_NAME) ?: "",
            kind = TerminalKind.valueOf(intent.getStringExtra(EXTRA_KIND) ?: TerminalKind.POS.name),
            host = intent.getStringExtra(EXTRA_HOST) ?: "",
            port = intent.getIntExtra(EXTRA_PORT, 0).toUShort(),
            source = DiscoverySource.valueOf(intent.getStringExtra(EXTRA_SOURCE) ?: DiscoverySource.MANUAL.name),
            rssi = null,
            bleId = null,
        )
    }
}
