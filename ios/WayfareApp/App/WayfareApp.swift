import SwiftUI
import UserNotifications

/// The Wayfare iOS app: one `Wallet` from the Rust core (through the
/// generated `WayfareCore` Swift), the platform services it needs, and the
/// rider, guardian and merchant screens.
@main
struct WayfareApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate
    @StateObject private var model = AppModel()

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(model)
                .task {
                    appDelegate.model = model
                    await model.start()
                }
        }
    }
}

/// Shows Wayfare's notifications while the app is in front too, so a
/// notification the event drain posted is on screen before its event is
/// acknowledged; hands APNs tokens and background pushes to the model.
final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    /// Set by `WayfareApp` before the wallet opens.
    weak var model: AppModel?

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        UNUserNotificationCenter.current().delegate = self
        return true
    }

    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        willPresent notification: UNNotification,
        withCompletionHandler completionHandler: @escaping (UNNotificationPresentationOptions) -> Void
    ) {
        completionHandler([.banner, .list, .sound])
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        Task { @MainActor in await model?.pushTokenReceived(deviceToken) }
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        // No token (a simulator, no network): alerts still arrive while the
        // app is open, through the event stream.
    }

    /// A push (only an id, a kind and a short text): the drain fetches the
    /// event it announces and shows it from the core's queue.
    func application(
        _ application: UIApplication,
        didReceiveRemoteNotification userInfo: [AnyHashable: Any],
        fetchCompletionHandler completionHandler: @escaping (UIBackgroundFetchResult) -> Void
    ) {
        Task { @MainActor in
            let fetched = await model?.pushReceived() ?? false
            completionHandler(fetched ? .newData : .failed)
        }
    }
}
