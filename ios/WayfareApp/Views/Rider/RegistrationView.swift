import SwiftUI

/// First run: the name riders, guardians and merchants' staff see. The
/// phone number is optional, stays with the control center and is never
/// shown to terminals or merchants.
struct RegistrationView: View {
    @EnvironmentObject private var model: AppModel
    @State private var displayName = ""
    @State private var phoneNumber = ""
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text(L10n.t("register.intro"))
                        .font(.callout)
                        .foregroundStyle(.secondary)
                }
                Section(L10n.t("register.name")) {
                    TextField(L10n.t("register.name.placeholder"), text: $displayName)
                        .textContentType(.name)
                }
                Section {
                    TextField(L10n.t("register.phone.placeholder"), text: $phoneNumber)
                        .keyboardType(.phonePad)
                        .textContentType(.telephoneNumber)
                } header: {
                    Text(L10n.t("register.phone"))
                } footer: {
                    Text(L10n.t("register.phone.footer"))
                }
                ErrorBanner(message: error)
                Button {
                    Task { await register() }
                } label: {
                    if busy {
                        ProgressView()
                    } else {
                        Text(L10n.t("register.submit"))
                    }
                }
                .disabled(busy || displayName.trimmingCharacters(in: .whitespaces).isEmpty)
            }
            .navigationTitle(L10n.t("register.title"))
        }
    }

    private func register() async {
        busy = true
        defer { busy = false }
        let phone = phoneNumber.trimmingCharacters(in: .whitespaces)
        do {
            try await model.register(
                displayName: displayName.trimmingCharacters(in: .whitespaces),
                phoneNumber: phone.isEmpty ? nil : phone)
        } catch {
            self.error = L10n.message(error)
        }
    }
}
