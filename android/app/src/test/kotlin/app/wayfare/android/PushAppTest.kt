package app.wayfare.android

import android.Manifest
import android.app.NotificationManager
import android.database.sqlite.SQLiteDatabase
import app.wayfare.android.notify.EventDrainJob
import app.wayfare.android.notify.EventNotifier
import app.wayfare.android.push.PushRegistration
import app.wayfare.android.ui.GuardiansActivity
import app.wayfare.android.ui.HomeActivity
import app.wayfare.core.GuardianScope
import app.wayfare.core.MdnsScope
import app.wayfare.core.PromptSettings
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
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import java.net.ServerSocket

/**
 * Push to a closed app (decision 0019) on the app's side, with the real
 * core and server: Firebase's part is played by calling [PushRegistration]
 * as `WayfareMessagingService` does. The server has no read route for
 * tokens, so the tests read its `push_tokens` table from its SQLite file.
 */
@RunWith(RobolectricTestRunner::class)
class PushAppTest : AppTest() {
    private val manager: NotificationManager get() = context.getSystemService(NotificationManager::class.java)

    /** The rows of the server's database for `sql` (read-only, beside the running server). */
    private fun rows(sql: String, vararg args: String): List<List<String?>> =
        SQLiteDatabase.openDatabase(system.database.path, null, SQLiteDatabase.OPEN_READONLY).use { db ->
            db.rawQuery(sql, args).use { c ->
                generateSequence { if (c.moveToNext()) (0 until c.columnCount).map(c::getString) else null }.toList()
            }
        }

    /** What the control center holds for this phone: platform, token, locale. */
    private fun tokenOf(deviceId: String): List<String?>? =
        rows("SELECT platform, token, locale FROM push_tokens WHERE device_id = ?", deviceId).singleOrNull()

    private fun deviceId(): String = runBlocking { wallet().account().info()!!.deviceId }

    /** A control center that does not answer: a loopback port nothing listens on. */
    private fun offline() {
        val port = ServerSocket(0).use { it.localPort }
        runBlocking { Wayfare.shutdown() }
        Wayfare.configure(context, Wayfare.Settings("http://127.0.0.1:$port", MdnsScope.LOOPBACK))
    }

    private fun online() {
        runBlocking { Wayfare.shutdown() }
        Wayfare.configure(context, Wayfare.Settings(system.baseUrl, MdnsScope.LOOPBACK))
    }

    /** Runs the background drain as the system does; returns whether it asked for a retry. */
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
    fun `the manifest declares the Firebase service, which only the Gradle build compiles`() {
        val manifest = java.io.File(System.getProperty("wayfare.manifest") ?: "target/manifest/AndroidManifest.xml").readText()
        assertTrue(manifest.contains("android:name=\"app.wayfare.android.push.WayfareMessagingService\""))
        assertTrue(manifest.contains("com.google.firebase.MESSAGING_EVENT"))
        assertEquals(EventNotifier.CHANNEL_ALERTS, manifestMetaData("com.google.firebase.messaging.default_notification_channel_id"))
        // src/firebase is not on the JVM build's source path (no Firebase SDK here).
        assertTrue(runCatching { Class.forName("app.wayfare.android.push.WayfareMessagingService") }.isFailure)
    }

    @Test
    fun `a token from Firebase is registered with the control center, and a new one replaces it`() {
        register("Ada")
        val device = deviceId()
        assertTrue(runBlocking { PushRegistration.onNewToken(context, "fcm-token-one:APA91b-1") })
        assertFalse(PushRegistration.pending(context))
        assertEquals(listOf("fcm", "fcm-token-one:APA91b-1", "en"), tokenOf(device))

        // Firebase refreshes the token on a phone set to Chinese: the server's row is replaced, pushes in Chinese.
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            assertTrue(runBlocking { PushRegistration.onNewToken(context, "fcm-token-two:APA91b-2") })
            assertFalse(PushRegistration.pending(context))
            assertEquals(listOf("fcm", "fcm-token-two:APA91b-2", "zh"), tokenOf(device))
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
        assertEquals(0, rows("SELECT 1 FROM push_tokens WHERE token = ?", "fcm-token-one:APA91b-1").size)
    }

    @Test
    fun `a token handed over while offline is kept and registered by the next drain`() {
        register("Bo")
        val device = deviceId()
        offline()
        assertFalse(runBlocking { PushRegistration.onNewToken(context, "fcm-token-offline:APA91b-3") })
        assertTrue(PushRegistration.pending(context))
        assertEquals(null, tokenOf(device))

        // A drain while still offline cannot send it either: it stays pending.
        runJob()
        assertTrue(PushRegistration.pending(context))

        // Back online: the next run sends it.
        online()
        assertFalse(runJob())
        assertFalse(PushRegistration.pending(context))
        assertEquals(listOf("fcm", "fcm-token-offline:APA91b-3", "en"), tokenOf(device))
    }

    @Test
    fun `notifications turned off withdraw the token, turned on again register it`() {
        register("Cy")
        val device = deviceId()
        assertTrue(runBlocking { PushRegistration.onNewToken(context, "fcm-token-cy:APA91b-4") })
        assertEquals("fcm-token-cy:APA91b-4", tokenOf(device)?.get(1))

        // The person turns notifications off; the home screen sees it and the control center stops pushing.
        shadowOf(RuntimeEnvironment.getApplication()).denyPermissions(Manifest.permission.POST_NOTIFICATIONS)
        val home = Robolectric.buildActivity(HomeActivity::class.java).setup()
        home.get().waitForText("greeting") { it == "Cy" }
        // The server drops the token before the app hears the answer and
        // marks it sent: wait for both.
        waitUntil("the token withdrawn") { tokenOf(device) == null && !PushRegistration.pending(context) }

        // On again: the token the phone kept goes back at the next start.
        allowNotifications()
        home.pause().resume()
        waitUntil("the token registered again") { tokenOf(device) != null && !PushRegistration.pending(context) }
        assertEquals(listOf("fcm", "fcm-token-cy:APA91b-4", "en"), tokenOf(device))
    }

    @Test
    fun `a push for a merchant prompt catches it up, posted from the event queue`() {
        register("Owner")
        system.makeOwner(system.pos.merchantId, accountId())
        // Shown, not spoken: the process keeps one TextToSpeech engine, which MerchantAppTest expects to create.
        runBlocking { wallet().merchant().setPromptSettings(PromptSettings(showText = true, speak = false, vibrate = false)) }
        runBlocking { Wayfare.shutdown() } // the app is closed: no merchant screen streams prompts
        val rider = otherPhone("Lu")
        system.topUp(accountId(rider), 1_000)
        system.ringSale(250, "Bun")
        payAt(rider, system.pos, TerminalKind.POS)

        val push = mapOf("id" to "prm_pushed", "kind" to "merchant.prompt", "title" to "Payment notice", "body" to "The push's own line")
        runBlocking { PushRegistration.onMessage(context, push) }
        val posted = shadowOf(manager).allNotifications.single()
        assertEquals(EventNotifier.CHANNEL_PROMPTS, posted.channelId)
        val text = posted.extras.getCharSequence("android.text").toString()
        assertTrue(text, text.contains("2.50"))
        assertFalse(text.contains("The push's own line"))
        assertEquals(0u, runBlocking { wallet().events().pendingCount() })
    }

    @Test
    fun `a push runs the drain, so the guardian alert is posted from the event queue`() {
        register("Grandpa")
        val mia = otherPhone("Mia")
        runBlocking {
            val code = mia.guardians().createInvitation(GuardianScope.ALL_PAYMENTS, RiderName.Nickname("Mia"), null).code
            wallet().guardians().acceptInvitation(code)
        }
        system.topUp(accountId(mia), 1_000)
        payAt(mia, system.tram, TerminalKind.TRAM)
        val alertId = rows("SELECT id FROM guardian_alerts WHERE guardian_account_id = ?", accountId()).single()[0]!!
        val push = mapOf("id" to alertId, "kind" to "guardian.alert", "title" to "Guardian alert", "body" to "The push's own line")

        // The wallet cannot reach the control center: the push's own text is all there is to show.
        offline()
        runBlocking { PushRegistration.onMessage(context, push) }
        val fallback = shadowOf(manager).getNotification(EventNotifier.pushTag(alertId), EventNotifier.PUSH_ID)
        assertEquals(EventNotifier.CHANNEL_ALERTS, fallback.channelId)
        assertEquals("The push's own line", fallback.extras.getCharSequence("android.text").toString())

        // Reachable: the same push drains the queue; the alert the server signed replaces the push's line.
        online()
        runBlocking { PushRegistration.onMessage(context, push) }
        val posted = shadowOf(manager).allNotifications.single()
        assertEquals(EventNotifier.CHANNEL_ALERTS, posted.channelId)
        assertEquals("Mia paid", posted.extras.getString("android.title"))
        assertTrue(posted.extras.getCharSequence("android.text").toString().contains("¥2.00"))
        assertEquals(GuardiansActivity::class.java.name, shadowOf(posted.contentIntent).savedIntent.component?.className)
        assertEquals(0u, runBlocking { wallet().events().pendingCount() })
    }
}
