import SwiftUI
import WayfareCore

/// Balance, points and history; each payment opens its receipt.
struct RiderHomeView: View {
    @EnvironmentObject private var rider: RiderModel
    @EnvironmentObject private var model: AppModel

    var body: some View {
        List {
            Section {
                if let balance = rider.balance {
                    VStack(alignment: .leading, spacing: 4) {
                        Text(L10n.t("wallet.balance")).font(.caption).foregroundStyle(.secondary)
                        Text(balance.formatted).font(.largeTitle.bold())
                        Text(L10n.t("wallet.points", balance.points)).font(.subheadline)
                    }
                    .padding(.vertical, 4)
                } else {
                    ProgressView()
                }
                if let account = model.account {
                    LabeledContent(L10n.t("wallet.handle"), value: account.handle)
                }
            }
            if rider.pendingPayments > 0 {
                Section {
                    Text(L10n.t("wallet.pending", rider.pendingPayments))
                    Button(L10n.t("wallet.pending.settle")) {
                        Task { await rider.settlePending() }
                    }
                }
            }
            Section {
                NavigationLink(L10n.t("trips.title")) { TripsView() }
                NavigationLink(L10n.t("express.title")) { ExpressSettingsView() }
                NavigationLink(L10n.t("topup.title")) { TopUpView() }
            }
            Section(L10n.t("wallet.history")) {
                if rider.history.isEmpty {
                    Text(L10n.t("wallet.history.empty")).foregroundStyle(.secondary)
                }
                ForEach(rider.history, id: \.entryId) { entry in
                    if let receipt = rider.receipt(for: entry) {
                        NavigationLink {
                            ReceiptView(receipt: receipt)
                        } label: {
                            HistoryRow(entry: entry)
                        }
                    } else {
                        HistoryRow(entry: entry)
                    }
                }
            }
            ErrorBanner(message: rider.error)
        }
        .navigationTitle(L10n.t("wallet.title"))
        .refreshable { await rider.refresh() }
    }
}

struct HistoryRow: View {
    let entry: HistoryEntry

    var body: some View {
        HStack {
            VStack(alignment: .leading) {
                Text(title).font(.body)
                Text(L10n.date(ms: Int64(entry.atMs))).font(.caption).foregroundStyle(.secondary)
            }
            Spacer()
            Text(entry.formattedAmount)
                .foregroundStyle(entry.amountMinor < 0 ? Color.primary : Color.green)
        }
    }

    private var title: String {
        switch entry.kind {
        case .payment:
            return entry.merchantName ?? entry.description
        case .refund:
            return L10n.t("history.refund", entry.merchantName ?? "")
        case .topUp:
            return L10n.t("history.topup")
        case .other:
            return entry.description
        }
    }
}

/// A receipt as the server signed it.
struct ReceiptView: View {
    let receipt: StoredReceipt

    var body: some View {
        List {
            Section {
                LabeledContent(L10n.t("receipt.merchant"), value: receipt.merchantName)
                LabeledContent(L10n.t("receipt.amount"), value: receipt.formattedAmount)
                if !receipt.description.isEmpty {
                    LabeledContent(L10n.t("receipt.description"), value: receipt.description)
                }
                LabeledContent(L10n.t("receipt.when"), value: L10n.date(ms: Int64(receipt.completedAtMs)))
                LabeledContent(L10n.t("receipt.balance_after"), value: L10n.money(receipt.balanceAfterMinor, receipt.currency))
            }
            Section(L10n.t("receipt.ids")) {
                LabeledContent(L10n.t("receipt.payment_id"), value: receipt.paymentId)
                LabeledContent(L10n.t("receipt.order_id"), value: receipt.orderId)
                LabeledContent(L10n.t("receipt.terminal"), value: receipt.terminalId)
            }
        }
        .textSelection(.enabled)
        .navigationTitle(L10n.t("receipt.title"))
    }
}
