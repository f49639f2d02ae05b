package app.wayfare.android.ui

import app.wayfare.core.MerchantOperation
import app.wayfare.core.MerchantRole
import app.wayfare.core.PromptAttribute

/**
 * The merchant screens' texts in English and Chinese (the [Texts] pattern:
 * one compiler-checked table per language), the same words as the iOS app.
 */
sealed class MerchantTexts {
    abstract val button: String
    abstract val title: String
    abstract val none: String
    /** Above the buttons that pick which of several merchants the screen shows. */
    abstract val chooseMerchant: String
    abstract fun role(role: MerchantRole): String
    abstract val feed: String
    abstract val feedEmpty: String
    abstract val staff: String
    abstract val staffInvite: String
    abstract val labelPlaceholder: String
    abstract val operations: String
    abstract val content: String
    abstract fun invitation(label: String): String
    abstract val revoke: String
    abstract val revoked: String
    abstract val join: String
    abstract val joinPlaceholder: String
    abstract val joinSubmit: String
    abstract val refunds: String
    abstract val refundSubmit: String
    abstract fun refunded(amount: String, remaining: String): String
    abstract fun operation(op: MerchantOperation): String
    abstract val promptSettings: String
    abstract val promptShowText: String
    abstract val promptSpeak: String
    abstract val promptVibrate: String
    abstract val changeScopes: String
    abstract val saveScopes: String
    abstract val refundAmountHint: String
    abstract val refundReasonHint: String
    abstract val refundAmountInvalid: String
    abstract fun attribute(attr: PromptAttribute): String

    object English : MerchantTexts() {
        override val button = "Merchant"
        override val title = "Merchant"
        override val none = "This account is not a member of any merchant."
        override val chooseMerchant = "Your merchants: tap one to show it"
        override fun role(role: MerchantRole) = if (role == MerchantRole.OWNER) "Owner" else "Staff"
        override val feed = "Live prompts"
        override val feedEmpty = "Payments confirmed for your shop appear here"
        override val staff = "Staff"
        override val staffInvite = "Invite staff"
        override val labelPlaceholder = "Label, e.g. Front counter"
        override val operations = "May"
        override val content = "Prompts show"
        override fun invitation(label: String) = "Invitation for $label"
        override val revoke = "Revoke"
        override val revoked = "Revoked"
        override val join = "Join a merchant"
        override val joinPlaceholder = "Staff invitation code"
        override val joinSubmit = "Join"
        override val refunds = "Payments and refunds"
        override val refundSubmit = "Refund"
        override fun refunded(amount: String, remaining: String) = "$amount refunded; $remaining left to refund"
        override val promptSettings = "Prompts on this phone"
        override val promptShowText = "Show the prompt's text"
        override val promptSpeak = "Speak it"
        override val promptVibrate = "Vibrate"
        override val changeScopes = "Change what they may do"
        override val saveScopes = "Save"
        override val refundAmountHint = "Amount (empty: all that is left)"
        override val refundReasonHint = "Reason (optional)"
        override val refundAmountInvalid = "Enter an amount like 1.50, or leave it empty to refund all that is left."
        override fun operation(op: MerchantOperation) = when (op) {
            MerchantOperation.RECEIVE_PROMPTS -> "Receive prompts"
            MerchantOperation.VIEW_HISTORY -> "See payments"
            MerchantOperation.REFUND -> "Refund"
        }
        override fun attribute(attr: PromptAttribute) = when (attr) {
            PromptAttribute.ORDER_ID -> "Order number"
            PromptAttribute.PAYER_NAME -> "Payer"
            PromptAttribute.PAYEE_NAME -> "Payee"
            PromptAttribute.PAYMENT_TYPE -> "Payment type"
            PromptAttribute.AMOUNT -> "Amount"
            PromptAttribute.TIME -> "Time"
            PromptAttribute.PAYMENT_PLATFORM -> "Platform"
        }
    }

    object Chinese : MerchantTexts() {
        override val button = "商户"
        override val title = "商户"
        override val none = "该账户不是任何商户的成员。"
        override val chooseMerchant = "你的商户：点按即可切换"
        override fun role(role: MerchantRole) = if (role == MerchantRole.OWNER) "店主" else "店员"
        override val feed = "实时收款提醒"
        override val feedEmpty = "你店铺确认的付款会显示在这里"
        override val staff = "店员"
        override val staffInvite = "邀请店员"
        override val labelPlaceholder = "备注，例如：前台"
        override val operations = "权限"
        override val content = "提醒显示内容"
        override fun invitation(label: String) = "给 $label 的邀请"
        override val revoke = "撤销"
        override val revoked = "已撤销"
        override val join = "加入商户"
        override val joinPlaceholder = "店员邀请码"
        override val joinSubmit = "加入"
        override val refunds = "收款与退款"
        override val refundSubmit = "退款"
        override fun refunded(amount: String, remaining: String) = "已退 $amount，可退余额 $remaining"
        override val promptSettings = "本机提醒方式"
        override val promptShowText = "显示提醒文字"
        override val promptSpeak = "语音播报"
        override val promptVibrate = "振动"
        override val changeScopes = "修改权限"
        override val saveScopes = "保存"
        override val refundAmountHint = "金额（留空：退还剩余全部）"
        override val refundReasonHint = "原因（可选）"
        override val refundAmountInvalid = "请输入如 1.50 的金额，或留空以退还剩余全部。"
        override fun operation(op: MerchantOperation) = when (op) {
            MerchantOperation.RECEIVE_PROMPTS -> "接收提醒"
            MerchantOperation.VIEW_HISTORY -> "查看收款"
            MerchantOperation.REFUND -> "退款"
        }
        override fun attribute(attr: PromptAttribute) = when (attr) {
            PromptAttribute.ORDER_ID -> "订单号"
            PromptAttribute.PAYER_NAME -> "付款人"
            PromptAttribute.PAYEE_NAME -> "收款方"
            PromptAttribute.PAYMENT_TYPE -> "付款方式"
            PromptAttribute.AMOUNT -> "金额"
            PromptAttribute.TIME -> "时间"
            PromptAttribute.PAYMENT_PLATFORM -> "支付平台"
        }
    }

    companion object {
        fun of(texts: Texts): MerchantTexts = if (texts is Texts.Chinese) Chinese else English
    }
}
