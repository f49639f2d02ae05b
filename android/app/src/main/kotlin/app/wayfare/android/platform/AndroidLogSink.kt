package app.wayfare.android.platform

import android.util.Log
import app.wayfare.core.LogLevel
import app.wayfare.core.LogSink

/**
 * The core's `LogSink` foreign trait on `android.util.Log` (logcat). The core
 * filters per target before crossing the FFI and logs no identifiers, keys or
 * phone numbers; the Rust module (`wayfare_core::payments`) becomes the tag's
 * suffix, shortened to what logcat shows.
 */
class AndroidLogSink : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val tag = tagFor(target)
        when (level) {
            LogLevel.ERROR -> Log.e(tag, message)
            LogLevel.WARN -> Log.w(tag, message)
            LogLevel.INFO -> Log.i(tag, message)
            LogLevel.DEBUG -> Log.d(tag, message)
            LogLevel.TRACE -> Log.v(tag, message)
        }
    }

    companion object {
        /** `wayfare_core::payments` → `Wayfare/payments` (at most 23 characters, logcat's old limit). */
        fun tagFor(target: String): String {
            val module = target.substringAfterLast("::")
            return ("Wayfare/" + if (module == "wayfare_core") "core" else module).take(23)
        }
    }
}
