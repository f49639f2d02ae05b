import Foundation
import os
import UIKit
import WayfareCore

/// This device's APNs token, handed to the control center through the core
/// (`account().registerPushToken`), so a guardian alert or a merchant
/// prompt reaches the phone while the app is closed (decision 0019). A push
/// carries only an id, its kind and a short text; when one arrives the app
/// runs the event drain, which fetches the details over the signed API and
/// shows them from the core's queue.
///
/// A token iOS hands over while the control center cannot be reached is
/// kept in `UserDefaults` and sent at the next start or drain, so it is
/// never lost between two launches.
@MainActor
final class PushRegistration {
    private static let pendingKey = "wayfare.push.pendingToken"

    private let account: AccountApi
    private let defaults: UserDefaults
    private let log = Logger(subsystem: "app.wayfare", category: "push")

    init(account: AccountApi, defaults: UserDefaults = .standard) {
        self.account = account
        self.defaults = defaults
    }

    /// Asks iOS for a token once notifications are allowed; iOS answers in
    /// `AppDelegate.application(_:didRegisterForRemoteNotificationsWithDeviceToken:)`.
    func requestToken() {
        UIApplication.shared.registerForRemoteNotifications()
    }

    /// The token iOS gave: kept, then registered.
    func tokenReceived(_ deviceToken: Data) async {
        let hex = deviceToken.map { String(format: "%02x", $0) }.joined()
        defaults.set(hex, forKey: Self.pendingKey)
        await sendPending()
    }

    /// Registers a token kept while offline; a no-op when none waits.
    func sendPending() async {
        guard let token = defaults.string(forKey: Self.pendingKey) else { return }
        do {
            try await account.registerPushToken(
                platform: .apns,
                token: token,
                locale: Locale.preferredLanguages.first ?? "en"
            )
            defaults.removeObject(forKey: Self.pendingKey)
        } catch {
            // Logged without the token; sent again at the next start or drain.
            log.info("push token not registered yet: \(L10n.message(error), privacy: .public)")
        }
    }

    /// Notifications turned off: the control center stops pushing to this
    /// device, and iOS stops delivering.
    func unregister() async {
        defaults.removeObject(forKey: Self.pendingKey)
        _ = try? await account.removePushToken()
        UIApplication.shared.unregisterForRemoteNotifications()
    }
}
