import SwiftUI
import WayfareCore

/// Terminals near the phone, nearest first (Bluetooth by signal strength,
/// then the LAN). Choosing one connects and opens the payment sheet.
struct NearbyTerminalsView: View {
    @EnvironmentObject private var rider: RiderModel

    var body: some View {
        List {
            Section {
                if rider.nearby.isEmpty {
                    HStack {
                        ProgressView()
                        Text(L10n.t("nearby.searching")).foregroundStyle(.secondary)
                    }
                }
                ForEach(rider.nearby, id: \.terminalId) { terminal in
                    Button {
                        Task { await rider.connect(to: terminal) }
                    } label: {
                        NearbyRow(terminal: terminal)
                    }
                }
            } footer: {
                Text(L10n.t("nearby.footer"))
            }
            if !rider.unavailable.isEmpty {
                Section(L10n.t("nearby.unavailable")) {
                    ForEach(rider.unavailable, id: \.self) { line in
                        Text(line).font(.footnote).foregroundStyle(.secondary)
                    }
                }
            }
        }
        .navigationTitle(L10n.t("nearby.title"))
        .onAppear { rider.startNearby() }
        .sheet(isPresented: sheetShown) {
            PaymentFlowView()
                .environmentObject(rider)
                .interactiveDismissDisabled(isPaying)
        }
    }

    private var sheetShown: Binding<Bool> {
        Binding(
            get: {
                if case .idle = rider.flow { return false }
                return true
            },
            set: { shown in
                if !shown { rider.finish() }
            })
    }

    private var isPaying: Bool {
        rider.flowIsBusy
    }
}

struct NearbyRow: View {
    let terminal: RiderModel.NearbyEntry

    var body: some View {
        HStack {
            Image(systemName: icon).frame(width: 28)
            VStack(alignment: .leading) {
                Text(terminal.merchantName).font(.body)
                Text(sources).font(.caption).foregroundStyle(.secondary)
            }
            Spacer()
            if let rssi = terminal.rssi {
                Text("\(rssi) dBm").font(.caption.monospacedDigit()).foregroundStyle(.secondary)
            }
        }
    }

    private var icon: String {
        switch terminal.kind {
        case .pos:
            return "cart"
        case .tram:
            return "tram"
        case .gate:
            return "door.sliding.left.hand.open"
        case .topUp:
            return "banknote"
        }
    }

    private var sources: String {
        // A terminal the core saw over the LAN both ways is named once.
        var names: [String] = []
        for source in terminal.sources {
            let name = RiderModel.name(of: source)
            if !names.contains(name) { names.append(name) }
        }
        return names.joined(separator: " · ")
    }
}

/// The sheet over the nearby list: connecting, the payment request, paying,
/// and the outcome.
struct PaymentFlowView: View {
    @EnvironmentObject private var rider: RiderModel

    var body: some View {
        NavigationStack {
            content
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) {
                        if rider.flowIsBusy {
                            EmptyView()
                        } else {
                            Button(L10n.t("common.close")) { rider.finish() }
                        }
                    }
                }
        }
    }

    @ViewBuilder private var content: some View {
        switch rider.flow {
        case .idle:
            EmptyView()
        case .connecting(let name):
            VStack(spacing: 16) {
                ProgressView()
                Text(L10n.t("pay.connecting", name))
            }
        case .request(let prompt):
            PaymentSheetView(prompt: prompt, paying: false)
        case .paying(let prompt):
            PaymentSheetView(prompt: prompt, paying: true)
        case .topUpOffer(let prompt):
            TopUpOfferView(prompt: prompt, crediting: false)
        case .crediting(let prompt):
            TopUpOfferView(prompt: prompt, crediting: true)
        case .outcome(let outcome):
            OutcomeView(outcome: outcome)
        }
    }
}
