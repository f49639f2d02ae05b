package app.wayfare.android.ui

import android.content.Intent
import android.os.Bundle

/** How the payment ended (see [Outcome]), then back to the home screen. */
class OutcomeActivity : WayfareActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val outcome = Outcome.from(intent)
        show(screen {
            text(outcome.title, "outcome_title", Style.Title, topGap = 0)
            text(outcome.body, "outcome_body", Style.Body, topGap = 12)
            if (outcome.detail.isNotEmpty()) text(outcome.detail, "outcome_detail", Style.Secondary)
            outcome.paymentId?.let { text(texts.receiptId(it), "outcome_receipt", Style.Secondary) }
            button(texts.doneButton, "done") {
                startActivity(Intent(this@OutcomeActivity, HomeActivity::class.java)
                    .addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP or Intent.FLAG_ACTIVITY_SINGLE_TOP))
                finish()
            }
        })
    }
}
