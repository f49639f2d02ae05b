import Foundation
import WayfareCore

/// Where the wallet keeps its data and which control center it trusts. The
/// server URL and the two pinned public keys come from Info.plist
/// (`WayfareServerURL`, `WayfareOperatorKey`, `WayfareReceiptKey`), set per
/// build configuration.
struct AppConfig {
    let serverUrl: String
    let operatorKey: String
    let receiptKey: String
    let dataDir: URL

    static func fromBundle(_ bundle: Bundle = .main) throws -> AppConfig {
        func value(_ key: String) throws -> String {
            guard let v = bundle.object(forInfoDictionaryKey: key) as? String, !v.isEmpty else {
                throw AppConfigError.missing(key)
            }
            return v
        }
        let support = try FileManager.default.url(
            for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        let dir = support.appendingPathComponent("wayfare", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // The wallet's store holds receipts and the sealed device key: keep
        // it out of iCloud backups (the key is sealed to this device).
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        var mutableDir = dir
        try? mutableDir.setResourceValues(values)
        return AppConfig(
            serverUrl: try value("WayfareServerURL"),
            operatorKey: try value("WayfareOperatorKey"),
            receiptKey: try value("WayfareReceiptKey"),
            dataDir: dir)
    }

    var walletConfig: WalletConfig {
        // The core's own mDNS browser is not used on iOS (raw multicast needs
        // Apple's multicast entitlement); NWBrowser feeds the LAN instead.
        WalletConfig(
            dataDir: dataDir.path,
            serverUrl: serverUrl,
            operatorKey: operatorKey,
            receiptKey: receiptKey,
            mdnsScope: .allInterfaces)
    }
}

enum AppConfigError: LocalizedError {
    case missing(String)

    var errorDescription: String? {
        switch self {
        case .missing(let key):
            return "Info.plist has no \(key)"
        }
    }
}
