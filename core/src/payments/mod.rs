//! Payments: the outbox logic, the server calls and `wallet.payments()`.
//!
//! A payment goes: intent recorded and flushed → `POST /v1/payments` →
//! receipt verified and stored → intent completed. See [`execute`] for one
//! payment and [`settle`] for re-sending pending ones.

pub(crate) mod execute;
pub(crate) mod points;
pub(crate) mod settle;

use std::sync::Arc;

use wayfare_protocol::ProtocolError;

use crate::account::format_amount;
use crate::error::WalletError;
use crate::session::TerminalDone;
use crate::store::receipts::ReceiptRecord;
use crate::store::StoreError;
use crate::wallet::WalletInner;

/// What can go wrong while paying.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PaymentError {
    /// The store failed; if this happened before the intent was flushed,
    /// nothing was sent to the server.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing or decoding failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The device has no account.
    #[error("not registered")]
    NotRegistered,
    /// The request expired (locally or per the server).
    #[error("the payment request expired")]
    Expired,
    /// The balance does not cover the amount.
    #[error("insufficient funds")]
    InsufficientFunds {
        /// Balance when known.
        balance_minor: Option<i64>,
        /// Amount asked for.
        amount_minor: u64,
    },
    /// The server refused definitively; nothing was charged.
    #[error("{status} {code}: {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: String,
        /// The server's message.
        reason: String,
    },
    /// The answer is unknown (network, 5xx); the intent stays pending.
    #[error("{reason}")]
    Pending {
        /// What happened and what comes next.
        reason: String,
    },
    /// The server's receipt did not verify or does not match; the intent
    /// stays pending and is checked again at the next settlement.
    #[error("the server's receipt is invalid: {0}")]
    BadReceipt(String),
    /// A wallet-level failure (not open, keys unavailable).
    #[error("{0}")]
    Wallet(WalletError),
}

impl From<PaymentError> for WalletError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Store(e) => e.into(),
            PaymentError::Protocol(e) => WalletError::Server {
                code: "bad_payment_data".into(),
                reason: e.to_string(),
            },
            PaymentError::NotRegistered => WalletError::NotRegistered,
            PaymentError::Expired => WalletError::RequestExpired,
            PaymentError::InsufficientFunds {
                balance_minor,
                amount_minor,
            } => WalletError::InsufficientFunds {
                balance_minor,
                amount_minor,
            },
            PaymentError::Refused { code, reason, .. } if code == "guardian_limit_reached" => {
                WalletError::GuardianLimitReached { reason }
            }
            PaymentError::Refused { code, reason, .. } => WalletError::Server { code, reason },
            PaymentError::Pending { reason } => WalletError::PaymentPending { reason },
            PaymentError::BadReceipt(reason) => WalletError::Server {
                code: "bad_receipt".into(),
                reason,
            },
            PaymentError::Wallet(e) => e,
        }
    }
}

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

/// Pending payments and stored receipts. Get it with `wallet.payments()`.
#[derive(uniffi::Object)]
pub struct PaymentsApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for PaymentsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaymentsApi")
    }
}

impl PaymentsApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl PaymentsApi {
    /// Re-sends every pending payment with its original idempotency key and
    /// signed instruction. The server returns the original result if it had
    /// completed it, completes it now if it never arrived, or refuses it if
    /// the request expired: never charged twice, never lost. Returns the
    /// payments completed by this run.
    pub async fn settle_pending(&self) -> Result<Vec<PaymentOutcome>, WalletError> {
        Ok(settle::settle_pending(&self.inner).await?.settled)
    }

    /// How many payments wait for the server's answer.
    pub fn pending_count(&self) -> Result<u32, WalletError> {
        Ok(self.inner.opened()?.store.pending_count()?)
    }

    /// The newest `limit` stored receipts, newest first.
    pub fn receipts(&self, limit: u32) -> Result<Vec<StoredReceipt>, WalletError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self
            .inner
            .opened()?
            .store
            .recent_receipts(limit)?
            .into_iter()
            .map(StoredReceipt::from)
            .collect())
    }
}

#[cfg(test)]
mod tests;
