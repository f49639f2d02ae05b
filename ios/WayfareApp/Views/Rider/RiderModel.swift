import Foundation
import os
import WayfareCore

/// The rider's side of the wallet: balance and history, terminals nearby,
/// the payment in progress, trips and express taps.
@MainActor
final class RiderModel: ObservableObject {
    /// A payment request on screen, with the session that carries it.
    struct PaymentPrompt {
        let session: TerminalSession
        /// The terminal as its certificate names it (verified in the
        /// handshake), not as it advertised itself.
        let terminal: TerminalInfo
        let request: PaymentRequestInfo
    }

    /// A counter or kiosk top-up offer on screen, with its session.
    struct TopUpPrompt {
        let session: TerminalSession
        /// The terminal as its certificate names it.
        let terminal: TerminalInfo
        let offer: TopUpOfferInfo
    }

    enum Outcome {
        case paid(PaymentOutcome)
        /// Cash credited: the server's receipt checked by phone and terminal.
        case toppedUp(TopUpOutcome)
        /// The top-up's outcome is unknown; the terminal settles it with the
        /// server, so the cash is not lost.
        case topUpPending(orderId: String, reason: String)
        /// The phone could not learn whether the server took the money. The
        /// same signed instruction settles it later: never charged twice.
        case pending(String)
        case declined(TerminalDone)
        case entered(station: String, line: String, message: String)
        case failed(String)
    }

    enum Flow {
        case idle
        case connecting(String)
        case request(PaymentPrompt)
        case paying(PaymentPrompt)
        case topUpOffer(TopUpPrompt)
        case crediting(TopUpPrompt)
        case outcome(Outcome)
    }

    /// A terminal in the nearby list: where to connect, and how near.
    struct NearbyEntry {
        let connect: DiscoveredTerminal
        /// Signal strength in dBm while a BLE scan hears it.
        let rssi: Int16?
        let sources: [NearbySource]

        var terminalId: String { connect.terminalId }
        var merchantName: String { connect.merchantName }
        var kind: TerminalKind { connect.kind }
    }

    /// A tap-in this app saw, shown until the trip's exit.
    struct Trip: Identifiable {
        let id = UUID()
        let station: String
        let line: String
        let operatorName: String
        let at: Date
        var exit: String?
        var fare: String?
    }

    @Published private(set) var balance: Balance?
    @Published private(set) var history: [HistoryEntry] = []
    @Published private(set) var receipts: [StoredReceipt] = []
    @Published private(set) var pendingPayments: UInt32 = 0
    @Published private(set) var nearby: [NearbyEntry] = []
    @Published private(set) var unavailable: [String] = []
    @Published var flow: Flow = .idle

    /// True while money is moving (paying or crediting): the sheet stays.
    var flowIsBusy: Bool {
        switch flow {
        case .paying, .crediting: return true
        default: return false
        }
    }
    @Published private(set) var trips: [Trip] = []
    @Published private(set) var express: ExpressStatus?
    @Published private(set) var expressAccount: ExpressAccount?
    @Published var error: String?

    /// The open wallet (read by screens that call the core directly).
    private(set) var wallet: Wallet?
    private let discovery = BonjourDiscovery()
    private var watch: NearbyHandle?
    private let log = Logger(subsystem: "app.wayfare", category: "rider")

    func attach(wallet: Wallet, settled: [PaymentOutcome], stillPending: UInt32) {
        self.wallet = wallet
        pendingPayments = stillPending
        if let last = settled.last {
            // A payment an earlier run left open was settled while opening.
            flow = .outcome(.paid(last))
        }
    }

    func refresh() async {
        guard let wallet else { return }
        do {
            balance = try await wallet.account().balance()
            history = try await wallet.account().history(limit: 50)
            receipts = try wallet.payments().receipts(limit: 50)
            pendingPayments = try wallet.payments().pendingCount()
            express = try wallet.express().status()
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }

    /// Pays what an earlier attempt left pending (the same instructions).
    func settlePending() async {
        guard let wallet else { return }
        do {
            let settled = try await wallet.payments().settlePending()
            if let last = settled.last {
                flow = .outcome(.paid(last))
            }
            await refresh()
        } catch {
            self.error = L10n.message(error)
        }
    }

    func receipt(for entry: HistoryEntry) -> StoredReceipt? {
        receipts.first { $0.paymentId == entry.paymentId }
    }

    // MARK: - Nearby terminals

    /// One list, nearest first, merged by the core
    /// (`terminals().watchNearby`): Bluetooth by signal strength through the
    /// core's BLE scan, and the LAN through Apple's Bonjour browser handed
    /// to the core as its `PlatformDiscovery` (the core's own mDNS socket is
    /// off: raw multicast needs an entitlement on iOS). A terminal seen both
    /// ways is listed once; the core says how to reach it.
    func startNearby() {
        guard let wallet, watch == nil else { return }
        let relay = NearbyRelay(
            changed: { [weak self] terminals in
                Task { @MainActor in self?.show(terminals) }
            },
            unavailable: { [weak self] source, reason in
                Task { @MainActor in self?.sourceUnavailable(RiderModel.name(of: source), reason) }
            })
        let handle = wallet.terminals().watchNearby(
            listener: relay, platform: discovery, options: NearbyOptions(mdns: false, bluetooth: true))
        if let reason = handle.error() {
            sourceUnavailable(L10n.t("nearby.source.lan"), reason)
        }
        watch = handle
    }

    func stopNearby() {
        watch?.cancel()
        watch = nil
    }

    private func show(_ terminals: [NearbyTerminal]) {
        // The core's order is the list's: nearest first.
        nearby = terminals.compactMap { t in
            t.connect.map { NearbyEntry(connect: $0, rssi: t.rssi, sources: t.sources) }
        }
    }

    static func name(of source: NearbySource) -> String {
        switch source {
        case .ble:
            return L10n.t("nearby.source.ble")
        case .mdns, .platform:
            return L10n.t("nearby.source.lan")
        }
    }

    private func sourceUnavailable(_ source: String, _ reason: String) {
        let line = "\(source): \(reason)"
        if !unavailable.contains(line) {
            unavailable.append(line)
        }
    }

    // MARK: - Paying

    /// Connects to a terminal and waits for what it asks: at a gate or on a
    /// tram the held tap-in token goes first, and the answer is an entry or
    /// a fare to pay.
    func connect(to terminal: NearbyEntry) async {
        guard let wallet else { return }
        let target = terminal.connect
        flow = .connecting(terminal.merchantName)
        do {
            let session = try await wallet.terminals().connect(terminal: target)
            let info = session.terminal()
            let request: PaymentRequestInfo
            switch info.kind {
            case .gate, .tram, .topUp:
                let tap = try await session.tap()
                switch tap {
                case .entered(let station, let line, _, let message):
                    trips.insert(Trip(station: station, line: line, operatorName: info.merchantName, at: Date()), at: 0)
                    flow = .outcome(.entered(station: station, line: line, message: message))
                    return
                case .paymentRequested(let asked):
                    request = asked
                case .topUpOffered(let offer):
                    flow = .topUpOffer(TopUpPrompt(session: session, terminal: info, offer: offer))
                    return
                }
            case .pos:
                request = try await session.nextPaymentRequest()
            }
            flow = .request(PaymentPrompt(session: session, terminal: info, request: request))
        } catch {
            flow = .outcome(.failed(L10n.message(error)))
        }
    }

    func confirm(_ prompt: PaymentPrompt) async {
        flow = .paying(prompt)
        do {
            let outcome = try await prompt.session.confirm()
            if outcome.terminalDone.outcome == .inDoubt {
                flow = .outcome(.pending(outcome.terminalDone.message))
            } else {
                flow = .outcome(.paid(outcome))
            }
            closeTrip(with: prompt.request)
        } catch WalletError.PaymentPending(let reason) {
            flow = .outcome(.pending(reason))
        } catch {
            flow = .outcome(.failed(L10n.message(error)))
        }
        await refresh()
    }

    func decline(_ prompt: PaymentPrompt) async {
        do {
            let done = try await prompt.session.decline(reason: "declined by the rider")
            flow = .outcome(.declined(done))
        } catch {
            flow = .outcome(.failed(L10n.message(error)))
        }
    }

    /// Claims the offered cash for this wallet. An unknown outcome is
    /// `TopUpPending`: the terminal settles it with the server, and a
    /// credited top-up shows in the balance either way.
    func acceptTopUp(_ prompt: TopUpPrompt) async {
        flow = .crediting(prompt)
        do {
            let credited = try await prompt.session.acceptTopUp()
            flow = .outcome(.toppedUp(credited))
        } catch WalletError.TopUpPending(let orderId, let reason) {
            flow = .outcome(.topUpPending(orderId: orderId, reason: reason))
        } catch {
            flow = .outcome(.failed(L10n.message(error)))
        }
        await refresh()
    }

    /// Leaves the cash with the cashier.
    func declineTopUp(_ prompt: TopUpPrompt) async {
        do {
            let done = try await prompt.session.declineTopUp(reason: "declined by the rider")
            flow = .outcome(.declined(done))
        } catch {
            flow = .outcome(.failed(L10n.message(error)))
        }
    }

    func finish() {
        switch flow {
        case .request(let prompt):
            prompt.session.cancel()
        case .topUpOffer(let prompt):
            prompt.session.cancel()
        default:
            break
        }
        flow = .idle
    }

    private func closeTrip(with request: PaymentRequestInfo) {
        let fare = request.fare
        guard !fare.station.isEmpty || !fare.entryStation.isEmpty else { return }
        if let open = trips.firstIndex(where: { $0.exit == nil }) {
            trips[open].exit = fare.station
            trips[open].fare = request.formattedAmount
        }
    }

    // MARK: - Express taps

    func loadExpress() async {
        guard let wallet else { return }
        do {
            express = try wallet.express().status()
            expressAccount = try await wallet.express().sync()
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }

    /// Saves the rider's express settings; a new allowance is fetched when
    /// they are on.
    func saveExpress(enabled: Bool, perTapMaxMinor: UInt64, totalMaxMinor: UInt64) async {
        guard let wallet else { return }
        let settings = ExpressSettings(enabled: enabled, perTapMaxMinor: perTapMaxMinor, totalMaxMinor: totalMaxMinor)
        do {
            express = try await wallet.express().setSettings(settings: settings)
            if enabled {
                express = try await wallet.express().refresh()
            }
            error = nil
        } catch {
            self.error = L10n.message(error)
        }
    }
}
