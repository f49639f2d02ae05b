import CryptoKit
import Foundation
import Security
import WayfareCore

/// The core's `KeyStore` on the iOS Keychain: seals the device's signing
/// seed (and the other small secrets the core keeps) so that only this
/// device can open them.
///
/// On a device with a Secure Enclave the wrapping key is a P-256 key that
/// never leaves the enclave; sealing is ECIES (an ephemeral P-256 key
/// agreement, X9.63 SHA-256 KDF, AES-GCM; `SecKeyCreateEncryptedData`).
/// Elsewhere (the simulator) it is a 256-bit AES-GCM key stored as a
/// Keychain item. Either key is `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`:
/// usable after the first unlock since boot (so the core can settle a
/// payment in the background), never backed up or moved to another device.
///
/// The first byte of a sealed blob says which key sealed it, so a blob from
/// one kind is refused (`Rejected`) rather than mis-opened by the other.
/// The core calls this on its own threads, never while holding a lock:
/// Keychain calls may block briefly.
final class KeychainKeyStore: KeyStore, @unchecked Sendable {
    private static let enclaveTag = Data("app.wayfare.keystore.enclave.v1".utf8)
    private static let aesAccount = "app.wayfare.keystore.aes.v1"
    private static let service = "app.wayfare.keystore"
    private static let enclaveFormat: UInt8 = 0x45  // "E"
    private static let aesFormat: UInt8 = 0x4B  // "K"
    private static let ecies = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    private let lock = NSLock()

    func seal(plaintext: Data) throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        if SecureEnclave.isAvailable {
            let key = try enclaveKey(create: true)
            guard let publicKey = SecKeyCopyPublicKey(key) else {
                throw KeyStoreError.Unavailable(reason: "the Secure Enclave key has no public key")
            }
            var error: Unmanaged<CFError>?
            guard let sealed = SecKeyCreateEncryptedData(publicKey, Self.ecies, plaintext as CFData, &error) else {
                throw KeyStoreError.Unavailable(reason: Self.describe(error, "ECIES sealing failed"))
            }
            return Data([Self.enclaveFormat]) + (sealed as Data)
        }
        let key = try aesKey(create: true)
        do {
            let box = try AES.GCM.seal(plaintext, using: key)
            guard let combined = box.combined else {
                throw KeyStoreError.Unavailable(reason: "AES-GCM produced no output")
            }
            return Data([Self.aesFormat]) + combined
        } catch let e as KeyStoreError {
            throw e
        } catch {
            throw KeyStoreError.Unavailable(reason: "AES-GCM sealing failed: \(error.localizedDescription)")
        }
    }

    func unseal(sealed: Data) throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        guard let format = sealed.first else {
            throw KeyStoreError.Rejected(reason: "empty sealed data")
        }
        let body = sealed.dropFirst()
        switch format {
        case Self.enclaveFormat:
            let key = try enclaveKey(create: false)
            var error: Unmanaged<CFError>?
            guard let plain = SecKeyCreateDecryptedData(key, Self.ecies, Data(body) as CFData, &error) else {
                throw KeyStoreError.Rejected(reason: Self.describe(error, "ECIES opening failed"))
            }
            return plain as Data
        case Self.aesFormat:
            let key = try aesKey(create: false)
            do {
                let box = try AES.GCM.SealedBox(combined: Data(body))
                return try AES.GCM.open(box, using: key)
            } catch {
                throw KeyStoreError.Rejected(reason: "AES-GCM opening failed")
            }
        default:
            throw KeyStoreError.Rejected(reason: "unknown sealed format \(format)")
        }
    }

    // MARK: - Secure Enclave key

    private func enclaveKey(create: Bool) throws -> SecKey {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: Self.enclaveTag,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let found = item {
            // A CFTypeRef returned for kSecReturnRef on kSecClassKey is a SecKey.
            return found as! SecKey  // swiftlint:disable:this force_cast
        }
        guard status == errSecItemNotFound else {
            throw Self.keychainError(status, "reading the Secure Enclave key")
        }
        guard create else {
            throw KeyStoreError.Rejected(reason: "the Secure Enclave key is gone (the app was reinstalled or the device reset)")
        }
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, .privateKeyUsage, &error)
        else {
            throw KeyStoreError.Unavailable(reason: Self.describe(error, "access control"))
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: Self.enclaveTag,
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw KeyStoreError.Unavailable(reason: Self.describe(error, "creating the Secure Enclave key"))
        }
        return key
    }

    // MARK: - Keychain-held AES key

    private func aesKey(create: Bool) throws -> SymmetricKey {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: Self.service,
            kSecAttrAccount as String: Self.aesAccount,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let data = item as? Data {
            return SymmetricKey(data: data)
        }
        guard status == errSecItemNotFound else {
            throw Self.keychainError(status, "reading the wrapping key")
        }
        guard create else {
            throw KeyStoreError.Rejected(reason: "the wrapping key is gone (the app was reinstalled or the device reset)")
        }
        let key = SymmetricKey(size: .bits256)
        let raw = key.withUnsafeBytes { Data($0) }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: Self.service,
            kSecAttrAccount as String: Self.aesAccount,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecAttrSynchronizable as String: false,
            kSecValueData as String: raw,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else {
            throw Self.keychainError(added, "storing the wrapping key")
        }
        return key
    }

    // MARK: - Errors

    private static func keychainError(_ status: OSStatus, _ doing: String) -> KeyStoreError {
        let text = SecCopyErrorMessageString(status, nil) as String? ?? "OSStatus \(status)"
        // errSecInteractionNotAllowed: the device has not been unlocked
        // since it booted. The core reports it as "try again later".
        return KeyStoreError.Unavailable(reason: "\(doing): \(text)")
    }

    private static func describe(_ error: Unmanaged<CFError>?, _ doing: String) -> String {
        guard let e = error?.takeRetainedValue() else { return doing }
        return "\(doing): \(CFErrorCopyDescription(e) as String? ?? "unknown error")"
    }
}
