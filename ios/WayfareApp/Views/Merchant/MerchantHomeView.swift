import SwiftUI
import WayfareCore

/// The merchants this phone belongs to (as owner or staff), joining one,
/// and how prompts reach this phone.
struct MerchantHomeView: View {
    @EnvironmentObject private var merchant: MerchantModel
    @State private var joinCode = ""

    var body: some View {
        List {
            Section {
                NavigationLink(L10n.t("merchant.feed")) { PromptFeedView() }
            }
            ForEach(merchant.memberships, id: \.memberId) { member in
                Section(member.merchantName) {
                    LabeledContent(L10n.t("merchant.role"), value: member.role == .owner ? L10n.t("merchant.role.owner") : L10n.t("merchant.role.staff"))
                    if member.role == .owner {
                        NavigationLink(L10n.t("merchant.staff")) { StaffListView(owner: member) }
                    }
                    if member.role == .owner || member.operations.contains(.refund) || member.operations.contains(.viewHistory) {
                        NavigationLink(L10n.t("merchant.refunds")) { RefundsView(member: member) }
                    }
                }
            }
            Section(L10n.t("merchant.join")) {
                TextField(L10n.t("merchant.join.placeholder"), text: $joinCode)
                    .textInputAutocapitalization(.characters)
                    .autocorrectionDisabled()
                Button(L10n.t("merchant.join.submit")) {
                    Task {
                        await merchant.join(code: joinCode)
                        joinCode = ""
                    }
                }
                .disabled(joinCode.trimmingCharacters(in: .whitespaces).isEmpty)
            }
            if let settings = merchant.settings {
                PromptSettingsSection(settings: settings)
            }
            ErrorBanner(message: merchant.error)
        }
        .navigationTitle(L10n.t("merchant.title"))
        .refreshable { await merchant.refresh() }
    }
}

/// Whether prompts on this phone show their text, are spoken, vibrate.
struct PromptSettingsSection: View {
    @EnvironmentObject private var merchant: MerchantModel
    let settings: PromptSettings

    var body: some View {
        Section(L10n.t("merchant.prompt_settings")) {
            Toggle(L10n.t("merchant.prompt.show"), isOn: binding(\.showText))
            Toggle(L10n.t("merchant.prompt.speak"), isOn: binding(\.speak))
            Toggle(L10n.t("merchant.prompt.vibrate"), isOn: binding(\.vibrate))
        }
    }

    private func binding(_ path: KeyPath<PromptSettings, Bool>) -> Binding<Bool> {
        Binding(
            get: { settings[keyPath: path] },
            set: { value in
                let new = PromptSettings(
                    showText: path == \PromptSettings.showText ? value : settings.showText,
                    speak: path == \PromptSettings.speak ? value : settings.speak,
                    vibrate: path == \PromptSettings.vibrate ? value : settings.vibrate)
                Task { await merchant.saveSettings(new) }
            })
    }
}
