package app.wayfare.android

import android.Manifest
import android.app.Activity
import android.app.NotificationManager
import android.content.pm.PackageManager
import android.provider.Settings
import android.view.View
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.notify.NotificationAccess
import app.wayfare.android.nfc.TapSheet
import app.wayfare.android.nfc.WayfareApduService
import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.OutcomeActivity
import app.wayfare.android.ui.PaymentActivity
import app.wayfare.core.TerminalKind
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf

/**
 * Notifications on Android 13+ (the runtime permission asked, refused and
 * granted, as the home screen shows it) and the HCE service's way to the
 * payment sheet when the app is not in front (a full-screen-intent
 * notification), against the real core, server and terminals.
 */
@RunWith(RobolectricTestRunner::class)
class NotificationsAppTest : AppTest(notificationsAllowed = false) {
    private val manager: NotificationManager get() = context.getSystemService(NotificationManager::class.java)

    /** The rider pays a tram fare on this phone through the core: a "payment completed" event is queued. */
    private fun rideTram() = payAt(wallet(), system.tram, TerminalKind.TRAM)

    @Test
    fun `on Android 13 and later the app asks for notifications, says what waits when refused, and posts it when granted`() {
        val home = registerThroughScreens("Noa")
        home.waitForText("balance")
        waitUntil("the permission request") { shadowOf(home).lastRequestedPermission != null }
        val asked = shadowOf(home).lastRequestedPermission
        assertEquals(listOf(Manifest.permission.POST_NOTIFICATIONS), asked.requestedPermissions.toList())
        assertEquals(NotificationAccess.REQUEST_CODE, asked.requestCode)

        system.topUp(accountId(), 1_000)
        rideTram()
        assertEquals(1u, runBlocking { Wayfare.wallet(context).events().pendingCount() })

        // "Don't allow": the screen explains, the event stays queued, nothing is posted.
        home.onRequestPermissionsResult(asked.requestCode, asked.requestedPermissions, intArrayOf(PackageManager.PERMISSION_DENIED))
        home.waitUntilShown("notifications")
        assertTrue(home.textOf("notifications_off").startsWith("Notifications are off."))
        assertEquals("1 notice is waiting.", home.waitForText("notifications_waiting"))
        Screenshots.capture(home, "40-notifications-refused")
        offMain("the drain") { EventNotifier.drain(context, Wayfare.wallet(context)) }
        assertTrue(shadowOf(manager).allNotifications.isEmpty())
        assertEquals(1u, runBlocking { Wayfare.wallet(context).events().pendingCount() })

        // The next start does not ask again; "Turn on" leads to the app's notification settings.
        val again = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
        again.waitUntilShown("notifications")
        assertNull(shadowOf(again).lastRequestedPermission)
        again.click("notifications_enable")
        val settings = shadowOf(again).nextStartedActivity
        assertEquals(Settings.ACTION_APP_NOTIFICATION_SETTINGS, settings.action)
        assertEquals(context.packageName, settings.getStringExtra(Settings.EXTRA_APP_PACKAGE))

        // Allowed: the banner goes and the waiting notice is posted, then acknowledged.
        allowNotifications()
        again.onRequestPermissionsResult(NotificationAccess.REQUEST_CODE, arrayOf(Manifest.permission.POST_NOTIFICATIONS),
            intArrayOf(PackageManager.PERMISSION_GRANTED))
        waitUntil("the waiting notice posted") { shadowOf(manager).allNotifications.isNotEmpty() }
        val posted = shadowOf(manager).allNotifications.single()
        assertEquals(EventNotifier.CHANNEL_PAYMENTS, posted.channelId)
        assertEquals("Paid Tram Line T1", posted.extras.getString("android.title"))
        waitUntil("the event acknowledged") { runBlocking { Wayfare.wallet(context).events().pendingCount() } == 0u }
        assertEquals(View.GONE, again.view("notifications")!!.visibility)
    }

    @Test
    fun `a tap while the app is not in front opens the sheet through a full-screen notification, in front directly`() {
        allowNotifications()
        register("Ana")
        system.topUp(accountId(), 1_000)
        val service = Robolectric.buildService(WayfareApduService::class.java).create().get()
        val pos = typedIn(system.pos, TerminalKind.POS)

        // No screen in front: the sheet comes as a full-screen-intent notification, no Activity is started.
        TapSheet.open(service, runBlocking { Wayfare.wallet(context).terminals().connect(pos) })
        val offered = shadowOf(manager).getNotification(TapSheet.NOTIFICATION_ID)
        assertNotNull("no notification for the tap", offered)
        assertEquals(TapSheet.CHANNEL_TAPS, offered.channelId)
        assertEquals(NotificationManager.IMPORTANCE_HIGH, manager.getNotificationChannel(TapSheet.CHANNEL_TAPS).importance)
        assertEquals("Pay Corner Café?", offered.extras.getString("android.title"))
        assertEquals("Open to see the amount and confirm.", offered.extras.getString("android.text"))
        assertNotNull(offered.fullScreenIntent)
        val opens = shadowOf(offered.fullScreenIntent).savedIntent
        assertEquals(PaymentActivity::class.java.name, opens.component?.className)
        assertNull(shadowOf(RuntimeEnvironment.getApplication()).nextStartedActivity)

        // The person opens it: the sheet drives the handed-off session, the notification goes.
        val sheet = Robolectric.buildActivity(PaymentActivity::class.java, opens).setup().get()
        sheet.waitForText("status") { it.startsWith("Connected.") }
        assertNull(shadowOf(manager).getNotification(TapSheet.NOTIFICATION_ID))
        system.ringSale(300, "Water")
        assertEquals("¥3.00", sheet.waitForText("amount"))
        assertEquals("Corner Café", sheet.textOf("merchant"))
        sheet.click("confirm")
        val outcome = sheet.next(OutcomeActivity::class.java).get()
        assertEquals("You paid ¥3.00 to Corner Café. Your balance is now ¥7.00.", outcome.textOf("outcome_body"))

        // A screen of the app in front (the outcome): the sheet is started directly, nothing is posted.
        manager.cancelAll()
        TapSheet.open(service, runBlocking { Wayfare.wallet(context).terminals().connect(pos) })
        val started = shadowOf(RuntimeEnvironment.getApplication()).nextStartedActivity
        assertEquals(PaymentActivity::class.java.name, started?.component?.className)
        assertNull(shadowOf(manager).getNotification(TapSheet.NOTIFICATION_ID))
    }

    private fun Activity.waitUntilShown(tag: String) =
        waitUntil("'$tag' shown on ${javaClass.simpleName}") { view(tag)?.visibility == View.VISIBLE }
}
