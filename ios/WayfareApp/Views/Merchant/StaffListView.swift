import SwiftUI
import WayfareCore

/// The owner's staff: who receives prompts, what they may do and see;
/// inviting (code + QR) and revoking.
struct StaffListView: View {
    @EnvironmentObject private var merchant: MerchantModel
    let owner: MerchantMembership
    @State private var inviting = false

    var body: some View {
        List {
            Section {
                ForEach(merchant.staff[owner.merchantId] ?? [], id: \.memberId) { member in
                    NavigationLink {
                        StaffScopesView(member: member)
                    } label: {
                        VStack(alignment: .leading, spacing: 2) {
                            Text(member.label.isEmpty ? member.handle : member.label)
                            Text(ScopeText.operations(member.operations))
                                .font(.caption).foregroundStyle(.secondary)
                            if !member.active {
                                Text(L10n.t("merchant.staff.revoked")).font(.caption).foregroundStyle(.red)
                            }
                        }
                    }
                }
            }
            Section {
                Button(L10n.t("merchant.staff.invite")) { inviting = true }
            }
            if let invitation = merchant.invitation, invitation.merchantId == owner.merchantId {
                Section {
                    Text(invitation.code).font(.system(.title2, design: .monospaced).bold())
                    QRCodeView(payload: invitation.qrPayload).frame(maxWidth: 220, maxHeight: 220)
                } header: {
                    Text(L10n.t("merchant.staff.invitation", invitation.label))
                } footer: {
                    Text(L10n.t("guardian.invite.expires", L10n.date(ms: invitation.expiresAtMs)))
                }
            }
            ErrorBanner(message: merchant.error)
        }
        .navigationTitle(L10n.t("merchant.staff"))
        .task { await merchant.loadStaff(owner.merchantId) }
        .sheet(isPresented: $inviting) {
            NavigationStack {
                ScopeEditor(title: L10n.t("merchant.staff.invite"), showLabel: true, operations: [.receivePrompts], content: ScopeText.defaultContent) { label, ops, content in
                    inviting = false
                    Task { await merchant.invite(owner.merchantId, label: label, operations: ops, content: content) }
                }
            }
        }
    }
}

/// Change one staff member's scopes, or revoke them.
struct StaffScopesView: View {
    @EnvironmentObject private var merchant: MerchantModel
    @Environment(\.dismiss) private var dismiss
    let member: MerchantMembership

    var body: some View {
        ScopeEditor(title: member.label.isEmpty ? member.handle : member.label, showLabel: false, operations: member.operations, content: member.content) { _, ops, content in
            Task {
                await merchant.setScopes(member, operations: ops, content: content)
                dismiss()
            }
        }
        .toolbar {
            ToolbarItem(placement: .destructiveAction) {
                Button(L10n.t("merchant.staff.revoke"), role: .destructive) {
                    Task {
                        await merchant.revoke(member)
                        dismiss()
                    }
                }
                .disabled(!member.active)
            }
        }
    }
}

/// What a staff member may do (operations) and which fields their prompts
/// carry (content).
struct ScopeEditor: View {
    let title: String
    let showLabel: Bool
    @State var operations: [MerchantOperation]
    @State var content: [PromptAttribute]
    let onSave: (String, [MerchantOperation], [PromptAttribute]) -> Void
    @State private var label = ""

    var body: some View {
        Form {
            if showLabel {
                Section(L10n.t("merchant.staff.label")) {
                    TextField(L10n.t("merchant.staff.label.placeholder"), text: $label)
                }
            }
            Section(L10n.t("merchant.staff.operations")) {
                ForEach(ScopeText.allOperations, id: \.self) { op in
                    Toggle(ScopeText.operation(op), isOn: member(of: $operations, op))
                }
            }
            Section(L10n.t("merchant.staff.content")) {
                ForEach(ScopeText.allContent, id: \.self) { attr in
                    Toggle(ScopeText.attribute(attr), isOn: member(of: $content, attr))
                }
            }
            Button(L10n.t("common.save")) { onSave(label, operations, content) }
        }
        .navigationTitle(title)
    }

    private func member<T: Equatable>(of list: Binding<[T]>, _ item: T) -> Binding<Bool> {
        Binding(
            get: { list.wrappedValue.contains(item) },
            set: { on in
                if on {
                    if !list.wrappedValue.contains(item) { list.wrappedValue.append(item) }
                } else {
                    list.wrappedValue.removeAll { $0 == item }
                }
            })
    }
}

enum ScopeText {
    static let allOperations: [MerchantOperation] = [.receivePrompts, .viewHistory, .refund]
    static let allContent: [PromptAttribute] = [.amount, .time, .payerName, .payeeName, .paymentType, .paymentPlatform, .orderId]
    static let defaultContent: [PromptAttribute] = [.amount, .time, .paymentType]

    static func operation(_ op: MerchantOperation) -> String {
        switch op {
        case .receivePrompts:
            return L10n.t("scope.receive_prompts")
        case .viewHistory:
            return L10n.t("scope.view_history")
        case .refund:
            return L10n.t("scope.refund")
        }
    }

    static func operations(_ ops: [MerchantOperation]) -> String {
        ops.map(operation).joined(separator: ", ")
    }

    static func attribute(_ attr: PromptAttribute) -> String {
        switch attr {
        case .amount:
            return L10n.t("attr.amount")
        case .time:
            return L10n.t("attr.time")
        case .payerName:
            return L10n.t("attr.payer")
        case .payeeName:
            return L10n.t("attr.payee")
        case .paymentType:
            return L10n.t("attr.type")
        case .paymentPlatform:
            return L10n.t("attr.platform")
        case .orderId:
            return L10n.t("attr.order")
        }
    }
}
