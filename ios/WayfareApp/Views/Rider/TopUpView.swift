import SwiftUI
import WayfareCore

/// Over-the-air top-up (P1, P5): the providers the server offers
/// (`account().topUpProviders()`), an amount, and `topUp(provider:amountMinor:)`.
/// The sandbox confirms at once; a checkout provider gives a page where the
/// rider pays, and the outcome arrives on the core's top-up stream while
/// this screen is open (and as a notification through the events queue
/// when the app was away). Money moves only when the provider confirms.
struct TopUpView: View {
    @EnvironmentObject private var rider: RiderModel
    @Environment(\.openURL) private var openURL
    @State private var providers: [TopUpProvider] = []
    @State private var amount = ""
    @State private var started: TopUpStarted?
    @State private var finished: TopUp?
    @State private var message: String?
    @State private var working = false
    @State private var waiting: Task<Void, Never>?

    var body: some View {
        Form {
            Section {
                TextField(L10n.t("topup.amount"), text: $amount).keyboardType(.decimalPad)
            } footer: {
                Text(L10n.t("topup.footer"))
            }
            Section(L10n.t("topup.providers")) {
                if providers.isEmpty {
                    Text(L10n.t("topup.no_providers")).foregroundStyle(.secondary)
                }
                ForEach(providers, id: \.id) { provider in
                    Button(L10n.t("topup.with", provider.displayName)) {
                        Task { await start(provider) }
                    }
                    .disabled(working || TopUpView.minorUnits(amount) == nil)
                }
            }
            if let started {
                Section(L10n.t("topup.status")) {
                    LabeledContent(L10n.t("topup.reference"), value: started.reference)
                    if let finished {
                        Text(outcomeText(finished)).bold()
                    } else if started.status == .confirmed {
                        Text(L10n.t("topup.confirmed", L10n.money(Int64(started.amountMinor), started.currency))).bold()
                    } else {
                        HStack {
                            ProgressView()
                            Text(L10n.t("topup.waiting"))
                        }
                        if let link = started.checkoutUrl.flatMap(URL.init(string:)) {
                            Button(L10n.t("topup.open_checkout")) { openURL(link) }
                        }
                    }
                }
            }
            ErrorBanner(message: message)
        }
        .navigationTitle(L10n.t("topup.title"))
        .task { await loadProviders() }
        .onDisappear { waiting?.cancel() }
    }

    /// "50" or "50.5" or "50.50" in major units → minor units (two decimals).
    static func minorUnits(_ text: String) -> UInt64? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let major = UInt64(parts[0]) else { return nil }
        var minor: UInt64 = 0
        if parts.count == 2 {
            let fraction = String(parts[1])
            guard (1...2).contains(fraction.count), let value = UInt64(fraction) else { return nil }
            minor = fraction.count == 1 ? value * 10 : value
        }
        let (scaled, overflow) = major.multipliedReportingOverflow(by: 100)
        guard !overflow, scaled + minor > 0 else { return nil }
        return scaled + minor
    }

    private func loadProviders() async {
        guard let wallet = rider.wallet, providers.isEmpty else { return }
        do {
            providers = try await wallet.account().topUpProviders()
        } catch {
            message = L10n.message(error)
        }
    }

    private func start(_ provider: TopUpProvider) async {
        guard let wallet = rider.wallet, let minor = TopUpView.minorUnits(amount) else { return }
        working = true
        defer { working = false }
        finished = nil
        message = nil
        do {
            let began = try await wallet.account().topUp(provider: provider.id, amountMinor: minor)
            started = began
            if began.status == .confirmed {
                await rider.refresh()
            } else {
                follow(wallet: wallet, reference: began.reference)
            }
        } catch {
            message = L10n.message(error)
        }
    }

    /// Follows the core's top-up stream until this reference is finished.
    private func follow(wallet: Wallet, reference: String) {
        waiting?.cancel()
        let stream = wallet.account().topUpStream()
        waiting = Task {
            defer { stream.cancel() }
            while !Task.isCancelled {
                do {
                    let update = try await stream.next()
                    if update.reference == reference && update.status != .pending {
                        finished = update
                        await rider.refresh()
                        return
                    }
                } catch WalletError.Cancelled {
                    return
                } catch {
                    // The connection ended: the stream resumes where it was.
                    try? await Task.sleep(nanoseconds: 2_000_000_000)
                }
            }
        }
    }

    private func outcomeText(_ topUp: TopUp) -> String {
        switch topUp.status {
        case .confirmed:
            return L10n.t("topup.confirmed", topUp.formattedAmount)
        case .failed:
            return topUp.failureReason ?? L10n.t("notify.topup.failed.body")
        case .expired:
            return L10n.t("topup.expired")
        case .pending:
            return L10n.t("topup.waiting")
        }
    }
}
