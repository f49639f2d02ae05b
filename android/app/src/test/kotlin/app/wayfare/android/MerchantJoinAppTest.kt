package app.wayfare.android

import android.Manifest
import android.app.Activity
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import app.wayfare.android.ui.MerchantActivity
import app.wayfare.android.ui.QrDecode
import app.wayfare.android.ui.QrImage
import app.wayfare.android.ui.ScanActivity
import app.wayfare.core.InMemoryKeyStore
import app.wayfare.core.MdnsScope
import app.wayfare.core.MerchantOperation
import app.wayfare.core.MerchantRole
import app.wayfare.core.PromptAttribute
import app.wayfare.core.Wallet
import app.wayfare.core.WalletConfig
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import java.io.File
import java.nio.file.Files

/**
 * Joining merchants from the merchant screen, against the real core and
 * server: a staff invitation's QR code scanned (the payload the scanner
 * returns joins like a typed code).
 */
@RunWith(RobolectricTestRunner::class)
class MerchantJoinAppTest {
    private val context: Context get() = RuntimeEnvironment.getApplication()
    private val others = mutableListOf<Wallet>()

    @Before
    fun freshApp() = runBlocking {
        Wayfare.shutdown()
        Wayfare.dataDir(context).deleteRecursively()
        Wayfare.configure(context, Wayfare.Settings(system.baseUrl, MdnsScope.LOOPBACK))
        val keys = JceSealingKeys(File(context.noBackupFilesDir, "test-keystore.p12"))
        Wayfare.sealingKeys = { keys }
        allowNotifications()
    }

    @After
    fun closeWallets() = runBlocking {
        others.forEach { it.closeWallet(); it.destroy() }
        Wayfare.shutdown()
    }

    private fun otherPhone(name: String): Wallet = runBlocking {
        val dir = Files.createTempDirectory("wayfare-other-").toFile()
        val w = Wallet(WalletConfig(dir.path, system.baseUrl, null, null, MdnsScope.LOOPBACK), InMemoryKeyStore().asKeyStore())
        w.open()
        w.account().register(name, null)
        others.add(w)
        w
    }

    /** A new merchant owned by another phone; returns the owner's wallet and the merchant's id. */
    private fun ownedMerchant(merchant: String, owner: String): Pair<Wallet, String> {
        val phone = otherPhone(owner)
        val id = system.merchant(merchant)
        system.makeOwner(id, runBlocking { phone.account().info()!!.accountId })
        return phone to id
    }

    @Test
    fun `staff scans the owner's invitation QR code on the merchant screen and becomes a member`() {
        runBlocking { Wayfare.wallet(context).account().register("Sam", null) }
        val (owner, teaHouse) = ownedMerchant("Tea House", "Olga")
        val invitation = runBlocking {
            owner.merchant().inviteStaff(teaHouse, listOf(MerchantOperation.RECEIVE_PROMPTS), listOf(PromptAttribute.AMOUNT), "Counter")
        }

        val screen = Robolectric.buildActivity(MerchantActivity::class.java).setup().get()
        assertEquals("This account is not a member of any merchant.", screen.waitForText("membership"))
        assertEquals("Scan the QR code", screen.textOf("join_scan"))
        screen.click("join_scan")
        val asked = shadowOf(screen).peekNextStartedActivityForResult()
        assertEquals(ScanActivity::class.java.name, asked.intent.component?.className)

        // The scanner says what it scans; this phone has no camera, so it also says to type the code.
        val scanner = Robolectric.buildActivity(ScanActivity::class.java, asked.intent).setup().get()
        assertEquals("Scan a staff invitation", scanner.textOf("title"))
        shadowOf(RuntimeEnvironment.getApplication()).grantPermissions(Manifest.permission.CAMERA)
        val camera = shadowOf(scanner).lastRequestedPermission
        scanner.onRequestPermissionsResult(camera.requestCode, camera.requestedPermissions, intArrayOf(PackageManager.PERMISSION_GRANTED))
        assertEquals("No camera can be used on this phone: type the code instead.", scanner.textOf("scan_status"))
        Screenshots.capture(scanner, "34-scan-staff-invitation")

        // What the camera would read from the owner's screen, handed back as Android hands a result.
        val read = QrDecode.decode(QrImage.bitmap(invitation.qrPayload))!!
        assertEquals(invitation.qrPayload, read)
        shadowOf(screen).receiveResult(asked.intent, Activity.RESULT_OK, Intent().putExtra(ScanActivity.EXTRA_PAYLOAD, read))
        assertEquals("Tea House · Staff", screen.waitForText("membership") { it.contains("·") || screen.textOf("status").isNotEmpty() })
        assertEquals("", screen.textOf("status"))
        assertEquals("", screen.textOf("join_code"))
        Screenshots.capture(screen, "35-merchant-joined-by-scan")

        // The owner's list has the new staff device, as invited.
        val staff = runBlocking { owner.merchant().listStaff(teaHouse) }.single { it.role == MerchantRole.STAFF }
        assertTrue(staff.active)
        assertEquals("Counter", staff.label)
        assertEquals(listOf(MerchantOperation.RECEIVE_PROMPTS), staff.operations)
    }

    @Test
    fun `the merchant screen's Scan button and the staff scanner speak Chinese to a Chinese phone`() {
        runBlocking { Wayfare.wallet(context).account().register("Lin", null) }
        RuntimeEnvironment.setQualifiers("+zh-rCN")
        try {
            val screen = Robolectric.buildActivity(MerchantActivity::class.java).setup().get()
            assertEquals("该账户不是任何商户的成员。", screen.waitForText("membership"))
            assertEquals("扫描二维码", screen.textOf("join_scan"))
            screen.click("join_scan")
            val asked = shadowOf(screen).peekNextStartedActivityForResult()
            val scanner = Robolectric.buildActivity(ScanActivity::class.java, asked.intent).setup().get()
            assertEquals("扫描店员邀请", scanner.textOf("title"))
            assertEquals("将相机对准邀请的二维码。", scanner.textOf("scan_status"))
        } finally {
            RuntimeEnvironment.setQualifiers("+en-rUS")
        }
    }
}
