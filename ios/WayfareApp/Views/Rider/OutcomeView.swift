import SwiftUI
import WayfareCore

/// How the payment ended. A pending payment is said to be pending, never
/// declined: the core retries the same signed instruction and the terminal
/// settles the sale with the platform, so nobody is charged twice.
struct OutcomeView: View {
    let outcome: RiderModel.Outcome

    var body: some View {
        VStack(spacing: 16) {
            Image(systemName: icon)
                .font(.system(size: 64))
                .foregroundStyle(color)
            Text(title).font(.title2.bold()).multilineTextAlignment(.center)
            Text(detail).multilineTextAlignment(.center).foregroundStyle(.secondary)
        }
        .padding()
        .navigationTitle(L10n.t("outcome.title"))
    }

    private var icon: String {
        switch outcome {
        case .paid, .entered, .toppedUp:
            return "checkmark.circle.fill"
        case .pending, .topUpPending:
            return "clock.fill"
        case .declined:
            return "xmark.circle"
        case .failed:
            return "exclamationmark.triangle.fill"
        }
    }

    private var color: Color {
        switch outcome {
        case .paid, .entered, .toppedUp:
            return .green
        case .pending, .topUpPending:
            return .orange
        case .declined:
            return .secondary
        case .failed:
            return .red
        }
    }

    private var title: String {
        switch outcome {
        case .paid(let paid):
            switch paid.terminalDone.outcome {
            case .accepted:
                return L10n.t("outcome.paid", paid.receipt.formattedAmount)
            case .refused:
                return L10n.t("outcome.paid_refused")
            case .inDoubt, .cancelled:
                return L10n.t("outcome.paid", paid.receipt.formattedAmount)
            }
        case .toppedUp(let credited):
            return L10n.t("outcome.topped_up", L10n.money(Int64(credited.amountMinor), credited.currency))
        case .pending:
            return L10n.t("outcome.pending")
        case .topUpPending:
            return L10n.t("outcome.topup_pending")
        case .declined:
            return L10n.t("outcome.declined")
        case .entered(let station, _, _):
            return L10n.t("outcome.entered", station)
        case .failed:
            return L10n.t("outcome.failed")
        }
    }

    private var detail: String {
        switch outcome {
        case .paid(let paid):
            let done = paid.terminalDone.message
            return [paid.receipt.merchantName, done].filter { !$0.isEmpty }.joined(separator: "\n")
        case .toppedUp(let credited):
            return L10n.t("outcome.topped_up.detail", L10n.money(credited.balanceMinor, credited.currency))
        case .pending:
            return L10n.t("outcome.pending.detail")
        case .topUpPending(let orderId, _):
            return L10n.t("outcome.topup_pending.detail", orderId)
        case .declined(let done):
            return done.message
        case .entered(_, let line, let message):
            return [line, message].filter { !$0.isEmpty }.joined(separator: "\n")
        case .failed(let message):
            return message
        }
    }
}
