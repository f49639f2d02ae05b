import SwiftUI
import WayfareCore

/// A counter or kiosk top-up (P1, P5): the cashier took cash and the
/// terminal offers to credit it to this wallet. The merchant is shown as
/// its certificate names it; "Add to my wallet" signs the claim, and the
/// server's signed receipt is checked by the phone and the terminal alike.
/// Declining leaves the cash with the cashier.
struct TopUpOfferView: View {
    @EnvironmentObject private var rider: RiderModel
    let prompt: RiderModel.TopUpPrompt
    let crediting: Bool

    var body: some View {
        let offer = prompt.offer
        List {
            Section {
                VStack(alignment: .leading, spacing: 6) {
                    Label(prompt.terminal.merchantName, systemImage: "checkmark.seal")
                        .font(.headline)
                    Text(L10n.t("pay.certified")).font(.caption).foregroundStyle(.secondary)
                    Text(offer.formattedAmount).font(.system(size: 44, weight: .bold))
                    Text(L10n.t("topup.offer.detail")).font(.body)
                }
                .padding(.vertical, 6)
            }
            Section {
                if offer.merchantName != prompt.terminal.merchantName {
                    Text(L10n.t("pay.name_differs", offer.merchantName))
                        .font(.footnote)
                        .foregroundStyle(.orange)
                }
                LabeledContent(L10n.t("topup.offer.order"), value: offer.orderId)
                Text(L10n.t("pay.expires", L10n.date(ms: Int64(offer.expiresAtMs))))
                    .font(.footnote)
                    .foregroundStyle(.secondary)
            }
            Section {
                if crediting {
                    HStack {
                        ProgressView()
                        Text(L10n.t("topup.offer.crediting"))
                    }
                } else {
                    Button {
                        Task { await rider.acceptTopUp(prompt) }
                    } label: {
                        Text(L10n.t("topup.offer.accept")).frame(maxWidth: .infinity).bold()
                    }
                    .buttonStyle(.borderedProminent)
                    Button(role: .destructive) {
                        Task { await rider.declineTopUp(prompt) }
                    } label: {
                        Text(L10n.t("topup.offer.decline")).frame(maxWidth: .infinity)
                    }
                }
            }
        }
        .navigationTitle(L10n.t("topup.offer.title"))
    }
}
