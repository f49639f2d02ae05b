package app.wayfare.android

import android.content.Context
import app.wayfare.android.platform.AndroidKeystoreKeys
import app.wayfare.android.platform.KeystoreSealer
import app.wayfare.core.KeyStoreException
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import java.io.File

/** The key store the core seals its device secret with (the `KeyStore` foreign trait). */
@RunWith(RobolectricTestRunner::class)
class KeystoreSealerTest {
    private val context: Context get() = RuntimeEnvironment.getApplication()

    @Test
    fun `Robolectric has no AndroidKeyStore provider, so the tests plug in a JCE key store`() {
        // If this starts failing, Robolectric grew the provider: test AndroidKeystoreKeys itself.
        assertFalse(AndroidKeystoreKeys.available())
    }

    @Test
    fun `seal and unseal round-trip, a changed byte or another key is refused`() {
        val sealer = KeystoreSealer(JceSealingKeys(File(context.noBackupFilesDir, "sealer-a.p12")))
        val secret = ByteArray(32) { it.toByte() }
        val sealed = sealer.seal(secret)
        assertEquals(1 + 12 + 32 + 16, sealed.size)
        assertNotEquals(sealed.toList(), sealer.seal(secret).toList())
        assertArrayEquals(secret, sealer.unseal(sealed))

        val changed = sealed.copyOf().also { it[20] = (it[20].toInt() xor 1).toByte() }
        assertEquals(KeyStoreException.Rejected::class, runCatching { sealer.unseal(changed) }.exceptionOrNull()!!::class)
        val other = KeystoreSealer(JceSealingKeys(File(context.noBackupFilesDir, "sealer-b.p12")))
        assertEquals(KeyStoreException.Rejected::class, runCatching { other.unseal(sealed) }.exceptionOrNull()!!::class)
        assertEquals(KeyStoreException.Rejected::class, runCatching { sealer.unseal(byteArrayOf(1, 2, 3)) }.exceptionOrNull()!!::class)
    }

    @Test
    fun `without the Android Keystore the production key source fails as Unavailable, not with a crash`() {
        val e = runCatching { KeystoreSealer(AndroidKeystoreKeys()).seal(byteArrayOf(1)) }.exceptionOrNull()
        assertEquals(KeyStoreException.Unavailable::class, e!!::class)
    }
}
