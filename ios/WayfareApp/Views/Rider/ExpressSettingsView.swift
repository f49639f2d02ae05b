import SwiftUI
import WayfareCore

/// Express taps (`wallet.express()`): on or off, and the rider's caps per
/// tap and in total for one allowance. The gate charges within the smaller
/// of these and the server's own limits.
struct ExpressSettingsView: View {
    @EnvironmentObject private var rider: RiderModel
    @State private var enabled = false
    @State private var perTap = ""
    @State private var total = ""
    @State private var loaded = false
    @State private var saving = false

    var body: some View {
        Form {
            Section {
                Toggle(L10n.t("express.enabled"), isOn: $enabled)
            } footer: {
                Text(L10n.t("express.footer"))
            }
            Section(L10n.t("express.caps")) {
                TextField(L10n.t("express.per_tap"), text: $perTap).keyboardType(.numberPad)
                TextField(L10n.t("express.total"), text: $total).keyboardType(.numberPad)
            }
            if let status = rider.express {
                Section(L10n.t("express.status")) {
                    LabeledContent(L10n.t("express.ready"), value: status.ready ? L10n.t("common.yes") : L10n.t("common.no"))
                    if let allowance = status.allowance {
                        LabeledContent(
                            L10n.t("express.spent"),
                            value: L10n.t(
                                "express.spent.value",
                                L10n.money(Int64(allowance.spentMinor), allowance.currency),
                                L10n.money(Int64(allowance.totalMaxMinor), allowance.currency)))
                        LabeledContent(L10n.t("express.expires"), value: L10n.date(ms: Int64(allowance.expiresAtMs)))
                    }
                    if status.needsRefresh {
                        Text(L10n.t("express.needs_refresh")).font(.footnote).foregroundStyle(.orange)
                    }
                }
            }
            ErrorBanner(message: rider.error)
            Button {
                Task { await save() }
            } label: {
                if saving { ProgressView() } else { Text(L10n.t("common.save")) }
            }
            .disabled(saving || UInt64(perTap) == nil || UInt64(total) == nil)
        }
        .navigationTitle(L10n.t("express.title"))
        .task { await load() }
    }

    /// Amounts are typed in minor units (cents, fen), as the core keeps them.
    private func load() async {
        guard !loaded else { return }
        await rider.loadExpress()
        if let settings = rider.express?.settings {
            enabled = settings.enabled
            perTap = String(settings.perTapMaxMinor)
            total = String(settings.totalMaxMinor)
        }
        loaded = true
    }

    private func save() async {
        guard let perTapMax = UInt64(perTap), let totalMax = UInt64(total) else { return }
        saving = true
        defer { saving = false }
        await rider.saveExpress(enabled: enabled, perTapMaxMinor: perTapMax, totalMaxMinor: totalMax)
    }
}
