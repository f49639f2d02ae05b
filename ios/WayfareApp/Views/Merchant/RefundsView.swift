import SwiftUI
import WayfareCore

/// A merchant's recent payments; refund all or part of one.
struct RefundsView: View {
    @EnvironmentObject private var merchant: MerchantModel
    let member: MerchantMembership
    @State private var refunding: MerchantPayment?

    var body: some View {
        List {
            ForEach(merchant.payments[member.merchantId] ?? [], id: \.paymentId) { payment in
                Button {
                    refunding = payment
                } label: {
                    HStack {
                        VStack(alignment: .leading) {
                            Text(payment.payerName ?? payment.paymentId)
                            if let at = payment.atMs {
                                Text(L10n.date(ms: at)).font(.caption).foregroundStyle(.secondary)
                            }
                        }
                        Spacer()
                        if let amount = payment.amountMinor, let currency = payment.currency {
                            VStack(alignment: .trailing) {
                                Text(L10n.money(amount, currency))
                                if let refunded = payment.refundedMinor, refunded > 0 {
                                    Text(L10n.t("refund.refunded", L10n.money(refunded, currency)))
                                        .font(.caption).foregroundStyle(.orange)
                                }
                            }
                        }
                    }
                }
                .disabled(!(member.role == .owner || member.operations.contains(.refund)))
            }
            if let refund = merchant.lastRefund {
                Section(L10n.t("refund.last")) {
                    LabeledContent(L10n.t("refund.amount"), value: L10n.money(refund.amountMinor, refund.currency))
                    LabeledContent(L10n.t("refund.remaining"), value: L10n.money(refund.remainingMinor, refund.currency))
                }
            }
            ErrorBanner(message: merchant.error)
        }
        .navigationTitle(L10n.t("merchant.refunds"))
        .task { await merchant.loadPayments(member.merchantId) }
        .refreshable { await merchant.loadPayments(member.merchantId) }
        .sheet(item: $refunding) { payment in
            RefundSheet(merchantId: member.merchantId, payment: payment)
        }
    }
}

extension MerchantPayment: Identifiable {
    public var id: String { paymentId }
}

/// One refund. The request id is made once per sheet, so pressing Refund
/// again after a lost answer retries the same refund instead of making a
/// second one.
struct RefundSheet: View {
    @EnvironmentObject private var merchant: MerchantModel
    @Environment(\.dismiss) private var dismiss
    let merchantId: String
    let payment: MerchantPayment
    @State private var amount = ""
    @State private var reason = ""
    @State private var requestId = UUID().uuidString
    @State private var busy = false

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    TextField(L10n.t("refund.amount.placeholder"), text: $amount).keyboardType(.numberPad)
                    TextField(L10n.t("refund.reason"), text: $reason)
                } footer: {
                    Text(L10n.t("refund.footer"))
                }
                ErrorBanner(message: merchant.error)
                Button(L10n.t("refund.submit")) {
                    Task {
                        busy = true
                        let done = await merchant.refund(
                            merchantId, payment: payment, amountMinor: UInt64(amount), reason: reason, requestId: requestId)
                        busy = false
                        if done { dismiss() }
                    }
                }
                .disabled(busy)
            }
            .navigationTitle(L10n.t("refund.title"))
        }
    }
}
