import SwiftUI
import WayfareCore

/// The rider invites a guardian: choose what the guardian sees and how the
/// rider is named, then show the code and its QR image.
struct InviteGuardianView: View {
    @EnvironmentObject private var guardian: GuardianModel
    @State private var scope: GuardianScope = .transitOnly
    @State private var shownAs: RiderName = .nickname
    @State private var busy = false

    var body: some View {
        Form {
            Section {
                Picker(L10n.t("guardian.scope"), selection: $scope) {
                    Text(L10n.t("guardian.scope.transit")).tag(GuardianScope.transitOnly)
                    Text(L10n.t("guardian.scope.all")).tag(GuardianScope.allPayments)
                }
                Picker(L10n.t("guardian.shown_as"), selection: $shownAs) {
                    Text(L10n.t("guardian.shown_as.nickname")).tag(RiderName.nickname)
                    Text(L10n.t("guardian.shown_as.phone_tail")).tag(RiderName.phoneTail)
                }
                Button(L10n.t("guardian.invite.create")) {
                    Task {
                        busy = true
                        await guardian.invite(scope: scope, shownAs: shownAs)
                        busy = false
                    }
                }
                .disabled(busy)
            }
            if let invitation = guardian.invitation {
                Section {
                    Text(invitation.code)
                        .font(.system(.title, design: .monospaced).bold())
                        .textSelection(.enabled)
                    QRCodeView(payload: invitation.qrPayload)
                        .frame(maxWidth: 240, maxHeight: 240)
                } header: {
                    Text(L10n.t("guardian.invite.code"))
                } footer: {
                    Text(L10n.t("guardian.invite.expires", L10n.date(ms: invitation.expiresAtMs)))
                }
            }
            ErrorBanner(message: guardian.error)
        }
        .navigationTitle(L10n.t("guardian.invite"))
    }
}

/// The guardian accepts by typing the code or scanning the rider's QR.
struct AcceptInvitationView: View {
    @EnvironmentObject private var guardian: GuardianModel
    @Environment(\.dismiss) private var dismiss
    @State private var code = ""
    @State private var scanning = false

    var body: some View {
        Form {
            Section {
                TextField(L10n.t("guardian.accept.placeholder"), text: $code)
                    .textInputAutocapitalization(.characters)
                    .autocorrectionDisabled()
                Button(L10n.t("guardian.accept.submit")) {
                    Task { await accept(code) }
                }
                .disabled(code.trimmingCharacters(in: .whitespaces).isEmpty)
                Button {
                    scanning = true
                } label: {
                    Label(L10n.t("guardian.accept.scan"), systemImage: "qrcode.viewfinder")
                }
            }
            ErrorBanner(message: guardian.error)
        }
        .navigationTitle(L10n.t("guardian.accept"))
        .sheet(isPresented: $scanning) {
            QRScannerView { payload in
                scanning = false
                Task { await accept(payload) }
            }
            .ignoresSafeArea()
        }
    }

    private func accept(_ text: String) async {
        if await guardian.accept(code: text) {
            dismiss()
        }
    }
}
