package app.wayfare.android.ui

import android.app.Activity
import android.content.Context
import java.util.Collections
import java.util.WeakHashMap

/**
 * Which of the app's screens are in front. Android 10+ lets an app start an
 * Activity only while it is in front, so the HCE service asks this before
 * opening the payment sheet and otherwise posts a full-screen notification.
 * Kept per Application (weakly) so that a screen never paused cannot keep
 * another Application's process "in front".
 */
object Foreground {
    private val resumed: MutableSet<Activity> = Collections.newSetFromMap(WeakHashMap())

    @Synchronized fun resumed(activity: Activity) { resumed.add(activity) }

    @Synchronized fun paused(activity: Activity) { resumed.remove(activity) }

    /** True while one of this app's screens is resumed and not finishing. */
    @Synchronized fun inFront(context: Context): Boolean {
        val app = context.applicationContext
        return resumed.any { it.application === app && !it.isFinishing && !it.isDestroyed }
    }
}
