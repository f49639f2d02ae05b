package app.wayfare.android.ui

import android.content.Context
import java.util.Locale

/**
 * Every sentence the app shows, in English and Chinese.
 *
 * The texts live in Kotlin rather than in `res/values/strings.xml` because
 * `R.string` needs aapt2 (Android's resource compiler), which the JVM build
 * here cannot run; one table per language keeps both languages checked by
 * the compiler (a missing text is a build error, not a blank view).
 * `res/values*` holds only what the manifest and the HCE registration name.
 */
sealed class Texts {
    abstract val appName: String
    abstract val openingWallet: String
    abstract val openFailed: String

    // Registration (first run)
    abstract val registerTitle: String
    abstract val registerIntro: String
    abstract val registerNameHint: String
    abstract val registerPhoneHint: String
    abstract val registerButton: String
    abstract val registering: String
    abstract val registerNameMissing: String

    // Home
    abstract val balanceLabel: String
    abstract fun points(points: Long): String
    abstract val historyTitle: String
    abstract val historyEmpty: String
    abstract val payButton: String
    abstract val refreshButton: String
    abstract val topUp: String
    abstract val refund: String
    abstract val adjustment: String
    abstract fun receiptLine(paymentId: String, description: String): String
    abstract fun pendingPayments(n: Int): String

    // Nearby terminals
    abstract val nearbyTitle: String
    abstract val searching: String
    abstract val noneFound: String
    abstract val searchAgain: String
    abstract val typeInTitle: String
    abstract val hostHint: String
    abstract val portHint: String
    abstract val connectButton: String
    abstract val typeInInvalid: String
    abstract fun kindName(kind: app.wayfare.core.TerminalKind): String

    // Payment sheet
    abstract val sheetTitle: String
    abstract val connecting: String
    abstract val waitingForRequest: String
    abstract val certifiedMerchant: String
    abstract val amountLabel: String
    abstract val descriptionLabel: String
    abstract fun fareLine(line: String, station: String, from: String, towards: String): String
    abstract fun entryLine(station: String): String
    abstract val confirmButton: String
    abstract val declineButton: String
    abstract val paying: String
    abstract val declineReason: String

    // Outcome
    abstract val outcomeTitle: String
    abstract val paidTitle: String
    abstract fun paidBody(amount: String, merchant: String, balance: String): String
    abstract val terminalAccepted: String
    abstract fun terminalSaid(message: String): String
    abstract val declinedTitle: String
    abstract val declinedBody: String
    abstract val pendingTitle: String
    abstract val pendingBody: String
    abstract val insufficientTitle: String
    abstract fun insufficientBody(amount: String, balance: String?): String
    abstract val expiredTitle: String
    abstract val expiredBody: String
    abstract val refusedTitle: String
    abstract fun refusedBody(reason: String): String
    abstract val untrustedTitle: String
    abstract val untrustedBody: String
    abstract val busyTitle: String
    abstract val busyBody: String
    abstract val unreachableTitle: String
    abstract val unreachableBody: String
    abstract val guardianLimitTitle: String
    abstract val failedTitle: String
    abstract val doneButton: String
    abstract fun receiptId(paymentId: String): String

    // NFC
    abstract val tapFailed: String

    object English : Texts() {
        override val appName = "Wayfare"
        override val openingWallet = "Opening your wallet…"
        override val openFailed = "Your wallet could not be opened."
        override val registerTitle = "Welcome to Wayfare"
        override val registerIntro =
            "Pay fares and shops by holding your phone near the reader. Terminals never see your phone number."
        override val registerNameHint = "Your name"
        override val registerPhoneHint = "Phone number (optional, kept by Wayfare only)"
        override val registerButton = "Create my wallet"
        override val registering = "Creating your wallet…"
        override val registerNameMissing = "Please enter your name."
        override val balanceLabel = "Balance"
        override fun points(points: Long) = "$points points"
        override val historyTitle = "History"
        override val historyEmpty = "No payments yet."
        override val payButton = "Pay at a terminal"
        override val refreshButton = "Refresh"
        override val topUp = "Top-up"
        override val refund = "Refund"
        override val adjustment = "Adjustment"
        override fun receiptLine(paymentId: String, description: String) =
            if (description.isEmpty()) "Receipt $paymentId" else "Receipt $paymentId · $description"
        override fun pendingPayments(n: Int) =
            if (n == 1) "1 payment is waiting for the server; you will not be charged twice."
            else "$n payments are waiting for the server; you will not be charged twice."

        override val nearbyTitle = "Terminals nearby"
        override val searching = "Looking for terminals…"
        override val noneFound = "No terminal found nearby."
        override val searchAgain = "Search again"
        override val typeInTitle = "Or type in a terminal"
        override val hostHint = "Address"
        override val portHint = "Port"
        override val connectButton = "Connect"
        override val typeInInvalid = "Enter the terminal's address and port."
        override fun kindName(kind: app.wayfare.core.TerminalKind) = when (kind) {
            app.wayfare.core.TerminalKind.POS -> "Shop till"
            app.wayfare.core.TerminalKind.TRAM -> "Tram reader"
            app.wayfare.core.TerminalKind.GATE -> "Station gate"
            app.wayfare.core.TerminalKind.TOP_UP -> "Top-up kiosk"
        }
        override val sheetTitle = "Payment"
        override val connecting = "Connecting to the terminal…"
        override val waitingForRequest = "Connected. Waiting for the terminal to ask for a payment…"
        override val certifiedMerchant = "Certified merchant"
        override val amountLabel = "Amount"
        override val descriptionLabel = "For"
        override fun fareLine(line: String, station: String, from: String, towards: String) =
            "Line $line at $station, from $from towards $towards"
        override fun entryLine(station: String) = "Entered at $station"
        override val confirmButton = "Confirm"
        override val declineButton = "Decline"
        override val paying = "Paying…"
        override val declineReason = "declined by the rider"
        override val outcomeTitle = "Payment"
        override val paidTitle = "Paid"
        override fun paidBody(amount: String, merchant: String, balance: String) =
            "You paid $amount to $merchant. Your balance is now $balance."
        override val terminalAccepted = "The terminal accepted the payment."
        override fun terminalSaid(message: String) = "The terminal says: $message"
        override val declinedTitle = "Declined"
        override val declinedBody = "You declined. Nothing was paid."
        override val pendingTitle = "Payment pending"
        override val pendingBody =
            "We could not hear back from the payment server yet. Your payment is kept and will be finished automatically. You will not be charged twice; if the terminal asks again, tap again to finish the same order."
        override val insufficientTitle = "Not enough money"
        override fun insufficientBody(amount: String, balance: String?) =
            if (balance != null) "Your balance of $balance does not cover $amount. Nothing was paid. Top up your wallet and try again."
            else "Your balance does not cover $amount. Nothing was paid. Top up your wallet and try again."
        override val expiredTitle = "Too late"
        override val expiredBody = "The terminal's request expired before it was paid. Nothing was paid; ask for a new one."
        override val refusedTitle = "Paid, but the terminal refused"
        override fun refusedBody(reason: String) = "Your payment went through and its receipt is kept, but the terminal did not accept it: $reason"
        override val untrustedTitle = "Not a genuine terminal"
        override val untrustedBody = "This terminal could not prove it is certified by the operator. Nothing was sent to it."
        override val busyTitle = "Terminal busy"
        override val busyBody = "The terminal is serving someone else. Try again in a moment."
        override val unreachableTitle = "Terminal out of reach"
        override val unreachableBody = "The terminal could not be reached. Move closer or try again."
        override val guardianLimitTitle = "Limit reached"
        override val failedTitle = "Payment not completed"
        override val doneButton = "Done"
        override fun receiptId(paymentId: String) = "Receipt $paymentId"
        override val tapFailed = "The tap did not work. Hold your phone to the reader again."
    }

    object Chinese : Texts() {
        override val appName = "Wayfare"
        override val openingWallet = "正在打开钱包…"
        override val openFailed = "无法打开钱包。"
        override val registerTitle = "欢迎使用 Wayfare"
        override val registerIntro = "把手机靠近读卡器即可支付车费和购物。终端永远看不到您的手机号码。"
        override val registerNameHint = "您的姓名"
        override val registerPhoneHint = "手机号码（可选，仅 Wayfare 保存）"
        override val registerButton = "创建我的钱包"
        override val registering = "正在创建钱包…"
        override val registerNameMissing = "请输入您的姓名。"
        override val balanceLabel = "余额"
        override fun points(points: Long) = "$points 积分"
        override val historyTitle = "记录"
        override val historyEmpty = "还没有支付记录。"
        override val payButton = "在终端支付"
        override val refreshButton = "刷新"
        override val topUp = "充值"
        override val refund = "退款"
        override val adjustment = "调整"
        override fun receiptLine(paymentId: String, description: String) =
            if (description.isEmpty()) "收据 $paymentId" else "收据 $paymentId · $description"
        override fun pendingPayments(n: Int) = "$n 笔支付正在等待服务器确认，不会重复扣款。"
        override val nearbyTitle = "附近的终端"
        override val searching = "正在寻找终端…"
        override val noneFound = "附近没有找到终端。"
        override val searchAgain = "重新搜索"
        override val typeInTitle = "或手动输入终端"
        override val hostHint = "地址"
        override val portHint = "端口"
        override val connectButton = "连接"
        override val typeInInvalid = "请输入终端的地址和端口。"
        override fun kindName(kind: app.wayfare.core.TerminalKind) = when (kind) {
            app.wayfare.core.TerminalKind.POS -> "商店收银台"
            app.wayfare.core.TerminalKind.TRAM -> "电车读卡器"
            app.wayfare.core.TerminalKind.GATE -> "车站闸机"
            app.wayfare.core.TerminalKind.TOP_UP -> "充值机"
        }
        override val sheetTitle = "支付"
        override val connecting = "正在连接终端…"
        override val waitingForRequest = "已连接，正在等待终端发起支付…"
        override val certifiedMerchant = "认证商户"
        override val amountLabel = "金额"
        override val descriptionLabel = "用途"
        override fun fareLine(line: String, station: String, from: String, towards: String) =
            "$line 线 $station 站，$from 开往 $towards"
        override fun entryLine(station: String) = "进站：$station"
        override val confirmButton = "确认"
        override val declineButton = "拒绝"
        override val paying = "正在支付…"
        override val declineReason = "乘客拒绝"
        override val outcomeTitle = "支付"
        override val paidTitle = "已支付"
        override fun paidBody(amount: String, merchant: String, balance: String) =
            "您已向 $merchant 支付 $amount。当前余额 $balance。"
        override val terminalAccepted = "终端已接受这笔支付。"
        override fun terminalSaid(message: String) = "终端提示：$message"
        override val declinedTitle = "已拒绝"
        override val declinedBody = "您已拒绝，没有付款。"
        override val pendingTitle = "支付处理中"
        override val pendingBody = "暂时没有收到支付服务器的答复。这笔支付已保存，会自动完成，不会重复扣款；如果终端再次请求，请再刷一次以完成同一订单。"
        override val insufficientTitle = "余额不足"
        override fun insufficientBody(amount: String, balance: String?) =
            if (balance != null) "您的余额 $balance 不足以支付 $amount，没有付款。请充值后再试。"
            else "您的余额不足以支付 $amount，没有付款。请充值后再试。"
        override val expiredTitle = "已超时"
        override val expiredBody = "终端的支付请求在付款前已过期，没有付款。请让终端重新发起。"
        override val refusedTitle = "已付款，但终端未接受"
        override fun refusedBody(reason: String) = "您的付款已完成，收据已保存，但终端没有接受：$reason"
        override val untrustedTitle = "不是正规终端"
        override val untrustedBody = "该终端无法证明它经过运营方认证，没有向它发送任何信息。"
        override val busyTitle = "终端忙"
        override val busyBody = "终端正在为其他人服务，请稍后再试。"
        override val unreachableTitle = "无法连接终端"
        override val unreachableBody = "无法连接到终端，请靠近或重试。"
        override val guardianLimitTitle = "已达限额"
        override val failedTitle = "支付未完成"
        override val doneButton = "完成"
        override fun receiptId(paymentId: String) = "收据 $paymentId"
        override val tapFailed = "刷卡未成功，请再次将手机靠近读卡器。"
    }

    companion object {
        /** The table for the context's current locale (Chinese for any `zh`, else English). */
        fun of(context: Context): Texts = of(context.resources.configuration.locales[0])

        fun of(locale: Locale): Texts = if (locale.language == "zh") Chinese else English
    }
}
