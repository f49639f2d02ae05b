import SwiftUI

/// The last error of a screen, in words a person can act on.
struct ErrorBanner: View {
    let message: String?

    var body: some View {
        if let message {
            Label(message, systemImage: "exclamationmark.circle")
                .font(.footnote)
                .foregroundStyle(.red)
                .padding(.vertical, 4)
        }
    }
}
