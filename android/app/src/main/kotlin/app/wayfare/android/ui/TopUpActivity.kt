package app.wayfare.android.ui

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.text.InputType
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import app.wayfare.core.TopUp
import app.wayfare.core.TopUpProvider
import app.wayfare.core.TopUpStatus
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch

/**
 * Over-the-air top-up: the providers the server offers
 * (`account().topUpProviders()`), an amount, and `topUp(provider, amount)`.
 * Shows the reference and, for a checkout provider, a button that opens the
 * provider's page (ACTION_VIEW); then waits on the core's top-up stream for
 * the outcome while the screen is open (the events queue notifies it too
 * when the app was away).
 */
class TopUpActivity : WayfareActivity() {
    private lateinit var feature: FeatureTexts
    private lateinit var amount: EditText
    private lateinit var providers: LinearLayout
    private lateinit var status: TextView
    private lateinit var reference: TextView
    private lateinit var result: TextView
    private lateinit var checkout: LinearLayout
    private var waiting: Job? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        feature = FeatureTexts.of(texts)
        show(screen {
            text(feature.topUpTitle, "title", Style.Title, topGap = 0)
            amount = field(feature.topUpAmountHint, "amount", InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL)
            providers = group("providers")
            status = text("", "status", Style.Secondary)
            reference = text("", "reference", Style.Body)
            checkout = group("checkout")
            result = text("", "result", Style.Heading)
        })
        withWallet({ status.text = it }) { wallet ->
            val offered = try {
                wallet.account().topUpProviders()
            } catch (e: WalletException) {
                status.text = walletErrorMessage(e)
                return@withWallet
            }
            if (offered.isEmpty()) status.text = feature.topUpNoProviders
            offered.forEach { provider ->
                providers.button(feature.topUpWith(provider.displayName), "provider_${provider.id}") { start(wallet, provider) }
            }
        }
    }

    private fun start(wallet: Wallet, provider: TopUpProvider) {
        val minor = FeatureTexts.parseAmount(amount.text.toString())
        if (minor == null || minor <= 0) {
            status.text = feature.topUpAmountInvalid
            return
        }
        status.text = feature.topUpStarting
        result.text = ""
        checkout.removeAllViews()
        scope.launch {
            val started = try {
                wallet.account().topUp(provider.id, minor.toULong())
            } catch (e: WalletException) {
                status.text = walletErrorMessage(e)
                return@launch
            }
            reference.text = feature.topUpReference(started.reference)
            started.checkoutUrl?.let { url ->
                checkout.button(feature.openCheckout, "open_checkout") {
                    startActivity(Intent(Intent.ACTION_VIEW, Uri.parse(url)))
                }
            }
            if (started.status == TopUpStatus.CONFIRMED) {
                status.text = ""
                result.text = feature.topUpConfirmed(started.formattedAmount)
            } else {
                status.text = feature.topUpWaiting
                waitFor(wallet, started.reference)
            }
        }
    }

    /** Follows the core's top-up stream until this reference is finished. */
    private fun waitFor(wallet: Wallet, ref: String) {
        waiting?.cancel()
        waiting = scope.launch {
            val stream = wallet.account().topUpStream()
            try {
                while (true) {
                    val update = stream.next()
                    if (update.reference == ref && update.status != TopUpStatus.PENDING) {
                        show(update)
                        return@launch
                    }
                }
            } catch (e: WalletException) {
                status.text = walletErrorMessage(e)
            } finally {
                stream.cancel()
                stream.destroy()
            }
        }
    }

    private fun show(update: TopUp) {
        status.text = ""
        result.text = when (update.status) {
            TopUpStatus.CONFIRMED -> feature.topUpConfirmed(update.formattedAmount)
            TopUpStatus.FAILED -> feature.topUpFailed(update.failureReason)
            TopUpStatus.EXPIRED -> feature.topUpExpired
            TopUpStatus.PENDING -> feature.topUpWaiting
        }
    }
}
