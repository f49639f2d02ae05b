import Foundation
import SwiftUI
import WayfareCore

/// Owns the core's `Wallet` and the platform services plugged into it.
/// Screens get the area models (`rider`, `guardian`, `merchant`) from here.
@MainActor
final class AppModel: ObservableObject {
    enum Phase: Equatable {
        case starting
        case failed(String)
        case needsRegistration
        case ready
    }

    @Published private(set) var phase: Phase = .starting
    @Published private(set) var account: AccountInfo?

    private(set) var wallet: Wallet?
    let rider = RiderModel()
    let guardian = GuardianModel()
    let merchant = MerchantModel()
    @Published private(set) var notifier: EventNotifier?
    private var push: PushRegistration?
    private let logSink = OSLogSink()

    /// Opens the wallet once: key store, logging, the wallet itself (which
    /// settles payments left open by an earlier run), then the event drain.
    func start() async {
        guard wallet == nil else { return }
        do {
            try? initLogging(level: .info, logger: logSink)
            let config = try AppConfig.fromBundle()
            let keyStore = KeychainKeyStore()
            let wallet = try Wallet(config: config.walletConfig, keyStore: keyStore)
            let report = try await wallet.open()
            self.wallet = wallet
            rider.attach(wallet: wallet, settled: report.settled, stillPending: report.stillPending)
            guardian.attach(wallet: wallet)
            merchant.attach(wallet: wallet)

            let notifier = EventNotifier(events: wallet.events(), announcer: merchant.announcer)
            self.notifier = notifier
            await notifier.start()

            if wallet.account().isRegistered() {
                await enterApp(wallet)
            } else {
                phase = .needsRegistration
            }
        } catch {
            phase = .failed(L10n.message(error))
        }
    }

    /// First run: the display name (and, optionally, a phone number the
    /// server uses only for account recovery; terminals never see it).
    func register(displayName: String, phoneNumber: String?) async throws {
        guard let wallet else { return }
        let info = try await wallet.account().register(displayName: displayName, phoneNumber: phoneNumber)
        account = info
        await enterApp(wallet)
    }

    private func enterApp(_ wallet: Wallet) async {
        account = wallet.account().info()
        phase = .ready
        let push = PushRegistration(account: wallet.account())
        self.push = push
        push.requestToken()
        await push.sendPending()
        await rider.refresh()
        rider.startNearby()
        await guardian.refresh()
        await merchant.refresh()
    }

    /// The APNs token iOS handed the app delegate.
    func pushTokenReceived(_ deviceToken: Data) async {
        await push?.tokenReceived(deviceToken)
    }

    /// A push arrived: opens the wallet if this launch was for the push,
    /// registers a token left unsent, catches guardian alerts and merchant
    /// prompts up over the signed API (the push itself carries no details),
    /// and drains the core's event queue into notifications. True when the
    /// drain ran.
    func pushReceived() async -> Bool {
        if wallet == nil { await start() }
        guard let wallet, let notifier else { return false }
        await push?.sendPending()
        _ = try? await wallet.guardians().syncAlerts()
        _ = try? await wallet.merchant().syncPrompts()
        await notifier.drain()
        return true
    }

    /// Called when the app goes to the background: stops radios and streams.
    func pause() {
        rider.stopNearby()
        guardian.stopAlertFeed()
        merchant.stopPromptFeed()
    }
}
