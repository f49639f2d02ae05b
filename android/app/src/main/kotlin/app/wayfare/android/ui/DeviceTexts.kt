package app.wayfare.android.ui

import android.content.Context

/**
 * The texts of what the app does with the phone itself (notification
 * permission, taps from the background, express taps, the phone's own
 * discovery, the background drain) in English and Chinese: the [Texts]
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

    object English : DeviceTexts() {
        override val notificationsOff =
            "Notifications are off. Guardian alerts, shop prompts and payment notices are kept here until you turn them on."
        override fun notificationsWaiting(count: Int) =
            if (count == 1) "1 notice is waiting." else "$count notices are waiting."
        override val notificationsEnable = "Turn on notifications"
        override val channelTaps = "Taps to pay"
        override fun tapTitle(merchant: String) = "Pay $merchant?"
        override val tapBody = "Open to see the amount and confirm."
    }

    object Chinese : DeviceTexts() {
        override val notificationsOff = "通知已关闭。监护提醒、商户提示和付款通知会保留在这里，直到您开启通知。"
        override fun notificationsWaiting(count: Int) = "有 $count 条通知等待显示。"
        override val notificationsEnable = "开启通知"
        override val channelTaps = "碰一碰付款"
        override fun tapTitle(merchant: String) = "向 $merchant 付款？"
        override val tapBody = "打开查看金额并确认。"
    }

    companion object {
        /** The table of the same language as [Texts.of]. */
        fun of(context: Context): DeviceTexts = of(Texts.of(context))

        fun of(texts: Texts): DeviceTexts = if (texts is Texts.Chinese) Chinese else English
    }
}
