import SwiftUI
import WayfareCore

/// Guardian bindings: the riders this phone watches over, the guardians
/// who watch over this rider, inviting and accepting, and the alert feed.
struct GuardianHomeView: View {
    @EnvironmentObject private var guardian: GuardianModel

    var body: some View {
        List {
            Section {
                NavigationLink(L10n.t("guardian.invite")) { InviteGuardianView() }
                NavigationLink(L10n.t("guardian.accept")) { AcceptInvitationView() }
                NavigationLink(L10n.t("guardian.alerts")) { AlertFeedView() }
            }
            Section(L10n.t("guardian.my_guardians")) {
                if guardian.asRider.isEmpty {
                    Text(L10n.t("guardian.none")).foregroundStyle(.secondary)
                }
                ForEach(guardian.asRider, id: \.bindingId) { binding in
                    NavigationLink {
                        BindingDetailView(binding: binding)
                    } label: {
                        BindingRow(binding: binding)
                    }
                }
            }
            Section(L10n.t("guardian.my_riders")) {
                if guardian.asGuardian.isEmpty {
                    Text(L10n.t("guardian.none")).foregroundStyle(.secondary)
                }
                ForEach(guardian.asGuardian, id: \.bindingId) { binding in
                    NavigationLink {
                        BindingDetailView(binding: binding)
                    } label: {
                        BindingRow(binding: binding)
                    }
                }
            }
            ErrorBanner(message: guardian.error)
        }
        .navigationTitle(L10n.t("guardian.title"))
        .refreshable { await guardian.refresh() }
    }
}

struct BindingRow: View {
    let binding: GuardianBinding

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            Text(binding.role == .rider ? binding.counterpartName : riderName)
            HStack {
                Text(GuardianModel.scopeText(binding.scope))
                if let limit = binding.dailyLimitMinor {
                    Text("· " + L10n.t("guardian.limit.value", L10n.money(limit, binding.currency)))
                }
            }
            .font(.caption)
            .foregroundStyle(.secondary)
        }
    }

    private var riderName: String {
        L10n.prefersChinese && !binding.riderNameZh.isEmpty ? binding.riderNameZh : binding.riderName
    }
}

/// One binding: its scope and daily limit; the rider may change the limit
/// or revoke, the guardian may leave.
struct BindingDetailView: View {
    @EnvironmentObject private var guardian: GuardianModel
    @Environment(\.dismiss) private var dismiss
    let binding: GuardianBinding
    @State private var limit = ""

    var body: some View {
        Form {
            Section {
                LabeledContent(L10n.t("guardian.counterpart"), value: binding.counterpartName)
                LabeledContent(L10n.t("guardian.scope"), value: GuardianModel.scopeText(binding.scope))
                LabeledContent(
                    L10n.t("guardian.limit"),
                    value: binding.dailyLimitMinor.map { L10n.money($0, binding.currency) } ?? L10n.t("guardian.limit.none"))
                LabeledContent(L10n.t("guardian.since"), value: L10n.date(ms: binding.createdAtMs))
            }
            if binding.role == .rider {
                Section {
                    TextField(L10n.t("guardian.limit.placeholder"), text: $limit).keyboardType(.numberPad)
                    Button(L10n.t("guardian.limit.set")) {
                        Task { await guardian.setDailyLimit(binding, minor: UInt64(limit)) }
                    }
                    .disabled(UInt64(limit) == nil)
                    Button(L10n.t("guardian.limit.clear")) {
                        Task { await guardian.setDailyLimit(binding, minor: nil) }
                    }
                } header: {
                    Text(L10n.t("guardian.limit"))
                } footer: {
                    Text(L10n.t("guardian.limit.footer"))
                }
                Button(L10n.t("guardian.revoke"), role: .destructive) {
                    Task {
                        await guardian.revoke(binding)
                        dismiss()
                    }
                }
            } else {
                Button(L10n.t("guardian.leave"), role: .destructive) {
                    Task {
                        await guardian.leave(binding)
                        dismiss()
                    }
                }
            }
            ErrorBanner(message: guardian.error)
        }
        .navigationTitle(binding.role == .rider ? binding.counterpartName : binding.riderName)
    }
}
