import SwiftUI
import WayfareCore

/// What the terminal asks for, before anything is paid: the merchant as its
/// certificate names it, the amount, the description and, for transit, the
/// fare's line, station and direction. Confirm or Decline.
struct PaymentSheetView: View {
    @EnvironmentObject private var rider: RiderModel
    let prompt: RiderModel.PaymentPrompt
    let paying: Bool

    var body: some View {
        let request = prompt.request
        let fare = request.fare
        List {
            Section {
                VStack(alignment: .leading, spacing: 6) {
                    Label(prompt.terminal.merchantName, systemImage: "checkmark.seal")
                        .font(.headline)
                    Text(L10n.t("pay.certified")).font(.caption).foregroundStyle(.secondary)
                    Text(request.formattedAmount).font(.system(size: 44, weight: .bold))
                    if !request.description.isEmpty {
                        Text(request.description).font(.body)
                    }
                }
                .padding(.vertical, 6)
            }
            if !fare.line.isEmpty || !fare.station.isEmpty {
                Section(L10n.t("pay.fare")) {
                    if !fare.mode.isEmpty || !fare.line.isEmpty {
                        LabeledContent(L10n.t("pay.fare.line"), value: [fare.mode, fare.line].filter { !$0.isEmpty }.joined(separator: " "))
                    }
                    if !fare.entryStation.isEmpty {
                        LabeledContent(L10n.t("pay.fare.from"), value: fare.entryStation)
                    }
                    if !fare.station.isEmpty {
                        LabeledContent(L10n.t("pay.fare.station"), value: fare.station)
                    }
                    if !fare.directionTowards.isEmpty {
                        LabeledContent(
                            L10n.t("pay.fare.direction"),
                            value: L10n.t("pay.fare.direction.value", fare.directionFrom, fare.directionTowards))
                    }
                    if !fare.vehicle.isEmpty {
                        LabeledContent(L10n.t("pay.fare.vehicle"), value: fare.vehicle)
                    }
                }
            }
            Section {
                if request.merchantName != prompt.terminal.merchantName {
                    Text(L10n.t("pay.name_differs", request.merchantName))
                        .font(.footnote)
                        .foregroundStyle(.orange)
                }
                Text(L10n.t("pay.expires", L10n.date(ms: Int64(request.expiresAtMs))))
                    .font(.footnote)
                    .foregroundStyle(.secondary)
            }
            Section {
                if paying {
                    HStack {
                        ProgressView()
                        Text(L10n.t("pay.paying"))
                    }
                } else {
                    Button {
                        Task { await rider.confirm(prompt) }
                    } label: {
                        Text(L10n.t("pay.confirm")).frame(maxWidth: .infinity).bold()
                    }
                    .buttonStyle(.borderedProminent)
                    Button(role: .destructive) {
                        Task { await rider.decline(prompt) }
                    } label: {
                        Text(L10n.t("pay.decline")).frame(maxWidth: .infinity)
                    }
                }
            }
        }
        .navigationTitle(L10n.t("pay.title"))
    }
}
