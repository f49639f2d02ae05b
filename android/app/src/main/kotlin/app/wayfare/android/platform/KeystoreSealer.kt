package app.wayfare.android.platform

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import app.wayfare.core.KeyStore
import app.wayfare.core.KeyStoreException
import java.security.GeneralSecurityException
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Where the wallet's sealing key lives. The app uses [AndroidKeystoreKeys]: a
 * non-exportable AES-256-GCM key inside the Android Keystore (hardware-backed
 * where the phone has it). Another source of keys (a JCE key store in tests,
 * where Robolectric has no "AndroidKeyStore" provider) plugs in here and goes
 * through the same seal/unseal code in [KeystoreSealer].
 */
interface SealingKeys {
    /** The sealing key, created on first use. */
    fun key(): SecretKey

    /** The name of the JCA provider the cipher must come from, or null for the default. */
    val cipherProvider: String?
}

/** A non-exportable AES-256 key under [alias] in the Android Keystore. */
class AndroidKeystoreKeys(private val alias: String = DEFAULT_ALIAS) : SealingKeys {
    override val cipherProvider: String? = null

    override fun key(): SecretKey {
        val store = java.security.KeyStore.getInstance(PROVIDER).apply { load(null) }
        (store.getKey(alias, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        generator.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val DEFAULT_ALIAS = "wayfare-device-seal"

        /** Whether this runtime has the Android Keystore's JCA provider. */
        fun available(): Boolean = java.security.Security.getProvider(PROVIDER) != null
    }
}

/**
 * The core's `KeyStore` foreign trait: seals the wallet's device secret with
 * AES-GCM under a key from [keys]. The sealed form is
 * `version (1) ‖ IV (12) ‖ ciphertext+tag`; the IV is chosen by the cipher
 * (the Android Keystore insists on it). Called by the core from its own
 * threads; it holds no lock of the core's.
 */
class KeystoreSealer(private val keys: SealingKeys = AndroidKeystoreKeys()) : KeyStore {
    private fun cipher(): Cipher = keys.cipherProvider
        ?.let { Cipher.getInstance(TRANSFORMATION, it) }
        ?: Cipher.getInstance(TRANSFORMATION)

    override fun seal(plaintext: ByteArray): ByteArray = guarded("seal") {
        val cipher = cipher()
        cipher.init(Cipher.ENCRYPT_MODE, keys.key())
        val iv = cipher.iv
        if (iv == null || iv.size != IV_LEN) throw KeyStoreException.Unavailable("the key store chose no 12-byte IV")
        byteArrayOf(VERSION) + iv + cipher.doFinal(plaintext)
    }

    override fun unseal(sealed: ByteArray): ByteArray = guarded("unseal") {
        if (sealed.size < 1 + IV_LEN + TAG_BITS / 8 || sealed[0] != VERSION) {
            throw KeyStoreException.Rejected("not data this key store sealed")
        }
        val cipher = cipher()
        cipher.init(Cipher.DECRYPT_MODE, keys.key(), GCMParameterSpec(TAG_BITS, sealed, 1, IV_LEN))
        try {
            cipher.doFinal(sealed, 1 + IV_LEN, sealed.size - 1 - IV_LEN)
        } catch (e: AEADBadTagException) {
            throw KeyStoreException.Rejected("the sealed data was changed or sealed under another key")
        }
    }

    private inline fun <T> guarded(what: String, body: () -> T): T = try {
        body()
    } catch (e: KeyStoreException) {
        throw e
    } catch (e: GeneralSecurityException) {
        throw KeyStoreException.Unavailable("$what: ${e.javaClass.simpleName}: ${e.message}")
    } catch (e: java.io.IOException) {
        throw KeyStoreException.Unavailable("$what: ${e.message}")
    }

    private companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val VERSION: Byte = 1
        const val IV_LEN = 12
        const val TAG_BITS = 128
    }
}
