package app.wayfare.android

import android.app.NotificationManager
import android.app.job.JobInfo
import android.app.job.JobScheduler
import app.wayfare.android.notify.EventDrainJob
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.ui.GuardiansActivity
import app.wayfare.android.ui.HomeActivity
import app.wayfare.core.GuardianScope
import app.wayfare.core.RiderName
import app.wayfare.core.TerminalKind
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf

/**
 * The background drain: the home screen schedules [EventDrainJob]; run with
 * no screen open, it catches up on a guardian alert the server holds and
 * posts it, acknowledging it only once shown (and not while notifications
 * are not allowed). Real core, server and tram reader.
 */
@RunWith(RobolectricTestRunner::class)
class BackgroundDrainTest : AppTest(notificationsAllowed = false) {
    private val manager: NotificationManager get() = context.getSystemService(NotificationManager::class.java)

    /** Runs the job as the system does and waits for it to say it finished. */
    private fun runJob(): Boolean {
        val controller = Robolectric.buildService(EventDrainJob::class.java).create()
        val job = controller.get()
        assertTrue(job.onStartJob(null))
        waitUntil("the job to finish") { shadowOf(job).isJobFinished }
        val retry = shadowOf(job).isRescheduleNeeded
        controller.destroy()
        return retry
    }

    @Test
    fun `the scheduled job posts a guardian alert with no screen open, and only acknowledges what was shown`() {
        // The home screen schedules the periodic drain (any network, kept across reboots).
        register("Grandpa")
        Robolectric.buildActivity(HomeActivity::class.java).setup().get().waitForText("greeting") { it == "Grandpa" }
        val scheduled = context.getSystemService(JobScheduler::class.java).getPendingJob(EventDrainJob.JOB_ID)
        assertEquals(EventDrainJob::class.java.name, scheduled.service.className)
        assertTrue(scheduled.isPeriodic)
        assertEquals(EventDrainJob.PERIOD_MS, scheduled.intervalMillis)
        assertEquals(JobInfo.NETWORK_TYPE_ANY, scheduled.networkType)
        assertTrue(scheduled.isPersisted)

        // The app is closed (wallet and its listener gone); a rider this phone looks after rides a tram.
        runBlocking { Wayfare.shutdown() }
        val mia = otherPhone("Mia")
        runBlocking {
            val code = mia.guardians().createInvitation(GuardianScope.ALL_PAYMENTS, RiderName.Nickname("Mia"), null).code
            Wayfare.wallet(context).guardians().acceptInvitation(code)
            Wayfare.shutdown()
        }
        system.topUp(accountId(mia), 1_000)
        payAt(mia, system.tram, TerminalKind.TRAM)

        // Notifications not allowed: the job catches the alert up but shows nothing, so nothing is acknowledged.
        assertFalse(runJob())
        assertTrue(shadowOf(manager).allNotifications.isEmpty())
        val waiting = runBlocking { Wayfare.wallet(context).events().pendingCount() }
        assertEquals(1u, waiting)

        // Allowed: the next run posts it on the alerts channel and acknowledges it.
        allowNotifications()
        runBlocking { Wayfare.shutdown() }
        assertFalse(runJob())
        val posted = shadowOf(manager).allNotifications.single()
        assertEquals(EventNotifier.CHANNEL_ALERTS, posted.channelId)
        assertEquals("Mia paid", posted.extras.getString("android.title"))
        assertTrue(posted.extras.getCharSequence("android.text").toString().contains("¥2.00"))
        assertEquals(GuardiansActivity::class.java.name, shadowOf(posted.contentIntent).savedIntent.component?.className)
        assertEquals(0u, runBlocking { Wayfare.wallet(context).events().pendingCount() })
    }
}
