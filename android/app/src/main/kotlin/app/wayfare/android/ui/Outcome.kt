package app.wayfare.android.ui

import android.content.Intent
import app.wayfare.core.DoneKind
import app.wayfare.core.PaymentOutcome
import app.wayfare.core.PaymentRequestInfo
import app.wayfare.core.TapOutcome
import app.wayfare.core.TerminalDone
import app.wayfare.core.TopUpOfferInfo
import app.wayfare.core.TopUpOutcome
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage

/**
 * How a payment ended, in sentences a person understands. Built in one place
 * from the core's answer (a [PaymentOutcome], the terminal's [TerminalDone]
 * after a decline, or a [WalletException]) and carried to the outcome screen
 * in its Intent.
 */
data class Outcome(
    val kind: Kind,
    val title: String,
    val body: String,
    /** The terminal's words, or empty. */
    val detail: String = "",
    /** The payment's id when money moved (its receipt is in the history). */
    val paymentId: String? = null,
) {
    enum class Kind { PAID, DECLINED, PENDING, INSUFFICIENT_FUNDS, FAILED, ENTERED, TOPPED_UP }

    fun into(intent: Intent): Intent = intent
        .putExtra(EXTRA_KIND, kind.name)
        .putExtra(EXTRA_TITLE, title)
        .putExtra(EXTRA_BODY, body)
        .putExtra(EXTRA_DETAIL, detail)
        .putExtra(EXTRA_PAYMENT, paymentId)

    companion object {
        private const val EXTRA_KIND = "outcome.kind"
        private const val EXTRA_TITLE = "outcome.title"
        private const val EXTRA_BODY = "outcome.body"
        private const val EXTRA_DETAIL = "outcome.detail"
        private const val EXTRA_PAYMENT = "outcome.payment"

        fun from(intent: Intent): Outcome = Outcome(
            kind = Kind.valueOf(intent.getStringExtra(EXTRA_KIND) ?: Kind.FAILED.name),
            title = intent.getStringExtra(EXTRA_TITLE) ?: "",
            body = intent.getStringExtra(EXTRA_BODY) ?: "",
            detail = intent.getStringExtra(EXTRA_DETAIL) ?: "",
            paymentId = intent.getStringExtra(EXTRA_PAYMENT),
        )

        fun paid(texts: Texts, outcome: PaymentOutcome): Outcome {
            val receipt = outcome.receipt
            val done = outcome.terminalDone
            val points = if (receipt.pointsSpent == 0uL) "" else " " + FeatureTexts.of(texts)
                .pointsPaid(receipt.pointsSpent.toLong(), Money.format(receipt.pointsValueMinor.toLong(), receipt.currency))
            return Outcome(
                kind = Kind.PAID,
                title = texts.paidTitle,
                body = texts.paidBody(
                    receipt.formattedAmount, receipt.merchantName,
                    Money.format(outcome.balanceAfterMinor, outcome.currency),
                ) + points,
                detail = when {
                    done == null -> ""
                    done.outcome == DoneKind.ACCEPTED -> texts.terminalAccepted
                    else -> texts.terminalSaid(done.message)
                },
                paymentId = outcome.paymentId,
            )
        }

        fun declined(texts: Texts, done: TerminalDone?): Outcome = Outcome(
            kind = Kind.DECLINED,
            title = texts.declinedTitle,
            body = texts.declinedBody,
            detail = done?.message?.takeIf { it.isNotBlank() }?.let(texts::terminalSaid) ?: "",
        )

        /** A gate or tram reader recorded the rider's entry (the fare comes at the exit). */
        fun entered(texts: FeatureTexts, entry: TapOutcome.Entered): Outcome = Outcome(
            kind = Kind.ENTERED,
            title = texts.enteredTitle,
            body = texts.enteredBody(entry.station, entry.line),
            detail = entry.message,
        )

        /** A kiosk's cash offer accepted and credited. */
        fun toppedUp(texts: FeatureTexts, offer: TopUpOfferInfo, done: TopUpOutcome): Outcome = Outcome(
            kind = Kind.TOPPED_UP,
            title = texts.toppedUpTitle,
            body = texts.toppedUpBody(offer.formattedAmount, offer.merchantName, Money.format(done.balanceMinor, done.currency)),
            detail = done.terminalDone?.message ?: "",
        )

        /** A kiosk's cash offer declined: nothing was added. */
        fun topUpDeclined(texts: FeatureTexts): Outcome =
            Outcome(Kind.DECLINED, texts.topUpDeclinedTitle, texts.topUpDeclinedBody)

        /** A kiosk top-up that did not complete; the pending one says the cash is not lost. */
        fun topUpFailed(texts: Texts, feature: FeatureTexts, e: WalletException): Outcome = when (e) {
            is WalletException.TopUpPending -> Outcome(Kind.PENDING, feature.topUpPendingTitle, feature.topUpPendingBody)
            is WalletException.TopUpOfferExpired -> Outcome(Kind.FAILED, feature.offerExpiredTitle, feature.offerExpiredBody)
            is WalletException.TopUpAlreadyClaimed -> Outcome(Kind.FAILED, feature.offerClaimedTitle, feature.offerClaimedBody)
            else -> failed(texts, e, null)
        }

        /** A failed connect, request or confirm; `request` is what was on the sheet, if anything. */
        fun failed(texts: Texts, e: WalletException, request: PaymentRequestInfo?): Outcome = when (e) {
            is WalletException.PaymentPending -> Outcome(Kind.PENDING, texts.pendingTitle, texts.pendingBody)
            is WalletException.InsufficientFunds -> {
                val currency = request?.currency ?: "CNY"
                val amount = request?.formattedAmount ?: Money.format(e.amountMinor.toLong(), currency)
                val balance = e.balanceMinor?.let { Money.format(it, currency) }
                Outcome(Kind.INSUFFICIENT_FUNDS, texts.insufficientTitle, texts.insufficientBody(amount, balance))
            }
            is WalletException.RequestExpired -> Outcome(Kind.FAILED, texts.expiredTitle, texts.expiredBody)
            is WalletException.TerminalRefused -> Outcome(Kind.FAILED, texts.refusedTitle, texts.refusedBody(e.reason))
            is WalletException.TerminalUntrusted -> Outcome(Kind.FAILED, texts.untrustedTitle, texts.untrustedBody)
            is WalletException.TerminalBusy -> Outcome(Kind.FAILED, texts.busyTitle, texts.busyBody)
            is WalletException.TerminalUnreachable -> Outcome(Kind.FAILED, texts.unreachableTitle, texts.unreachableBody)
            is WalletException.GuardianLimitReached -> Outcome(Kind.FAILED, texts.guardianLimitTitle, walletErrorMessage(e))
            else -> Outcome(Kind.FAILED, texts.failedTitle, walletErrorMessage(e))
        }
    }
}

/** Amounts in minor units as people read them, like the core's own formatting (`¥2.00`). */
object Money {
    // The same table as wayfare_protocol::money.
    private val symbols = mapOf("CNY" to "¥", "EUR" to "€", "USD" to "$", "GBP" to "£", "JPY" to "JP¥", "HKD" to "HK$", "CHF" to "CHF ")
    private val noDecimals = setOf("JPY")

    fun format(minor: Long, currency: String): String {
        val sign = if (minor < 0) "-" else ""
        val abs = Math.abs(minor)
        val symbol = symbols[currency] ?: "$currency "
        if (currency in noDecimals) return "$sign$symbol$abs"
        return "$sign$symbol${abs / 100}.${(abs % 100).toString().padStart(2, '0')}"
    }
}
