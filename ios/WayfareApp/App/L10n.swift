import Foundation
import WayfareCore

#if SWIFT_PACKAGE
// Built with ios/Package.swift: the strings are the package's resources.
private let stringsBundle = Bundle.module
#else
// Built as the app target (ios/project.yml): the strings are in the app.
private let stringsBundle = Bundle.main
#endif

/// Localized strings (Resources/<lang>.lproj/Localizable.strings) and the
/// few formatting helpers the screens share.
enum L10n {
    static func t(_ key: String) -> String {
        NSLocalizedString(key, bundle: stringsBundle, comment: "")
    }

    static func t(_ key: String, _ args: CVarArg...) -> String {
        String(format: NSLocalizedString(key, bundle: stringsBundle, comment: ""), locale: Locale.current, arguments: args)
    }

    /// Whether the person reads Chinese (the core ships alert texts in
    /// English and Chinese).
    static var prefersChinese: Bool {
        (Locale.preferredLanguages.first ?? "en").hasPrefix("zh")
    }

    /// Minor units as money, for the records the core does not format.
    static func money(_ minor: Int64, _ currency: String) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .currency
        formatter.currencyCode = currency
        let digits = formatter.maximumFractionDigits
        let major = Decimal(minor) / pow(Decimal(10), digits)
        return formatter.string(from: major as NSDecimalNumber) ?? "\(minor) \(currency)"
    }

    static func date(ms: Int64) -> String {
        let d = Date(timeIntervalSince1970: TimeInterval(ms) / 1000)
        return d.formatted(date: .abbreviated, time: .shortened)
    }

    /// A message a person can act on for any error the core throws.
    static func message(_ error: Error) -> String {
        if let e = error as? WalletError {
            return walletErrorMessage(error: e)
        }
        return error.localizedDescription
    }
}
