//! What a payment leaves the app: the stored receipt, the outcome and the
//! failure. A leaf, so that sessions, events and the app's listeners can
//! name them without importing the payments module.

use crate::amount::format_amount;
use crate::session::types::TerminalDone;
use crate::store::receipts::ReceiptRecord;

/// A receipt stored in the wallet (its server signature was verified).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoredReceipt {
    /// Server payment id.
    pub payment_id: String,
    /// The payment's idempotency key.
    pub idempotency_key: String,
    /// The terminal's order id.
    pub order_id: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Merchant id.
    pub merchant_id: String,
    /// Merchant display name.
    pub merchant_name: String,
    /// What was paid for.
    pub description: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted amount, e.g. `€2.50`.
    pub formatted_amount: String,
    /// Balance right after the payment.
    pub balance_after_minor: i64,
    /// How the receipt names the payer: the rider's pseudonym for this
    /// merchant (the field keeps its first name for compatibility).
    pub payer_handle: String,
    /// When the server committed the payment (Unix ms).
    pub completed_at_ms: u64,
    /// The signed receipt (COSE_Sign1, unpadded base64url), to show or
    /// forward as proof.
    pub receipt_base64: String,
    /// Loyalty points spent on the payment (0 when none).
    pub points_spent: u64,
    /// What the points paid, in minor units; the balance paid
    /// `amount_minor - points_value_minor`.
    pub points_value_minor: u64,
}

impl From<ReceiptRecord> for StoredReceipt {
    fn from(r: ReceiptRecord) -> Self {
        let amount = i64::try_from(r.amount_minor).unwrap_or(i64::MAX);
        Self {
            formatted_amount: format_amount(&r.currency, amount),
            payment_id: r.payment_id,
            idempotency_key: r.idempotency_key,
            order_id: r.order_id,
            terminal_id: r.terminal_id,
            merchant_id: r.merchant_id,
            merchant_name: r.merchant_name,
            description: r.description,
            amount_minor: r.amount_minor,
            currency: r.currency,
            balance_after_minor: r.balance_after_minor,
            payer_handle: r.payer,
            completed_at_ms: r.completed_at_ms,
            receipt_base64: r.receipt,
            points_spent: r.points_spent,
            points_value_minor: r.points_value_minor,
        }
    }
}

/// A completed payment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentOutcome {
    /// Server payment id.
    pub payment_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Balance right after the payment.
    pub balance_after_minor: i64,
    /// The verified receipt, as stored.
    pub receipt: StoredReceipt,
    /// The terminal's closing message, when the payment was made in a
    /// session; `None` for a payment settled from the outbox.
    pub terminal_done: Option<TerminalDone>,
}

impl PaymentOutcome {
    /// One line for people, e.g. `paid €2.50 to Corner Café (payment
    /// pay_…); balance €7.50; terminal: Gate opened`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "paid {} to {} (payment {}); balance {}",
            self.receipt.formatted_amount,
            self.receipt.merchant_name,
            self.payment_id,
            format_amount(&self.currency, self.balance_after_minor)
        );
        if let Some(done) = &self.terminal_done {
            line.push_str("; terminal: ");
            line.push_str(&done.message);
        }
        line
    }

    pub(crate) fn from_record(record: ReceiptRecord, terminal_done: Option<TerminalDone>) -> Self {
        Self {
            payment_id: record.payment_id.clone(),
            amount_minor: record.amount_minor,
            currency: record.currency.clone(),
            balance_after_minor: record.balance_after_minor,
            receipt: record.into(),
            terminal_done,
        }
    }
}

/// A payment that failed or is waiting to be settled, for
/// the wallet listener's `on_payment_failed`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentFailure {
    /// The payment's idempotency key.
    pub idempotency_key: String,
    /// The terminal's order id.
    pub order_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// The error.
    pub error: String,
    /// True when the payment is pending and will be retried (it may still
    /// complete); false when it definitely failed and nothing was charged.
    pub will_retry: bool,
}
