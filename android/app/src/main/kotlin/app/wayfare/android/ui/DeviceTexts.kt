package app.wayfare.android.ui

import android.content.Context
import app.wayfare.android.ServerUrlException

/**
 * The texts of what the app does with the phone itself (notification
 * permission, taps from the background, express taps, the phone's own
 * discovery, the background drain, push, the control center a build names)
 * in English and Chinese: the [Texts]
 * pattern (one compiler-checked table per language, picked by the locale),
 * kept apart so that each table stays readable.
 */
sealed class DeviceTexts {
    // Notifications permission (Android 13+)
    abstract val notificationsOff: String
    abstract fun notificationsWaiting(count: Int): String
    abstract val notificationsEnable: String

    // A tap while the app is not in front
    abstract val channelTaps: String
    abstract fun tapTitle(merchant: String): String
    abstract val tapBody: String

    // Express taps
    abstract val expressButton: String
    abstract val expressTitle: String
    abstract val expressExplain: String
    abstract val expressEnabled: String
    abstract val expressPerTap: String
    abstract val expressTotal: String
    abstract val expressSave: String
    abstract val expressSync: String
    abstract val expressOff: String
    abstract val expressReady: String
    abstract val expressNotReady: String
    abstract fun expressAllowance(hint: String, spent: String, total: String, perTap: String, until: String): String
    abstract fun expressPending(count: Int): String
    abstract val expressSaved: String
    abstract fun expressNotFetched(reason: String): String
    abstract val expressInvalid: String
    abstract val expressNoDebt: String
    abstract fun expressDebt(amount: String, blocked: Boolean): String
    abstract fun expressSettled(count: Int): String

    // The nearby list's sources
    abstract fun source(source: app.wayfare.core.NearbySource): String
    abstract fun seenBy(sources: String): String
    abstract fun sourceUnavailable(source: String, reason: String): String

    // Scanning an invitation's QR code
    abstract val scanButton: String
    /** The scanner's title: what is scanned (null: an invitation of either kind). */
    abstract fun scanTitle(what: ScanActivity.Scanned?): String
    abstract val scanHint: String
    abstract val scanNoCamera: String
    abstract val scanNoPermission: String

    /** Why this build will not open the wallet (its control center was refused), in place of the name. */
    abstract fun serverRefused(problem: ServerUrlException.Problem, url: String?): String

    // A push whose details could not be fetched (the wallet unreachable): its own short text, or these
    abstract val pushFallbackTitle: String
    abstract val pushFallbackBody: String

    object English : DeviceTexts() {
        override val notificationsOff =
            "Notifications are off. Guardian alerts, shop prompts and payment notices are kept here until you turn them on."
        override fun notificationsWaiting(count: Int) =
            if (count == 1) "1 notice is waiting." else "$count notices are waiting."
        override val notificationsEnable = "Turn on notifications"
        override val channelTaps = "Taps to pay"
        override fun tapTitle(merchant: String) = "Pay $merchant?"
        override val tapBody = "Open to see the amount and confirm."
        override fun source(source: app.wayfare.core.NearbySource) = when (source) {
            app.wayfare.core.NearbySource.NFC -> "NFC tap"
            app.wayfare.core.NearbySource.BLE -> "Bluetooth"
            app.wayfare.core.NearbySource.MDNS -> "Wi-Fi (Wayfare)"
            app.wayfare.core.NearbySource.PLATFORM -> "Wi-Fi (Android)"
        }
        override fun seenBy(sources: String) = "Seen by $sources"
        override fun sourceUnavailable(source: String, reason: String) = "$source is unavailable: $reason"
        override val scanButton = "Scan the QR code"
        override fun scanTitle(what: ScanActivity.Scanned?) = when (what) {
            ScanActivity.Scanned.GUARDIAN_INVITATION -> "Scan a guardian invitation"
            ScanActivity.Scanned.STAFF_INVITATION -> "Scan a staff invitation"
            null -> "Scan an invitation"
        }
        override val scanHint = "Point the camera at the invitation's QR code."
        override val scanNoCamera = "No camera can be used on this phone: type the code instead."
        override val scanNoPermission = "Without the camera, type the code instead."
        override fun serverRefused(problem: ServerUrlException.Problem, url: String?) = when (problem) {
            ServerUrlException.Problem.NOT_CONFIGURED ->
                "This copy of Wayfare was built without the address of its control center, so it cannot open your wallet. " +
                    "Install the app your transport operator provides."
            ServerUrlException.Problem.MALFORMED ->
                "This copy of Wayfare names a control center that is not a web address (\"$url\"), so it cannot open your wallet."
            ServerUrlException.Problem.NOT_HTTPS ->
                "This copy of Wayfare would talk to its control center without encryption ($url). " +
                    "Payments need a secure (https) connection, so your wallet stays closed. " +
                    "Install the app your transport operator provides."
        }
        override val pushFallbackTitle = "Wayfare"
        override val pushFallbackBody = "Something happened on your account. Open the app to see it."
        override val expressButton = "Express taps"
        override val expressTitle = "Express taps"
        override val expressExplain =
            "With express taps on, a gate can charge this phone even without a connection, never more than the limits below."
        override val expressEnabled = "Express taps on"
        override val expressPerTap = "Largest fare per tap"
        override val expressTotal = "Largest total while offline"
        override val expressSave = "Save"
        override val expressSync = "Check with the server"
        override val expressOff = "Express taps are off: every gate asks online."
        override val expressReady = "Ready: gates can charge this phone offline."
        override val expressNotReady = "On, but no allowance is held yet: it is fetched when the phone is online."
        override fun expressAllowance(hint: String, spent: String, total: String, perTap: String, until: String) =
            "Allowance $hint: $spent of $total used, up to $perTap a tap, until $until"
        override fun expressPending(count: Int) =
            if (count == 1) "1 express tap not yet settled" else "$count express taps not yet settled"
        override val expressSaved = "Saved."
        override fun expressNotFetched(reason: String) = "Saved, but no allowance was fetched: $reason"
        override val expressInvalid = "Enter amounts like 5.00; the total must be at least the largest fare per tap."
        override val expressNoDebt = "Nothing is owed for express taps."
        override fun expressDebt(amount: String, blocked: Boolean) =
            if (blocked) "Express taps left $amount unpaid: they are paused until a top-up pays it."
            else "Express taps left $amount unpaid."
        override fun expressSettled(count: Int) = if (count == 1) "1 express tap settled recently" else "$count express taps settled recently"
    }

    object Chinese : DeviceTexts() {
        override val notificationsOff = "通知已关闭。监护提醒、商户提示和付款通知会保留在这里，直到您开启通知。"
        override fun notificationsWaiting(count: Int) = "有 $count 条通知等待显示。"
        override val notificationsEnable = "开启通知"
        override val channelTaps = "碰一碰付款"
        override fun tapTitle(merchant: String) = "向 $merchant 付款？"
        override val tapBody = "打开查看金额并确认。"
        override fun source(source: app.wayfare.core.NearbySource) = when (source) {
            app.wayfare.core.NearbySource.NFC -> "NFC 碰一碰"
            app.wayfare.core.NearbySource.BLE -> "蓝牙"
            app.wayfare.core.NearbySource.MDNS -> "Wi-Fi（Wayfare）"
            app.wayfare.core.NearbySource.PLATFORM -> "Wi-Fi（Android）"
        }
        override fun seenBy(sources: String) = "发现方式：$sources"
        override fun sourceUnavailable(source: String, reason: String) = "$source 不可用：$reason"
        override val scanButton = "扫描二维码"
        override fun scanTitle(what: ScanActivity.Scanned?) = when (what) {
            ScanActivity.Scanned.GUARDIAN_INVITATION -> "扫描监护邀请"
            ScanActivity.Scanned.STAFF_INVITATION -> "扫描店员邀请"
            null -> "扫描邀请"
        }
        override val scanHint = "将相机对准邀请的二维码。"
        override val scanNoCamera = "本机没有可用的相机：请输入邀请码。"
        override val scanNoPermission = "未允许使用相机：请输入邀请码。"
        override fun serverRefused(problem: ServerUrlException.Problem, url: String?) = when (problem) {
            ServerUrlException.Problem.NOT_CONFIGURED ->
                "此版本的 Wayfare 构建时没有设置控制中心地址，因此无法打开您的钱包。请安装交通运营方提供的应用。"
            ServerUrlException.Problem.MALFORMED ->
                "此版本的 Wayfare 设置的控制中心不是有效的网址（“$url”），因此无法打开您的钱包。"
            ServerUrlException.Problem.NOT_HTTPS ->
                "此版本的 Wayfare 会以不加密的方式连接控制中心（$url）。付款需要安全连接（https），因此钱包保持关闭。请安装交通运营方提供的应用。"
        }
        override val pushFallbackTitle = "Wayfare"
        override val pushFallbackBody = "您的账户有新动态。打开应用查看。"
        override val expressButton = "快速通行"
        override val expressTitle = "快速通行"
        override val expressExplain = "开启后，即使手机没有网络，闸机也可以扣费，但绝不超过下面的限额。"
        override val expressEnabled = "开启快速通行"
        override val expressPerTap = "单次最高车费"
        override val expressTotal = "离线累计最高金额"
        override val expressSave = "保存"
        override val expressSync = "与服务器核对"
        override val expressOff = "快速通行已关闭：每个闸机都会在线确认。"
        override val expressReady = "已就绪：闸机可以离线扣费。"
        override val expressNotReady = "已开启，但尚未取得额度：手机联网时会自动获取。"
        override fun expressAllowance(hint: String, spent: String, total: String, perTap: String, until: String) =
            "额度 $hint：已用 $spent / $total，每次最多 $perTap，有效至 $until"
        override fun expressPending(count: Int) = "$count 笔快速通行尚未结算"
        override val expressSaved = "已保存。"
        override fun expressNotFetched(reason: String) = "已保存，但未取得额度：$reason"
        override val expressInvalid = "请输入如 5.00 的金额；累计金额不能低于单次最高车费。"
        override val expressNoDebt = "快速通行没有欠款。"
        override fun expressDebt(amount: String, blocked: Boolean) =
            if (blocked) "快速通行尚欠 $amount：充值还清前暂停使用。" else "快速通行尚欠 $amount。"
        override fun expressSettled(count: Int) = "最近结算了 $count 笔快速通行"
    }

    companion object {
        /** The table of the same language as [Texts.of]. */
        fun of(context: Context): DeviceTexts = of(Texts.of(context))

        fun of(texts: Texts): DeviceTexts = if (texts is Texts.Chinese) Chinese else English
    }
}
