import SwiftUI
import WayfareCore

/// Trips: tap-ins and tap-outs this phone made at gates and on trams, and
/// express taps (paid at the gate without opening the app) with their
/// settlement.
struct TripsView: View {
    @EnvironmentObject private var rider: RiderModel

    var body: some View {
        List {
            Section(L10n.t("trips.recent")) {
                if rider.trips.isEmpty {
                    Text(L10n.t("trips.empty")).foregroundStyle(.secondary)
                }
                ForEach(rider.trips) { trip in
                    VStack(alignment: .leading, spacing: 2) {
                        Text(trip.exit.map { L10n.t("trips.from_to", trip.station, $0) } ?? L10n.t("trips.in", trip.station))
                        Text([trip.operatorName, trip.line].filter { !$0.isEmpty }.joined(separator: " · "))
                            .font(.caption).foregroundStyle(.secondary)
                        if let fare = trip.fare {
                            Text(fare).font(.caption.bold())
                        }
                    }
                }
            }
            if let account = rider.expressAccount {
                Section(L10n.t("trips.express.pending")) {
                    if account.pendingTaps.isEmpty {
                        Text(L10n.t("trips.express.none")).foregroundStyle(.secondary)
                    }
                    ForEach(account.pendingTaps, id: \.counter) { tap in
                        LabeledContent(
                            [tap.merchantName, tap.line, tap.station].filter { !$0.isEmpty }.joined(separator: " · "),
                            value: L10n.money(Int64(tap.amountMinor), tap.currency))
                    }
                }
                Section(L10n.t("trips.express.settled")) {
                    ForEach(account.settledTaps, id: \.counter) { tap in
                        VStack(alignment: .leading) {
                            LabeledContent(L10n.date(ms: Int64(tap.tappedAtMs)), value: L10n.money(Int64(tap.chargedMinor), account.currency))
                            if tap.debtMinor > 0 {
                                Text(L10n.t("trips.express.debt", L10n.money(Int64(tap.debtMinor), account.currency)))
                                    .font(.caption).foregroundStyle(.red)
                            }
                        }
                    }
                }
                if account.blocked {
                    Section {
                        Text(L10n.t("express.blocked", L10n.money(account.debtMinor, account.currency)))
                            .foregroundStyle(.red)
                    }
                }
            }
            ErrorBanner(message: rider.error)
        }
        .navigationTitle(L10n.t("trips.title"))
        .task { await rider.loadExpress() }
        .refreshable { await rider.loadExpress() }
    }
}
