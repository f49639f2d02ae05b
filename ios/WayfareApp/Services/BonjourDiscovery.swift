import Foundation
import Network
import os
import WayfareCore

/// Apple's service browser as the core's `PlatformDiscovery`: the core
/// calls `start(sink:)` when `terminals().watchNearby(...)` begins and
/// `stop()` when the watch ends. It browses Bonjour `_wayfare._tcp` (the
/// service type terminals advertise; `MDNS_SERVICE_TYPE` in the protocol
/// crate) with `NWBrowser`, resolves each service to an address with a
/// short-lived `NWConnection`, and hands the core its name, address, port
/// and TXT record (`PlatformService`). The core reads the TXT record as a
/// Wayfare beacon (every terminal kind it knows, top-up terminals
/// included), merges it with its other sources, nearest first, and the
/// handshake then checks the terminal's certificate: the TXT record is only
/// a hint.
///
/// Needs `NSLocalNetworkUsageDescription` and `NSBonjourServices`
/// (`_wayfare._tcp`) in Info.plist; no multicast entitlement (that is only
/// for raw multicast sockets, which the core's own mDNS browser would need:
/// the app turns that source off). Callbacks arrive on the browser's queue.
final class BonjourDiscovery: PlatformDiscovery, @unchecked Sendable {
    static let serviceType = "_wayfare._tcp"

    private let queue = DispatchQueue(label: "app.wayfare.bonjour")
    private let log = Logger(subsystem: "app.wayfare", category: "bonjour")
    private var browser: NWBrowser?
    private var sink: PlatformDiscoverySink?
    private var resolving: [String: NWConnection] = [:]

    func start(sink: PlatformDiscoverySink) throws {
        queue.async {
            self.sink = sink
            self.begin()
        }
    }

    func stop() throws {
        queue.async {
            self.end()
            self.sink = nil
        }
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
            sink?.unavailable(reason: "Bonjour browsing failed: \(error.localizedDescription)")
            end()
        case .waiting(let error):
            // Local network permission denied shows up as a DNS policy
            // error while waiting.
            sink?.unavailable(reason: "Bonjour browsing is waiting: \(error.localizedDescription)")
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
                    sink?.serviceLost(name: name)
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
                if case .hostPort(let host, let port)? = connection.currentPath?.remoteEndpoint {
                    self.report(PlatformService(name: name, host: Self.text(host), port: port.rawValue, txt: txt))
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

    /// Hands a resolved service to the core, which lists it only if its
    /// TXT record is a Wayfare beacon.
    private func report(_ service: PlatformService) {
        do {
            try sink?.serviceFound(service: service)
        } catch {
            log.info("a _wayfare._tcp service was not listed: \(String(describing: error), privacy: .public)")
        }
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
