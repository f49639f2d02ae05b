package app.wayfare.android

import android.app.Activity
import android.content.Context
import android.content.pm.ApplicationInfo
import android.os.Bundle
import app.wayfare.android.ui.HomeActivity
import app.wayfare.android.ui.RegisterActivity
import app.wayfare.core.DiscoveredTerminal
import app.wayfare.core.DiscoverySource
import app.wayfare.core.InMemoryKeyStore
import app.wayfare.core.MdnsScope
import app.wayfare.core.PaymentOutcome
import app.wayfare.core.TapOutcome
import app.wayfare.core.TerminalKind
import app.wayfare.core.Wallet
import app.wayfare.core.WalletConfig
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertTrue
import org.junit.Before
import org.robolectric.Robolectric
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import java.io.File
import java.nio.file.Files
import javax.xml.parsers.DocumentBuilderFactory

/**
 * The fixture every test of the app against the real system shares, so
 * that each test class says only what it tests: before each test a fresh
 * app (no wallet open, its data gone, pointed at the test [system] on
 * loopback, the sealing key in a JCE key store, notifications allowed
 * unless `notificationsAllowed` is false: the tests of that permission start
 * without it; a debuggable build whose manifest names the control center
 * pom.xml filled in, as Gradle's debug build type does); after it every wallet closed, the app's and the other
 * phones'. The steps many tests take are here once: another phone,
 * registering, a terminal typed in, paying at a terminal through the core.
 */
abstract class AppTest(private val notificationsAllowed: Boolean = true) {
    protected val context: Context get() = RuntimeEnvironment.getApplication()

    /** The key store the app's wallet seals its device key with; [useKeys] replaces it (an app restart). */
    protected lateinit var keys: JceSealingKeys
        private set

    /** Other phones the test opened, closed after it. */
    protected val others = mutableListOf<Wallet>()

    @Before
    fun freshApp() = runBlocking {
        installBuild(manifestMetaData(Wayfare.SERVER_URL_META), debuggable = true)
        Wayfare.shutdown()
        Wayfare.dataDir(context).deleteRecursively()
        Wayfare.configure(context, Wayfare.Settings(system.baseUrl, MdnsScope.LOOPBACK))
        useKeys(JceSealingKeys(File(context.noBackupFilesDir, "test-keystore.p12")))
        if (notificationsAllowed) allowNotifications()
    }

    @After
    fun closeWallets() = runBlocking {
        others.forEach { it.closeWallet(); it.destroy() }
        others.clear()
        Wayfare.shutdown()
    }

    /**
     * Plays the installed build as the system reports it: the manifest's
     * control center (`serverUrl` in the `<meta-data>` [Wayfare] reads; null:
     * none) and whether the build is debuggable. Robolectric reads no
     * manifest here (no aapt2), so the test puts both into the package
     * manager's ApplicationInfo.
     */
    protected fun installBuild(serverUrl: String?, debuggable: Boolean) {
        val info = shadowOf(context.packageManager).getInternalMutablePackageInfo(context.packageName).applicationInfo!!
        info.metaData = Bundle().apply { if (serverUrl != null) putString(Wayfare.SERVER_URL_META, serverUrl) }
        info.flags = if (debuggable) info.flags or ApplicationInfo.FLAG_DEBUGGABLE else info.flags and ApplicationInfo.FLAG_DEBUGGABLE.inv()
    }

    /** The value of the `<meta-data>` named `name` in the manifest pom.xml filled in (`-Dwayfare.manifest`). */
    protected fun manifestMetaData(name: String): String? {
        val android = "http://schemas.android.com/apk/res/android"
        val manifest = File(System.getProperty("wayfare.manifest") ?: "target/manifest/AndroidManifest.xml")
        val doc = DocumentBuilderFactory.newInstance().apply { isNamespaceAware = true }.newDocumentBuilder().parse(manifest)
        val all = doc.getElementsByTagName("meta-data")
        return (0 until all.length).map { all.item(it) as org.w3c.dom.Element }
            .firstOrNull { it.getAttributeNS(android, "name") == name }?.getAttributeNS(android, "value")
    }

    /** The app's wallet seals with `sealing` from now on (the next open uses it). */
    protected fun useKeys(sealing: JceSealingKeys) {
        keys = sealing
        Wayfare.sealingKeys = { keys }
    }

    /** The app's own wallet, opened as the screens open it. */
    protected fun wallet(): Wallet = runBlocking { Wayfare.wallet(context) }

    /** The account of `phone` (the app's own by default). */
    protected fun accountId(phone: Wallet = wallet()): String = runBlocking { phone.account().info()!!.accountId }

    /** Registers the app's wallet as `name` through the core, for tests about other screens. */
    protected fun register(name: String) {
        runBlocking { wallet().account().register(name, null) }
    }

    /**
     * First run through the screens: the launcher sends a new person to the
     * registration screen (`onRegister` sees it with the name typed), then
     * to the home screen, which is returned.
     */
    protected fun registerThroughScreens(name: String, onRegister: (Activity) -> Unit = {}): Activity {
        val launcher = Robolectric.buildActivity(HomeActivity::class.java).setup().get()
        val register = launcher.next(RegisterActivity::class.java).get()
        register.type("name", name)
        onRegister(register)
        register.click("register")
        return register.next(HomeActivity::class.java).get()
    }

    /** Another phone: a wallet of the real core with its own data directory, registered as `name`. */
    protected fun otherPhone(name: String): Wallet = runBlocking {
        val dir = Files.createTempDirectory("wayfare-other-").toFile()
        val phone = Wallet(WalletConfig(dir.path, system.baseUrl, null, null, MdnsScope.LOOPBACK), InMemoryKeyStore().asKeyStore())
        phone.open()
        others.add(phone)
        phone.account().register(name, null)
        phone
    }

    /** A terminal of the test system as a phone reaches it without discovery (typed in, or from an NFC tap). */
    protected fun typedIn(t: LocalSystem.Terminal, kind: TerminalKind, source: DiscoverySource = DiscoverySource.MANUAL) =
        DiscoveredTerminal(terminalId = t.id, merchantName = "", kind = kind, host = t.host, port = t.port.toUShort(),
            source = source, rssi = null, bleId = null)

    /** `phone` pays what `t` asks (a sale rung up, a fare) through the core, with no screen. */
    protected fun payAt(phone: Wallet, t: LocalSystem.Terminal, kind: TerminalKind): PaymentOutcome = runBlocking {
        val session = phone.terminals().connect(typedIn(t, kind))
        try {
            val tapped = session.tap()
            assertTrue("$tapped", tapped is TapOutcome.PaymentRequested)
            session.confirm()
        } finally {
            session.destroy()
        }
    }
}
