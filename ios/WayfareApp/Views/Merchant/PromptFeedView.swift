import SwiftUI
import WayfareCore

/// The live prompt feed: each payment confirmed for this merchant, as the
/// owner's settings allow this phone to see it.
struct PromptFeedView: View {
    @EnvironmentObject private var merchant: MerchantModel

    var body: some View {
        List {
            if merchant.prompts.isEmpty {
                Text(L10n.t("merchant.feed.empty")).foregroundStyle(.secondary)
            }
            ForEach(merchant.prompts, id: \.dedupeKey) { prompt in
                VStack(alignment: .leading, spacing: 4) {
                    if prompt.showText {
                        Text(prompt.displayText)
                    } else {
                        Text(L10n.t("notify.prompt.hidden")).foregroundStyle(.secondary)
                    }
                    HStack {
                        if let amount = prompt.amountMinor, let currency = prompt.currency {
                            Text(L10n.money(amount, currency)).bold()
                        }
                        if prompt.event == .external, let platform = prompt.paymentPlatform {
                            Text(platform).font(.caption)
                        }
                        Spacer()
                        if let at = prompt.atMs {
                            Text(L10n.date(ms: at)).font(.caption).foregroundStyle(.secondary)
                        }
                    }
                }
            }
            ErrorBanner(message: merchant.error)
        }
        .navigationTitle(L10n.t("merchant.feed"))
        .onAppear { merchant.startPromptFeed() }
        .refreshable { await merchant.resync() }
    }
}
