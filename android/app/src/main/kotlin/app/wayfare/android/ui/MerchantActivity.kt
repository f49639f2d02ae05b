package app.wayfare.android.ui

import android.os.Bundle
import android.text.InputType
import android.view.View
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.Switch
import android.widget.TextView
import app.wayfare.android.notify.EventNotifier
import app.wayfare.core.MerchantMembership
import app.wayfare.core.MerchantOperation
import app.wayfare.core.MerchantPrompt
import app.wayfare.core.MerchantRole
import app.wayfare.core.PromptAttribute
import app.wayfare.core.PromptSettings
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch

/**
 * The merchant side of the app, for one merchant this account belongs to
 * (with several, buttons at the top pick which; [MerchantChoice] remembers
 * it, else the first): the live prompt feed of that merchant (the core's prompt stream while the
 * screen is open; each prompt also notified, spoken and vibrated through
 * [EventNotifier]); for an owner the staff list (invite with operation and
 * content scopes, code and QR; revoke); with the refund operation the
 * recent payments, each refundable in full or in part with a reason; each
 * staff member's scopes changeable; how this phone announces prompts (text,
 * speech, vibration). Anyone can join a merchant with a staff code, typed
 * or scanned from the owner's QR image with [ScanActivity] (the core takes
 * either the code or the QR payload).
 */
class MerchantActivity : WayfareActivity() {
    private lateinit var words: MerchantTexts
    private lateinit var status: TextView
    private lateinit var heading: TextView
    private lateinit var choices: LinearLayout
    private lateinit var feedList: LinearLayout
    private lateinit var staffBox: LinearLayout
    private lateinit var refundBox: LinearLayout
    private lateinit var settingsBox: LinearLayout
    private lateinit var joinCode: EditText
    private val prompts = mutableListOf<MerchantPrompt>()
    private var stream: Job? = null
    private var loading: Job? = null
    /** The merchant the screen shows (its prompts only are listed). */
    private var shown: String? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        words = MerchantTexts.of(texts)
        show(screen {
            text(words.title, "title", Style.Title, topGap = 0)
            choices = group("merchant_choices")
            heading = text("", "membership", Style.Heading)
            status = text("", "status", Style.Error)
            text(words.feed, "feed_title", Style.Heading, topGap = 16)
            feedList = group("feed")
            settingsBox = group("prompt_settings")
            divider()
            staffBox = group("staff")
            refundBox = group("refunds")
            divider()
            text(words.join, "join_title", Style.Heading, topGap = 16)
            joinCode = field(words.joinPlaceholder, "join_code", InputType.TYPE_CLASS_TEXT)
            button(words.joinSubmit, "join") { join() }
            button(DeviceTexts.of(texts).scanButton, "join_scan") {
                scan(ScanActivity.Scanned.STAFF_INVITATION)
            }
        })
        renderFeed()
    }

    override fun onResume() {
        super.onResume()
        reload()
    }

    /** Shows the chosen merchant afresh (a load still running for another choice is dropped). */
    private fun reload() {
        loading?.cancel()
        loading = withWallet({ status.text = it }) { wallet -> load(wallet) }
    }

    override fun onPause() {
        stream?.cancel()
        stream = null
        super.onPause()
    }

    private suspend fun load(wallet: Wallet) {
        val active = try {
            wallet.merchant().memberships().filter { it.active }
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
            return
        }
        val member = MerchantChoice.pick(this, active)
        showChoices(active, member)
        shown = member?.merchantId
        staffBox.removeAllViews()
        refundBox.removeAllViews()
        renderFeed()
        if (member == null) {
            heading.text = words.none
            return
        }
        heading.text = "${member.merchantName} · ${words.role(member.role)}"
        follow(wallet)
        showPromptSettings(wallet)
        if (member.role == MerchantRole.OWNER) showStaff(wallet, member)
        if (member.role == MerchantRole.OWNER || MerchantOperation.REFUND in member.operations) showPayments(wallet, member)
    }

    /** With more than one merchant: a button each, the shown one ticked; a tap shows that one and remembers it. */
    private fun showChoices(active: List<MerchantMembership>, member: MerchantMembership?) {
        choices.removeAllViews()
        if (active.size < 2) return
        choices.text(words.chooseMerchant, "merchant_choices_title", Style.Secondary)
        active.forEach { m ->
            val mark = if (m.merchantId == member?.merchantId) "✓ " else "   "
            choices.button("$mark${m.merchantName} · ${words.role(m.role)}", "merchant_choice_${m.merchantId}") {
                MerchantChoice.remember(this, m.merchantId)
                reload()
            }
        }
    }

    /** The live prompts while the screen is in front (of every merchant; the feed lists the shown one's). */
    private fun follow(wallet: Wallet) {
        if (stream != null) return
        stream = scope.launch {
            val live = wallet.merchant().prompts()
            try {
                while (true) {
                    val prompt = live.next()
                    prompts.add(0, prompt)
                    renderFeed()
                    EventNotifier.drain(this@MerchantActivity, wallet)
                }
            } catch (e: WalletException) {
                if (e !is WalletException.Cancelled) status.text = walletErrorMessage(e)
            } finally {
                live.cancel()
                live.destroy()
            }
        }
    }

    private fun renderFeed() {
        feedList.removeAllViews()
        val listed = prompts.filter { it.merchantId == shown }
        if (listed.isEmpty()) feedList.text(words.feedEmpty, "feed_empty", Style.Secondary)
        listed.forEachIndexed { i, p -> feedList.text(p.displayText, "prompt_$i", Style.Body, topGap = 12) }
    }

    /** How this phone announces prompts (kept on the phone by the core; the next prompt follows it). */
    private fun showPromptSettings(wallet: Wallet) {
        val merchant = wallet.merchant()
        settingsBox.removeAllViews()
        settingsBox.text(words.promptSettings, "prompt_settings_title", Style.Heading, topGap = 16)
        fun switch(label: String, tag: String, on: (PromptSettings) -> Boolean, set: (PromptSettings, Boolean) -> PromptSettings) {
            settingsBox.switch(label, tag, on(merchant.promptSettings())) { checked ->
                try {
                    merchant.setPromptSettings(set(merchant.promptSettings(), checked))
                } catch (e: WalletException) {
                    status.text = walletErrorMessage(e)
                }
            }
        }
        switch(words.promptShowText, "prompt_show_text", { it.showText }) { s, v -> s.copy(showText = v) }
        switch(words.promptSpeak, "prompt_speak", { it.speak }) { s, v -> s.copy(speak = v) }
        switch(words.promptVibrate, "prompt_vibrate", { it.vibrate }) { s, v -> s.copy(vibrate = v) }
    }

    private suspend fun showStaff(wallet: Wallet, member: MerchantMembership) {
        val staff = try {
            wallet.merchant().listStaff(member.merchantId).filter { it.role == MerchantRole.STAFF }
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
            return
        }
        staffBox.removeAllViews()
        staffBox.text(words.staff, "staff_title", Style.Heading, topGap = 16)
        staff.forEachIndexed { i, s ->
            val what = s.operations.joinToString(", ") { words.operation(it) }
            staffBox.text("${s.label.ifEmpty { s.handle }} · $what${if (s.active) "" else " · ${words.revoked}"}", "staff_$i", Style.Body, topGap = 12)
            if (s.active) scopesEditor(wallet, member, s, i)
            if (s.active) staffBox.button(words.revoke, "staff_revoke_$i") {
                scope.launch {
                    try {
                        wallet.merchant().revokeStaff(member.merchantId, s.memberId)
                    } catch (e: WalletException) {
                        status.text = walletErrorMessage(e)
                    }
                    showStaff(wallet, member)
                }
            }
        }
        inviteForm(wallet, member)
    }

    private fun inviteForm(wallet: Wallet, member: MerchantMembership) {
        val operations = mutableSetOf(MerchantOperation.RECEIVE_PROMPTS)
        val content = mutableSetOf(PromptAttribute.AMOUNT, PromptAttribute.TIME)
        staffBox.text(words.staffInvite, "invite_title", Style.Heading, topGap = 16)
        val label = staffBox.field(words.labelPlaceholder, "invite_label", InputType.TYPE_CLASS_TEXT)
        staffBox.text(words.operations, "invite_operations", Style.Secondary)
        MerchantOperation.values().forEach { op -> staffBox.toggle(words.operation(op), "op_${op.name}", operations, op) }
        staffBox.text(words.content, "invite_content", Style.Secondary)
        PromptAttribute.values().forEach { a -> staffBox.toggle(words.attribute(a), "attr_${a.name}", content, a) }
        val result = staffBox.group("staff_invitation")
        staffBox.button(words.staffInvite, "invite_staff") {
            scope.launch {
                val made = try {
                    wallet.merchant().inviteStaff(member.merchantId, operations.toList(), content.toList(),
                        label.text.toString().trim().ifEmpty { null }, null, null)
                } catch (e: WalletException) {
                    status.text = walletErrorMessage(e)
                    return@launch
                }
                result.removeAllViews()
                result.text(words.invitation(made.label), "staff_invitation_label", Style.Secondary, topGap = 12)
                result.text(made.code, "staff_invitation_code", Style.Amount, topGap = 0)
                result.addView(ImageView(this@MerchantActivity).apply {
                    tag = "staff_invitation_qr"
                    setImageBitmap(QrImage.bitmap(made.qrPayload))
                    contentDescription = made.qrPayload
                }, LinearLayout.LayoutParams(dp(200), dp(200)))
            }
        }
    }

    /** "Change what they may do": the member's operations and content as toggles, saved with `setStaffScopes`. */
    private fun scopesEditor(wallet: Wallet, member: MerchantMembership, staff: MerchantMembership, i: Int) {
        val operations = staff.operations.toMutableSet()
        val content = staff.content.toMutableSet()
        val editor = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL; tag = "staff_editor_$i"; visibility = View.GONE }
        staffBox.button(words.changeScopes, "staff_scopes_$i") {
            editor.visibility = if (editor.visibility == View.GONE) View.VISIBLE else View.GONE
        }
        staffBox.addView(editor)
        editor.text(words.operations, "staff_${i}_operations", Style.Secondary)
        MerchantOperation.values().forEach { op -> editor.toggle(words.operation(op), "staff_${i}_op_${op.name}", operations, op) }
        editor.text(words.content, "staff_${i}_content", Style.Secondary)
        PromptAttribute.values().forEach { a -> editor.toggle(words.attribute(a), "staff_${i}_attr_${a.name}", content, a) }
        editor.button(words.saveScopes, "staff_scopes_save_$i") {
            scope.launch {
                try {
                    wallet.merchant().setStaffScopes(member.merchantId, staff.memberId, operations.toList(), content.toList())
                } catch (e: WalletException) {
                    status.text = walletErrorMessage(e)
                }
                showStaff(wallet, member)
            }
        }
    }

    /** A labelled switch that reports every change. */
    private fun LinearLayout.switch(label: String, tag: String, on: Boolean, changed: (Boolean) -> Unit): Switch {
        val view = Switch(context).apply {
            text = label
            this.tag = tag
            textSize = Style.Body.sp
            setTextColor(Style.Body.color)
            isChecked = on
            setOnCheckedChangeListener { _, checked -> changed(checked) }
        }
        addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT)
            .apply { topMargin = dp(8) })
        return view
    }

    /** A button that adds or removes `value` from `chosen`, showing a tick when chosen. */
    private fun <T> LinearLayout.toggle(label: String, tag: String, chosen: MutableSet<T>, value: T) {
        lateinit var b: Button
        fun draw() { b.text = (if (value in chosen) "✓ " else "   ") + label }
        b = button(label, tag) {
            if (!chosen.remove(value)) chosen.add(value)
            draw()
        }
        draw()
    }

    private suspend fun showPayments(wallet: Wallet, member: MerchantMembership) {
        val payments = try {
            wallet.merchant().history(member.merchantId, PAYMENTS.toUInt())
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
            return
        }
        refundBox.removeAllViews()
        refundBox.text(words.refunds, "refunds_title", Style.Heading, topGap = 16)
        payments.forEachIndexed { i, p ->
            val currency = p.currency ?: "CNY"
            val amount = p.amountMinor?.let { Money.format(it, currency) } ?: ""
            val refunded = p.refundedMinor?.takeIf { it > 0 }?.let { " · -${Money.format(it, currency)}" } ?: ""
            refundBox.text(listOfNotNull(p.payerName, amount, p.orderId).joinToString(" · ") + refunded, "payment_$i", Style.Body, topGap = 12)
            val amountField = refundBox.field(words.refundAmountHint, "refund_amount_$i",
                InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL)
            val reasonField = refundBox.field(words.refundReasonHint, "refund_reason_$i", InputType.TYPE_CLASS_TEXT)
            val result = refundBox.text("", "refund_result_$i", Style.Secondary, topGap = 0)
            refundBox.button(words.refundSubmit, "refund_$i") {
                // Empty: everything left; else part of it.
                val typed = amountField.text.toString().trim()
                val part = if (typed.isEmpty()) null else FeatureTexts.parseAmount(typed)?.takeIf { it > 0 }
                if (typed.isNotEmpty() && part == null) {
                    result.text = words.refundAmountInvalid
                    return@button
                }
                val reason = reasonField.text.toString().trim().ifEmpty { null }
                scope.launch {
                    result.text = try {
                        val r = wallet.merchant().refund(member.merchantId, p.paymentId, part?.toULong(), reason, null)
                        words.refunded(Money.format(r.amountMinor, r.currency), Money.format(r.remainingMinor, r.currency))
                    } catch (e: WalletException) {
                        walletErrorMessage(e)
                    }
                }
            }
        }
    }

    /** A scanned staff invitation: its QR payload joins like a typed code. */
    override fun onScanned(payload: String) {
        joinCode.setText(payload)
        join()
    }

    private fun join() = withWallet({ status.text = it }) { wallet ->
        val code = joinCode.text.toString().trim()
        if (code.isEmpty()) return@withWallet
        try {
            wallet.merchant().acceptInvitation(code)
            joinCode.setText("")
            status.text = ""
        } catch (e: WalletException) {
            status.text = walletErrorMessage(e)
        }
        load(wallet)
    }

    private companion object {
        const val PAYMENTS = 20
    }
}
