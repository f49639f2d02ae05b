import Foundation
import WayfareCore

/// A merchant's owner and staff on their own phones: memberships, the
/// owner's staff list and invitations, the live prompt feed (spoken and
/// felt as the prompt says) and refunds.
@MainActor
final class MerchantModel: ObservableObject {
    @Published private(set) var memberships: [MerchantMembership] = []
    @Published private(set) var staff: [String: [MerchantMembership]] = [:]
    @Published private(set) var prompts: [MerchantPrompt] = []
    @Published private(set) var payments: [String: [MerchantPayment]] = [:]
    @Published private(set) var invitation: StaffInvitation?
    @Published private(set) var settings: PromptSettings?
    @Published private(set) var lastRefund: MerchantRefund?
    @Published var error: String?

    let announcer = PromptAnnouncer()
    private var wallet: Wallet?
    private var stream: PromptStream?
    private var feed: Task<Void, Never>?

    func attach(wallet: Wallet) {
        self.wallet = wallet
    }

    var owned: [MerchantMembership] {
        memberships.filter { $0.role == .owner && $0.active }
    }

    func refresh() async {
        guard let wallet else { return }
        do {
            memberships = try await wallet.merchant().memberships()
            settings = try wallet.merchant().promptSettings()
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
        if memberships.contains(where: { $0.active && $0.operations.contains(.receivePrompts) }) {
            startPromptFeed()
        }
    }

    /// Joins a merchant as staff with the owner's invitation code (or the
    /// scanned QR payload).
    func join(code: String) async {
        guard let wallet else { return }
        do {
            _ = try await wallet.merchant().acceptInvitation(code: code.trimmingCharacters(in: .whitespacesAndNewlines))
            await refresh()
        } catch {
            self.error = L10n.message(error)
        }
    }

    // MARK: - Owner: staff

    func loadStaff(_ merchantId: String) async {
        guard let wallet else { return }
        do {
            staff[merchantId] = try await wallet.merchant().listStaff(merchantId: merchantId)
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }

    func invite(
        _ merchantId: String, label: String, operations: [MerchantOperation], content: [PromptAttribute]
    ) async {
        guard let wallet else { return }
        do {
            invitation = try await wallet.merchant().inviteStaff(
                merchantId: merchantId, operations: operations, content: content,
                label: label.isEmpty ? nil : label, inviteeHandle: nil, expiresInS: 3600)
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }

    func setScopes(
        _ member: MerchantMembership, operations: [MerchantOperation], content: [PromptAttribute]
    ) async {
        guard let wallet else { return }
        do {
            _ = try await wallet.merchant().setStaffScopes(
                merchantId: member.merchantId, memberId: member.memberId, operations: operations, content: content)
            await loadStaff(member.merchantId)
        } catch {
            self.error = L10n.message(error)
        }
    }

    func revoke(_ member: MerchantMembership) async {
        guard let wallet else { return }
        do {
            _ = try await wallet.merchant().revokeStaff(merchantId: member.merchantId, memberId: member.memberId)
            await loadStaff(member.merchantId)
        } catch {
            self.error = L10n.message(error)
        }
    }

    // MARK: - Prompts

    func saveSettings(_ new: PromptSettings) async {
        guard let wallet else { return }
        do {
            try wallet.merchant().setPromptSettings(settings: new)
            settings = new
        } catch {
            self.error = L10n.message(error)
        }
    }

    /// The live feed: each prompt is shown, spoken and felt as it says. A
    /// dropped connection resumes after a pause; `resyncPrompts()` asks the
    /// server for anything missed.
    func startPromptFeed() {
        guard feed == nil, let wallet else { return }
        let stream = wallet.merchant().prompts()
        self.stream = stream
        feed = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    let prompt = try await stream.next()
                    self?.prompts.insert(prompt, at: 0)
                    self?.announcer.announce(prompt)
                } catch WalletError.Cancelled {
                    return
                } catch {
                    try? await Task.sleep(nanoseconds: 5_000_000_000)
                }
            }
        }
    }

    func resync() async {
        guard let wallet else { return }
        do {
            try wallet.merchant().resyncPrompts()
        } catch {
            self.error = L10n.message(error)
        }
    }

    func stopPromptFeed() {
        stream?.cancel()
        feed?.cancel()
        stream = nil
        feed = nil
    }

    // MARK: - Refunds

    func loadPayments(_ merchantId: String) async {
        guard let wallet else { return }
        do {
            payments[merchantId] = try await wallet.merchant().history(merchantId: merchantId, limit: 50)
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }

    /// Refunds `amountMinor` (everything left when nil). The request id is
    /// kept by the caller and passed again to retry a refund whose answer
    /// was lost, so it is made once.
    func refund(_ merchantId: String, payment: MerchantPayment, amountMinor: UInt64?, reason: String, requestId: String) async -> Bool {
        guard let wallet else { return false }
        do {
            lastRefund = try await wallet.merchant().refund(
                merchantId: merchantId, paymentId: payment.paymentId, amountMinor: amountMinor,
                reason: reason.isEmpty ? nil : reason, requestId: requestId)
            await loadPayments(merchantId)
            return true
        } catch {
            self.error = L10n.message(error)
            return false
        }
    }
}
