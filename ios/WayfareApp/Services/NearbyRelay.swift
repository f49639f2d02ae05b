import Foundation
import WayfareCore

/// The core's `NearbyListener` for `terminals().watchNearby`: it is called
/// on the watch's own thread, so it only hands the list (the whole list,
/// nearest first, each time) and any source that cannot run to closures
/// that post to the main actor.
final class NearbyRelay: NearbyListener, @unchecked Sendable {
    private let changed: ([NearbyTerminal]) -> Void
    private let unavailable: (NearbySource, String) -> Void

    init(
        changed: @escaping ([NearbyTerminal]) -> Void,
        unavailable: @escaping (NearbySource, String) -> Void
    ) {
        self.changed = changed
        self.unavailable = unavailable
    }

    func onNearbyChanged(terminals: [NearbyTerminal]) throws {
        changed(terminals)
    }

    func onSourceUnavailable(source: NearbySource, reason: String) throws {
        unavailable(source, reason)
    }
}
