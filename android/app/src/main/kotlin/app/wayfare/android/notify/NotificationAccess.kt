package app.wayfare.android.notify

import android.Manifest
import android.app.Activity
import android.app.NotificationManager
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import android.provider.Settings

/**
 * Whether this app may post notifications, and how to ask. On Android 13+
 * `POST_NOTIFICATIONS` is a runtime permission: until it is granted nothing
 * posted is shown, so [EventNotifier] leaves events queued (an event is
 * acknowledged only once shown) and the home screen says so.
 */
object NotificationAccess {
    /** Request code of the runtime request (the home screen's `onRequestPermissionsResult`). */
    const val REQUEST_CODE = 4201
    private const val PREFS = "wayfare.notifications"
    private const val REFUSED = "refused"

    /** True when a notification posted now would be shown. */
    fun allowed(context: Context): Boolean {
        val manager = context.getSystemService(NotificationManager::class.java)
        if (!manager.areNotificationsEnabled()) return false
        return Build.VERSION.SDK_INT < Build.VERSION_CODES.TIRAMISU ||
            context.checkSelfPermission(Manifest.permission.POST_NOTIFICATIONS) == PackageManager.PERMISSION_GRANTED
    }

    /** True when the system's question should be asked (Android 13+, never answered "no" here). */
    fun shouldAsk(context: Context): Boolean =
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU && !allowed(context) && !refused(context)

    /** The person said no; the home screen then shows why it matters instead of asking again. */
    fun refused(context: Context): Boolean =
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).getBoolean(REFUSED, false)

    /** Remembers the answer to the runtime request. */
    fun answered(context: Context, granted: Boolean) {
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().putBoolean(REFUSED, !granted).apply()
    }

    /** Asks the system (Android 13+). */
    fun ask(activity: Activity) {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
            activity.requestPermissions(arrayOf(Manifest.permission.POST_NOTIFICATIONS), REQUEST_CODE)
        }
    }

    /**
     * The "Turn on" button: asks again while Android still lets the app ask
     * (`shouldShowRequestPermissionRationale`), else opens the app's
     * notification settings, the only place left to turn them on.
     */
    fun turnOn(activity: Activity) {
        val mayAsk = Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU &&
            activity.checkSelfPermission(Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED &&
            activity.shouldShowRequestPermissionRationale(Manifest.permission.POST_NOTIFICATIONS)
        if (mayAsk) {
            ask(activity)
        } else {
            activity.startActivity(Intent(Settings.ACTION_APP_NOTIFICATION_SETTINGS)
                .putExtra(Settings.EXTRA_APP_PACKAGE, activity.packageName))
        }
    }
}
