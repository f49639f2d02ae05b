import Foundation
import WayfareCore

/// Guardian bindings from both sides (a rider invites, a guardian accepts),
/// and the alert feed a guardian receives when a bound rider pays.
@MainActor
final class GuardianModel: ObservableObject {
    @Published private(set) var asRider: [GuardianBinding] = []
    @Published private(set) var asGuardian: [GuardianBinding] = []
    @Published private(set) var invitation: GuardianInvitation?
    @Published private(set) var alerts: [GuardianAlert] = []
    @Published var error: String?

    private var wallet: Wallet?
    private var stream: GuardianAlertStream?
    private var feed: Task<Void, Never>?

    func attach(wallet: Wallet) {
        self.wallet = wallet
    }

    func refresh() async {
        guard let wallet else { return }
        do {
            let all = try await wallet.guardians().bindings(includeEnded: false)
            asRider = all.asRider
            asGuardian = all.asGuardian
            alerts = try wallet.guardians().alerts(limit: 100).reversed()
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
        if !asGuardian.isEmpty {
            startAlertFeed()
        }
    }

    // MARK: - Rider side

    /// An invitation a guardian accepts by typing the code or scanning the
    /// QR code. `transitOnly` shares rides only; `allPayments` every payment.
    func invite(scope: GuardianScope, shownAs: RiderName) async {
        guard let wallet else { return }
        do {
            invitation = try await wallet.guardians().createInvitation(scope: scope, shownAs: shownAs, expiresInS: 900)
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }

    func revoke(_ binding: GuardianBinding) async {
        await change { try await $0.guardians().revoke(bindingId: binding.bindingId) }
    }

    /// The rider sets (or clears, with nil) the guardian's daily limit, in
    /// the rider's own time zone.
    func setDailyLimit(_ binding: GuardianBinding, minor: UInt64?) async {
        let offsetMinutes = Int32(TimeZone.current.secondsFromGMT() / 60)
        await change {
            try await $0.guardians().setDailyLimit(
                bindingId: binding.bindingId, dailyLimitMinor: minor, utcOffsetMinutes: offsetMinutes)
        }
    }

    // MARK: - Guardian side

    /// Accepts a rider's invitation: the code as shown (any case) or the
    /// scanned QR payload.
    func accept(code: String) async -> Bool {
        guard let wallet else { return false }
        do {
            _ = try await wallet.guardians().acceptInvitation(code: code.trimmingCharacters(in: .whitespacesAndNewlines))
            await refresh()
            return true
        } catch {
            self.error = L10n.message(error)
            return false
        }
    }

    func leave(_ binding: GuardianBinding) async {
        await change { try await $0.guardians().leave(bindingId: binding.bindingId) }
    }

    private func change(_ call: (Wallet) async throws -> GuardianBinding) async {
        guard let wallet else { return }
        do {
            _ = try await call(wallet)
            await refresh()
        } catch {
            self.error = L10n.message(error)
        }
    }

    // MARK: - Alert feed

    /// Reads the live stream while the app runs; a dropped connection is
    /// resumed after a pause, without losing alerts. Notifications for the
    /// same alerts come through the event queue (`EventNotifier`).
    func startAlertFeed() {
        guard feed == nil, let wallet else { return }
        let stream = wallet.guardians().alertStream()
        self.stream = stream
        feed = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    let alert = try await stream.next()
                    self?.alerts.insert(alert, at: 0)
                } catch WalletError.Cancelled {
                    return
                } catch {
                    try? await Task.sleep(nanoseconds: 5_000_000_000)
                }
            }
        }
    }

    func stopAlertFeed() {
        stream?.cancel()
        feed?.cancel()
        stream = nil
        feed = nil
    }

    /// A binding's scope in words (the core's enum, never a string compare).
    static func scopeText(_ scope: GuardianScope) -> String {
        switch scope {
        case .transitOnly: return L10n.t("guardian.scope.transit")
        case .allPayments: return L10n.t("guardian.scope.all")
        }
    }
}
