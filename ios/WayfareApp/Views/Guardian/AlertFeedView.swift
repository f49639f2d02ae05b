import SwiftUI
import WayfareCore

/// What the guardian was told: where and when a bound rider paid, newest
/// first, in the person's language (the server writes each alert in
/// English and Chinese).
struct AlertFeedView: View {
    @EnvironmentObject private var guardian: GuardianModel

    var body: some View {
        List {
            if guardian.alerts.isEmpty {
                Text(L10n.t("guardian.alerts.empty")).foregroundStyle(.secondary)
            }
            ForEach(guardian.alerts, id: \.alertId) { alert in
                VStack(alignment: .leading, spacing: 4) {
                    HStack {
                        Text(alert.riderName).font(.headline)
                        Spacer()
                        Text(alert.amountText).font(.headline)
                    }
                    Text(L10n.prefersChinese ? alert.textZh : alert.textEn)
                    if let transit = alert.transit {
                        Text([transit.line, transit.station, transit.directionTowards].filter { !$0.isEmpty }.joined(separator: " · "))
                            .font(.caption).foregroundStyle(.secondary)
                    }
                    Text("\(alert.localTime) (\(alert.utcOffset))").font(.caption2).foregroundStyle(.secondary)
                }
            }
            ErrorBanner(message: guardian.error)
        }
        .navigationTitle(L10n.t("guardian.alerts"))
        .onAppear { guardian.startAlertFeed() }
        .refreshable { await guardian.refresh() }
    }
}
