package app.wayfare.android

import app.wayfare.android.ui.DeviceTexts
import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.RegisterActivity
import app.wayfare.core.MdnsScope
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf

/**
 * The control center is part of the build: the manifest's
 * `app.wayfare.SERVER_URL` (filled by the build, here by pom.xml as Gradle's
 * manifestPlaceholders fill it) is where the wallet goes unless the
 * settings hold an override; a build that is not debuggable refuses plain
 * http and says so on the screen instead of opening the wallet.
 */
@RunWith(RobolectricTestRunner::class)
class ReleaseConfigTest : AppTest() {
    /** No override in the settings: only the build decides. */
    private fun noOverride() = Wayfare.configure(context, Wayfare.Settings(null, MdnsScope.LOOPBACK))

    @Test
    fun `the control center comes from the manifest's meta-data, an override keeps precedence`() {
        // The build filled the placeholder: the manifest names the URL pom.xml set.
        val fromManifest = manifestMetaData(Wayfare.SERVER_URL_META)
        assertEquals(System.getProperty("wayfare.serverUrl.expected"), fromManifest)
        assertFalse(fromManifest!!.contains("\${"))
        noOverride()
        assertEquals(fromManifest, Wayfare.serverUrl(context))

        // A build naming the test system's control center: the wallet opens there and registers.
        installBuild(system.baseUrl, debuggable = true)
        register("Meta")
        system.topUp(accountId(), 500) // the server knows the account the app made
        assertEquals(500L, runBlocking { wallet().account().balance().balanceMinor })

        // The person's (or a test's) override wins over the build.
        installBuild(fromManifest, debuggable = true)
        Wayfare.configure(context, Wayfare.Settings(system.baseUrl, MdnsScope.LOOPBACK))
        assertEquals(system.baseUrl, Wayfare.serverUrl(context))
    }

    @Test
    fun `a release build pointed at plain http is refused, with the reason on the screen`() {
        installBuild("http://cc.wayfare.test", debuggable = false)
        noOverride()
        val refused = try {
            runBlocking { Wayfare.wallet(context) }
            fail("a release build opened its wallet over plain http")
            error("unreachable")
        } catch (e: ServerUrlException) {
            e
        }
        assertEquals(ServerUrlException.Problem.NOT_HTTPS, refused.problem)
        assertEquals("http://cc.wayfare.test", refused.url)

        // The launcher says why in words, stays open, and sends nobody to registration.
        val home = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
        val said = home.waitForText("greeting") { it.contains("without encryption") }
        assertEquals(DeviceTexts.English.serverRefused(ServerUrlException.Problem.NOT_HTTPS, "http://cc.wayfare.test"), said)
        assertTrue(said.contains("http://cc.wayfare.test"))
        assertNull(shadowOf(home).nextStartedActivity?.takeIf { it.component?.className == RegisterActivity::class.java.name })
        assertFalse(home.isFinishing)
        Screenshots.capture(home, "release-http-refused")

        // An override in the settings is held to the same rule in a release build.
        Wayfare.configure(context, Wayfare.Settings(system.baseUrl, MdnsScope.LOOPBACK))
        assertEquals(ServerUrlException.Problem.NOT_HTTPS,
            runCatching { Wayfare.serverUrl(context) }.exceptionOrNull().let { (it as ServerUrlException).problem })

        // https passes the check; a debuggable build may use http.
        installBuild("https://cc.wayfare.test", debuggable = false)
        noOverride()
        assertEquals("https://cc.wayfare.test", Wayfare.serverUrl(context))
        installBuild("http://10.0.2.2:8080", debuggable = true)
        assertEquals("http://10.0.2.2:8080", Wayfare.serverUrl(context))
    }

    @Test
    fun `a build that names no control center says so, in Chinese too`() {
        // The placeholder left unfilled (a build that skipped manifestPlaceholders) counts as none.
        installBuild("\${wayfareServerUrl}", debuggable = false)
        noOverride()
        val home = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
        home.waitForText("greeting") { it.contains("without the address of its control center") }

        installBuild(null, debuggable = false)
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val zh = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
            val said = zh.waitForText("greeting") { it.contains("控制中心") }
            assertEquals(DeviceTexts.Chinese.serverRefused(ServerUrlException.Problem.NOT_CONFIGURED, null), said)
            Screenshots.capture(zh, "release-not-configured-zh")
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
    }
}
