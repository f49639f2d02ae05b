import Foundation
import Network
import os
import WayfareCore

/// Terminals on the LAN through the Network framework: browses Bonjour
/// `_wayfare._tcp` (the service type terminals advertise; see
/// `MDNS_SERVICE_TYPE` in the protocol crate) with `NWBrowser`, resolves each
/// service to an address with a short-lived `NWConnection`, and turns its TXT
/// record (the terminal's beacon: `v`, `tid`, `name`, `kind`) into the core's
/// `DiscoveredTerminal`, which `terminals().connect(terminal:)` takes. The
/// handshake then checks the terminal's certificate: the TXT record is only
/// a hint.
///
/// Needs `NSLocalNetworkUsageDescription` and `NSBonjourServices`
/// (`_wayfare._tcp`) in Info.plist; no multicast entitlement (that is only
/// for raw multicast sockets, which the core's own mDNS browser would need).
/// Callbacks arrive on the browser's own queue.
final class BonjourDiscovery: @unchecked Sendable {
    static let serviceType = "_wayfare._tcp"
    var onFound: ((String, DiscoveredTerminal) -> Void)?
    var onLost: ((String) -> Void)?
    var onUnavailable: ((String) -> Void)?

    private let queue = DispatchQueue(label: "app.wayfare.bonjour")
    private let log = Logger(subsystem: "app.wayfare", category: "bonjour")
    private var browser: NWBrowser?
    private var resolving: [String: NWConnection] = [:]

    func start() {
        queue.async { self.begin() }
    }

    func stop() {
        queue.async { self.end() }
    }

    private func begin() {
        end()
        let parameters = NWParameters()
        parameters.includePeerToPeer = false
        let browser = NWBrowser(
            for: .bonjourWithTXTRecord(type: Self.serviceType, domain: nil), using: parameters)
        browser.stateUpdateHandler = { [weak self] state in
            self?.stateChanged(state)
        }
        browser.browseResultsChangedHandler = { [weak self] _, changes in
            self?.resultsChanged(changes)
        }
        self.browser = browser
        browser.start(queue: queue)
    }

    private func end() {
        browser?.cancel()
        browser = nil
        for connection in resolving.values {
            connection.cancel()
        }
        resolving.removeAll()
    }

    private func stateChanged(_ state: NWBrowser.State) {
        switch state {
        case .failed(let error):
            onUnavailable?("Bonjour browsing failed: \(error.localizedDescription)")
            end()
        case .waiting(let error):
            // Local network permission denied shows up as a DNS policy
            // error while waiting.
            onUnavailable?("Bonjour browsing is waiting: \(error.localizedDescription)")
        default:
            break
        }
    }

    private func resultsChanged(_ changes: Set<NWBrowser.Result.Change>) {
        for change in changes {
            switch change {
            case .added(let result):
                resolve(result)
            case .changed(_, let result, _):
                resolve(result)
            case .removed(let result):
                if let name = Self.serviceName(result.endpoint) {
                    resolving.removeValue(forKey: name)?.cancel()
                    onLost?(name)
                }
            default:
                break
            }
        }
    }

    /// Connects just long enough to learn the address (preferring IPv4, as
    /// the core does), then reports the terminal and closes.
    private func resolve(_ result: NWBrowser.Result) {
        guard let name = Self.serviceName(result.endpoint) else { return }
        var txt: [String: String] = [:]
        if case .bonjour(let record) = result.metadata {
            txt = record.dictionary
        }
        let parameters = NWParameters.tcp
        if let ip = parameters.defaultProtocolStack.internetProtocol as? NWProtocolIP.Options {
            ip.version = .v4
        }
        let connection = NWConnection(to: result.endpoint, using: parameters)
        resolving.removeValue(forKey: name)?.cancel()
        resolving[name] = connection
        connection.stateUpdateHandler = { [weak self, weak connection] state in
            guard let self, let connection else { return }
            switch state {
            case .ready:
                if case .hostPort(let host, let port)? = connection.currentPath?.remoteEndpoint,
                   let terminal = Self.terminal(txt: txt, host: Self.text(host), port: port.rawValue) {
                    self.onFound?(name, terminal)
                } else {
                    self.log.info("ignored a service whose TXT record is not a Wayfare beacon")
                }
                connection.cancel()
                self.resolving.removeValue(forKey: name)
            case .failed(let error):
                self.log.info("resolving a terminal failed: \(error.localizedDescription, privacy: .public)")
                connection.cancel()
                self.resolving.removeValue(forKey: name)
            default:
                break
            }
        }
        connection.start(queue: queue)
    }

    /// The beacon in a TXT record, as the core's mDNS browser reads it
    /// (`Beacon::from_txt_properties`): nil when a field is missing, the
    /// version is not a number or the kind is unknown.
    static func terminal(txt: [String: String], host: String, port: UInt16) -> DiscoveredTerminal? {
        guard let version = txt["v"], UInt16(version) != nil,
              let id = txt["tid"], !id.isEmpty,
              let name = txt["name"],
              let kindText = txt["kind"],
              !host.isEmpty, port != 0
        else {
            return nil
        }
        let kind: TerminalKind
        switch kindText {
        case "pos":
            kind = .pos
        case "tram":
            kind = .tram
        case "gate":
            kind = .gate
        default:
            return nil
        }
        return DiscoveredTerminal(
            terminalId: id, merchantName: name, kind: kind, host: host, port: port,
            source: .lan, rssi: nil, bleId: nil)
    }

    private static func serviceName(_ endpoint: NWEndpoint) -> String? {
        if case .service(let name, _, _, _) = endpoint {
            return name
        }
        return nil
    }

    private static func text(_ host: NWEndpoint.Host) -> String {
        switch host {
        case .ipv4(let address):
            return "\(address)"
        case .ipv6(let address):
            // Drop a scope suffix ("%en0"): the core connects by address.
            return "\(address)".split(separator: "%").first.map(String.init) ?? "\(address)"
        case .name(let name, _):
            return name
        @unknown default:
            return "\(host)"
        }
    }
}
