import Foundation
import os
import UserNotifications
import WayfareCore

/// Drains the core's persisted event queue (`wallet.events()`) into
/// notifications. An event is acknowledged only once it has been shown:
/// its notification is in the notification center (delivered, not merely
/// scheduled), or, when the person has not allowed notifications, its
/// in-app notice has appeared on screen. Anything not yet shown stays in the
/// core's queue and is offered again on the next drain, after a restart
/// too; the notification identifier is the event id, so a second attempt
/// replaces the first instead of showing it twice.
@MainActor
final class EventNotifier: ObservableObject {
    /// A notice shown inside the app when notifications are off.
    struct Notice: Identifiable, Equatable {
        let id: UInt64
        let title: String
        let body: String
    }

    @Published private(set) var notice: Notice?

    private let events: EventsApi
    private let announcer: PromptAnnouncer
    private let center = UNUserNotificationCenter.current()
    private let log = Logger(subsystem: "app.wayfare", category: "events")
    private var listener: Listener?
    private var draining = false
    private var again = false
    private var waitingInApp: [Notice] = []

    init(events: EventsApi, announcer: PromptAnnouncer) {
        self.events = events
        self.announcer = announcer
    }

    /// Asks for permission once, registers with the core and drains what an
    /// earlier run left.
    func start() async {
        _ = try? await center.requestAuthorization(options: [.alert, .sound, .badge])
        let listener = Listener(owner: self)
        self.listener = listener
        events.setListener(listener: listener)
        await drain()
    }

    /// Shows every pending event, acknowledging each once shown.
    func drain() async {
        if draining {
            again = true
            return
        }
        draining = true
        defer { draining = false }
        repeat {
            again = false
            await drainOnce()
        } while again
    }

    private func drainOnce() async {
        let batch: [WalletEvent]
        do {
            batch = try events.pending(limit: 32)
        } catch {
            log.error("reading pending events failed: \(L10n.message(error), privacy: .public)")
            return
        }
        let allowed = await center.notificationSettings().authorizationStatus
        for event in batch {
            if case .merchantPrompt(let prompt) = event.body {
                announcer.announce(prompt)
            }
            guard let text = Self.text(for: event) else {
                // A kind this version of the app does not know: nothing to
                // show; acknowledge so it does not block the queue.
                log.info("skipping an event of an unknown kind")
                await acknowledge(event.eventId)
                continue
            }
            let (title, body) = text
            switch allowed {
            case .authorized, .provisional, .ephemeral:
                if await post(event.eventId, title: title, body: body) {
                    await acknowledge(event.eventId)
                }
            default:
                let n = Notice(id: event.eventId, title: title, body: body)
                if !waitingInApp.contains(n) {
                    waitingInApp.append(n)
                }
            }
        }
        if notice == nil {
            notice = waitingInApp.first
        }
    }

    /// The in-app notice appeared on screen: it counts as shown.
    func noticeShown(_ shown: Notice) async {
        await acknowledge(shown.id)
    }

    /// The person dismissed the in-app notice: show the next one.
    func dismissNotice() {
        if let current = notice {
            waitingInApp.removeAll { $0.id == current.id }
        }
        notice = waitingInApp.first
    }

    private func post(_ eventId: UInt64, title: String, body: String) async -> Bool {
        let content = UNMutableNotificationContent()
        content.title = title
        content.body = body
        content.sound = .default
        let id = "wayfare-event-\(eventId)"
        do {
            try await center.add(UNNotificationRequest(identifier: id, content: content, trigger: nil))
        } catch {
            log.error("posting a notification failed: \(error.localizedDescription, privacy: .public)")
            return false
        }
        // With no trigger the system delivers at once; confirm it did.
        for _ in 0..<5 {
            let delivered = await center.deliveredNotifications()
            if delivered.contains(where: { $0.request.identifier == id }) {
                return true
            }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
        return false
    }

    private func acknowledge(_ eventId: UInt64) async {
        do {
            _ = try await events.acknowledge(eventId: eventId)
        } catch {
            log.error("acknowledging an event failed: \(L10n.message(error), privacy: .public)")
        }
    }

    /// Title and body in the person's language; nil for unknown kinds.
    static func text(for event: WalletEvent) -> (String, String)? {
        switch event.body {
        case .paymentCompleted(let outcome):
            return (L10n.t("notify.paid.title", outcome.receipt.merchantName),
                    L10n.t("notify.paid.body", outcome.receipt.formattedAmount))
        case .paymentFailed(let failure):
            let body = failure.willRetry ? L10n.t("notify.failed.retry") : failure.error
            return (L10n.t("notify.failed.title"), body)
        case .guardianAlert(let alert):
            return (L10n.t("notify.alert.title", alert.riderName),
                    L10n.prefersChinese ? alert.textZh : alert.textEn)
        case .merchantPrompt(let prompt):
            let body = prompt.showText ? prompt.displayText : L10n.t("notify.prompt.hidden")
            return (L10n.t("notify.prompt.title"), body)
        case .topUpCompleted(let topUp):
            return (L10n.t("notify.topup.title"), L10n.t("notify.topup.body", topUp.formattedAmount))
        case .topUpFailed(let topUp):
            return (L10n.t("notify.topup.failed.title"),
                    topUp.failureReason ?? L10n.t("notify.topup.failed.body"))
        case .unknown:
            return nil
        }
    }

    /// The core calls this on its own thread when events are waiting.
    private final class Listener: WalletEventListener, @unchecked Sendable {
        weak var owner: EventNotifier?

        init(owner: EventNotifier) {
            self.owner = owner
        }

        func onEventsAvailable(pending: UInt32) throws {
            let owner = self.owner
            Task { @MainActor in
                await owner?.drain()
            }
        }
    }
}
