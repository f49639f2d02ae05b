import SwiftUI
import WayfareCore

/// First run, then the three areas in tabs.
struct RootView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.scenePhase) private var scenePhase

    var body: some View {
        Group {
            switch model.phase {
            case .starting:
                ProgressView(L10n.t("app.starting"))
            case .failed(let message):
                ContentUnavailableMessage(title: L10n.t("app.failed"), message: message)
            case .needsRegistration:
                RegistrationView()
            case .ready:
                TabView {
                    NavigationStack { RiderHomeView() }
                        .tabItem { Label(L10n.t("tab.wallet"), systemImage: "creditcard") }
                    NavigationStack { NearbyTerminalsView() }
                        .tabItem { Label(L10n.t("tab.pay"), systemImage: "wave.3.right") }
                    NavigationStack { GuardianHomeView() }
                        .tabItem { Label(L10n.t("tab.guardian"), systemImage: "person.2") }
                    NavigationStack { MerchantHomeView() }
                        .tabItem { Label(L10n.t("tab.merchant"), systemImage: "storefront") }
                }
                .environmentObject(model.rider)
                .environmentObject(model.guardian)
                .environmentObject(model.merchant)
            }
        }
        .overlay(alignment: .top) {
            if let notifier = model.notifier {
                NoticeOverlay(notifier: notifier)
            }
        }
        .onChange(of: scenePhase) { phase in
            if phase == .background {
                model.pause()
            } else if phase == .active, model.phase == .ready {
                model.rider.startNearby()
            }
        }
    }
}

/// An event shown inside the app when notifications are off; it counts as
/// shown (and is acknowledged to the core) once it is on screen.
struct NoticeOverlay: View {
    @ObservedObject var notifier: EventNotifier

    var body: some View {
        if let notice = notifier.notice {
            VStack(alignment: .leading, spacing: 4) {
                Text(notice.title).font(.headline)
                Text(notice.body).font(.subheadline)
            }
            .frame(maxWidth: .infinity, alignment: .leading)
            .padding()
            .background(.regularMaterial, in: RoundedRectangle(cornerRadius: 12))
            .padding(.horizontal)
            .onTapGesture { notifier.dismissNotice() }
            .task(id: notice.id) { await notifier.noticeShown(notice) }
        }
    }
}

/// A title and a message, centred (ContentUnavailableView needs iOS 17).
struct ContentUnavailableMessage: View {
    let title: String
    let message: String

    var body: some View {
        VStack(spacing: 12) {
            Image(systemName: "exclamationmark.triangle")
                .font(.largeTitle)
                .foregroundStyle(.secondary)
            Text(title).font(.headline)
            Text(message)
                .font(.subheadline)
                .foregroundStyle(.secondary)
                .multilineTextAlignment(.center)
        }
        .padding()
    }
}
