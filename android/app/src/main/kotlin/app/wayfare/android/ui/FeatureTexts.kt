package app.wayfare.android.ui

import android.content.Context
import app.wayfare.core.GuardianScope

/**
 * The texts of the taps, top-ups, points, guardian screens and
 * notifications, in English and Chinese: the same pattern as [Texts] (one
 * Kotlin table per language, checked by the compiler, picked by the
 * locale), kept apart so that each table stays readable.
 */
sealed class FeatureTexts {
    // Taps at gates, trams and kiosks
    abstract val enteredTitle: String
    abstract fun enteredBody(station: String, line: String): String
    abstract val offerTitle: String
    abstract val offerFrom: String
    abstract val offerAmount: String
    abstract val offerExplain: String
    abstract val acceptButton: String
    abstract val declineButton: String
    abstract val offerDeclineReason: String
    abstract val accepting: String
    abstract val toppedUpTitle: String
    abstract fun toppedUpBody(amount: String, merchant: String, balance: String): String
    abstract val topUpDeclinedTitle: String
    abstract val topUpDeclinedBody: String
    abstract val topUpPendingTitle: String
    abstract val topUpPendingBody: String
    abstract val offerExpiredTitle: String
    abstract val offerExpiredBody: String
    abstract val offerClaimedTitle: String
    abstract val offerClaimedBody: String

    // Points on the payment sheet
    abstract fun usePoints(points: Long): String
    abstract val noPoints: String
    abstract fun pointsSplit(points: Long, pointsValue: String, money: String): String
    /** After paying: what the points paid of the amount (the receipt's `pointsSpent`, `pointsValueMinor`). */
    abstract fun pointsPaid(points: Long, pointsValue: String): String

    // Over-the-air top-up screen
    abstract val topUpButton: String
    abstract val topUpTitle: String
    abstract val topUpAmountHint: String
    abstract val topUpNoProviders: String
    abstract val topUpAmountInvalid: String
    abstract fun topUpWith(provider: String): String
    abstract val topUpStarting: String
    abstract fun topUpReference(reference: String): String
    abstract val openCheckout: String
    abstract val topUpWaiting: String
    abstract fun topUpConfirmed(amount: String): String
    abstract fun topUpFailed(reason: String?): String
    abstract val topUpExpired: String

    // Guardians
    abstract val guardiansButton: String
    abstract val guardianTitle: String
    abstract val guardianInvite: String
    abstract val guardianScope: String
    abstract val scopeTransit: String
    abstract val scopeAll: String
    abstract val shownAs: String
    abstract val shownAsNickname: String
    abstract val shownAsPhoneTail: String
    abstract val inviteCreate: String
    abstract val inviteCode: String
    abstract fun inviteExpires(time: String): String
    abstract val qrAsText: String
    abstract val guardianAccept: String
    abstract val acceptPlaceholder: String
    abstract val acceptSubmit: String
    abstract val myGuardians: String
    abstract val myRiders: String
    abstract val none: String
    /** A binding's scope in words (the core's enum, never a string compare). */
    fun scopeText(scope: GuardianScope): String = when (scope) {
        GuardianScope.TRANSIT_ONLY -> scopeTransit
        GuardianScope.ALL_PAYMENTS -> scopeAll
    }
    abstract fun limitValue(amount: String): String
    abstract val limitNone: String
    abstract val limitPlaceholder: String
    abstract val limitSet: String
    abstract val limitClear: String
    abstract val revoke: String
    abstract val leave: String
    abstract val alerts: String
    abstract val alertsEmpty: String
    abstract val amountInvalid: String

    // Notifications
    abstract val channelAlerts: String
    abstract val channelPrompts: String
    abstract val channelPayments: String
    abstract fun notifyPaid(merchant: String): String
    abstract val notifyFailed: String
    abstract val notifyFailedRetry: String
    abstract fun notifyAlert(rider: String): String
    abstract val notifyPrompt: String
    abstract val notifyPromptHidden: String
    abstract val notifyTopUp: String
    abstract fun notifyTopUpBody(amount: String): String
    abstract val notifyTopUpFailed: String
    abstract val notifyTopUpFailedBody: String

    /** The alert's own sentence in this language (the core writes both). */
    abstract fun alertText(en: String, zh: String): String

    object English : FeatureTexts() {
        override val enteredTitle = "Tapped in"
        override fun enteredBody(station: String, line: String) =
            if (line.isEmpty()) "Tapped in at $station. Your fare is charged when you tap out."
            else "Tapped in at $station (line $line). Your fare is charged when you tap out."
        override val offerTitle = "Top-up"
        override val offerFrom = "Kiosk of"
        override val offerAmount = "Cash to add"
        override val offerExplain = "The cashier took your cash. Accept to add it to your wallet."
        override val acceptButton = "Accept"
        override val declineButton = "Decline"
        override val offerDeclineReason = "declined by the rider"
        override val accepting = "Adding the money…"
        override val toppedUpTitle = "Topped up"
        override fun toppedUpBody(amount: String, merchant: String, balance: String) =
            "$amount from $merchant was added. Your balance is now $balance."
        override val topUpDeclinedTitle = "Top-up declined"
        override val topUpDeclinedBody = "Nothing was added to your wallet. Ask the cashier for your cash back."
        override val topUpPendingTitle = "Top-up pending"
        override val topUpPendingBody =
            "We could not confirm the top-up yet. Your cash is not lost: the kiosk settles it with the server and the money arrives in your wallet."
        override val offerExpiredTitle = "Offer expired"
        override val offerExpiredBody = "The kiosk's offer expired before it was accepted. Nothing was added; ask the cashier to enter it again."
        override val offerClaimedTitle = "Already taken"
        override val offerClaimedBody = "This top-up went to another wallet. Ask the cashier."

        override fun usePoints(points: Long) = "Pay with points ($points available)"
        override val noPoints = "Pay without points"
        override fun pointsSplit(points: Long, pointsValue: String, money: String) =
            "$points points ($pointsValue) + $money from your balance"
        override fun pointsPaid(points: Long, pointsValue: String) = "$points points paid $pointsValue of it."

        override val topUpButton = "Top up"
        override val topUpTitle = "Top up over the air"
        override val topUpAmountHint = "Amount (e.g. 50.00)"
        override val topUpNoProviders = "Top-up over the air is not available."
        override val topUpAmountInvalid = "Enter an amount."
        override fun topUpWith(provider: String) = "Top up with $provider"
        override val topUpStarting = "Starting the top-up…"
        override fun topUpReference(reference: String) = "Reference $reference"
        override val openCheckout = "Open the payment page"
        override val topUpWaiting = "Waiting for the provider to confirm…"
        override fun topUpConfirmed(amount: String) = "$amount added to your wallet."
        override fun topUpFailed(reason: String?) =
            if (reason.isNullOrBlank()) "The top-up failed. Nothing was added." else "The top-up failed: $reason. Nothing was added."
        override val topUpExpired = "The payment page expired. If you paid, the money still arrives."

        override val guardiansButton = "Guardians"
        override val guardianTitle = "Guardians"
        override val guardianInvite = "Invite a guardian"
        override val guardianScope = "Shares"
        override val scopeTransit = "Rides only"
        override val scopeAll = "All payments"
        override val shownAs = "Show me as"
        override val shownAsNickname = "My name"
        override val shownAsPhoneTail = "Last digits of my phone"
        override val inviteCreate = "Create invitation"
        override val inviteCode = "Show this to your guardian"
        override fun inviteExpires(time: String) = "Valid until $time, once"
        override val qrAsText = "QR code content"
        override val guardianAccept = "Accept an invitation"
        override val acceptPlaceholder = "Invitation code"
        override val acceptSubmit = "Accept"
        override val myGuardians = "My guardians"
        override val myRiders = "Riders I look after"
        override val none = "None"
        override fun limitValue(amount: String) = "limit $amount a day"
        override val limitNone = "No limit"
        override val limitPlaceholder = "Daily limit (e.g. 20.00)"
        override val limitSet = "Set limit"
        override val limitClear = "Remove limit"
        override val revoke = "Revoke"
        override val leave = "Leave"
        override val alerts = "Alerts"
        override val alertsEmpty = "No alerts yet"
        override val amountInvalid = "Enter an amount."

        override val channelAlerts = "Guardian alerts"
        override val channelPrompts = "Payments received"
        override val channelPayments = "Payments and top-ups"
        override fun notifyPaid(merchant: String) = "Paid $merchant"
        override val notifyFailed = "Payment not completed"
        override val notifyFailedRetry = "It will be retried; you will not be charged twice."
        override fun notifyAlert(rider: String) = "$rider paid"
        override val notifyPrompt = "Payment received"
        override val notifyPromptHidden = "A payment was confirmed"
        override val notifyTopUp = "Top-up received"
        override fun notifyTopUpBody(amount: String) = "$amount added to your wallet"
        override val notifyTopUpFailed = "Top-up not completed"
        override val notifyTopUpFailedBody = "Nothing was added to your wallet."
        override fun alertText(en: String, zh: String) = en
    }

    object Chinese : FeatureTexts() {
        override val enteredTitle = "已进站"
        override fun enteredBody(station: String, line: String) =
            if (line.isEmpty()) "已在 $station 进站，出站时扣费。" else "已在 $station 进站（$line 线），出站时扣费。"
        override val offerTitle = "充值"
        override val offerFrom = "充值点"
        override val offerAmount = "充入现金"
        override val offerExplain = "收银员已收下您的现金。接受后即充入钱包。"
        override val acceptButton = "接受"
        override val declineButton = "拒绝"
        override val offerDeclineReason = "乘客拒绝"
        override val accepting = "正在充值…"
        override val toppedUpTitle = "充值成功"
        override fun toppedUpBody(amount: String, merchant: String, balance: String) =
            "已从 $merchant 充入 $amount。当前余额 $balance。"
        override val topUpDeclinedTitle = "已拒绝充值"
        override val topUpDeclinedBody = "钱包没有变化。请向收银员取回现金。"
        override val topUpPendingTitle = "充值处理中"
        override val topUpPendingBody = "暂时无法确认这笔充值。您的现金不会丢失：充值机会与服务器结算，钱会到账。"
        override val offerExpiredTitle = "充值已过期"
        override val offerExpiredBody = "充值在接受前已过期，没有到账。请让收银员重新输入。"
        override val offerClaimedTitle = "已被领取"
        override val offerClaimedBody = "这笔充值已进入另一个钱包，请联系收银员。"

        override fun usePoints(points: Long) = "使用积分（可用 $points）"
        override val noPoints = "不使用积分"
        override fun pointsSplit(points: Long, pointsValue: String, money: String) =
            "$points 积分（$pointsValue）+ 余额 $money"
        override fun pointsPaid(points: Long, pointsValue: String) = "其中 $points 积分抵扣 $pointsValue。"

        override val topUpButton = "充值"
        override val topUpTitle = "在线充值"
        override val topUpAmountHint = "金额（例如 50.00）"
        override val topUpNoProviders = "暂不支持在线充值。"
        override val topUpAmountInvalid = "请输入金额。"
        override fun topUpWith(provider: String) = "通过 $provider 充值"
        override val topUpStarting = "正在发起充值…"
        override fun topUpReference(reference: String) = "参考号 $reference"
        override val openCheckout = "打开支付页面"
        override val topUpWaiting = "正在等待支付方确认…"
        override fun topUpConfirmed(amount: String) = "已向钱包充值 $amount。"
        override fun topUpFailed(reason: String?) =
            if (reason.isNullOrBlank()) "充值失败，钱包没有变化。" else "充值失败：$reason。钱包没有变化。"
        override val topUpExpired = "支付页面已过期。如果您已付款，钱仍会到账。"

        override val guardiansButton = "监护"
        override val guardianTitle = "监护"
        override val guardianInvite = "邀请监护人"
        override val guardianScope = "共享范围"
        override val scopeTransit = "仅乘车"
        override val scopeAll = "所有付款"
        override val shownAs = "显示为"
        override val shownAsNickname = "我的名字"
        override val shownAsPhoneTail = "手机号后几位"
        override val inviteCreate = "创建邀请"
        override val inviteCode = "请给你的监护人看"
        override fun inviteExpires(time: String) = "有效期至 $time，仅可使用一次"
        override val qrAsText = "二维码内容"
        override val guardianAccept = "接受邀请"
        override val acceptPlaceholder = "邀请码"
        override val acceptSubmit = "接受"
        override val myGuardians = "我的监护人"
        override val myRiders = "我监护的乘客"
        override val none = "无"
        override fun limitValue(amount: String) = "每日限额 $amount"
        override val limitNone = "无限额"
        override val limitPlaceholder = "每日限额（例如 20.00）"
        override val limitSet = "设定限额"
        override val limitClear = "取消限额"
        override val revoke = "解除"
        override val leave = "退出"
        override val alerts = "提醒"
        override val alertsEmpty = "还没有提醒"
        override val amountInvalid = "请输入金额。"

        override val channelAlerts = "监护提醒"
        override val channelPrompts = "收款到账"
        override val channelPayments = "付款和充值"
        override fun notifyPaid(merchant: String) = "已向 $merchant 付款"
        override val notifyFailed = "付款未完成"
        override val notifyFailedRetry = "将会重试；你不会被重复扣款。"
        override fun notifyAlert(rider: String) = "$rider 付款了"
        override val notifyPrompt = "收款到账"
        override val notifyPromptHidden = "一笔付款已确认"
        override val notifyTopUp = "充值到账"
        override fun notifyTopUpBody(amount: String) = "已向钱包充值 $amount"
        override val notifyTopUpFailed = "充值未完成"
        override val notifyTopUpFailedBody = "钱包余额没有变化。"
        override fun alertText(en: String, zh: String) = zh.ifEmpty { en }
    }

    companion object {
        /** The table of the same language as [Texts.of]. */
        fun of(context: Context): FeatureTexts = of(Texts.of(context))

        fun of(texts: Texts): FeatureTexts = if (texts is Texts.Chinese) Chinese else English

        /** "50.00" or "50" → 5000 minor units; null when it is not an amount. */
        fun parseAmount(text: String): Long? {
            val t = text.trim()
            if (!Regex("""\d{1,7}(\.\d{1,2})?""").matches(t)) return null
            val (whole, frac) = t.split('.').let { it[0] to (it.getOrNull(1) ?: "") }
            return whole.toLong() * 100 + frac.padEnd(2, '0').toLong()
        }
    }
}
