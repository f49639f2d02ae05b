//! Payments: the outbox logic, the server calls and `wallet.payments()`.
//!
//! A payment goes: intent recorded and flushed → `POST /v1/payments` →
//! receipt verified and stored → intent completed. See [`execute`] for one
//! payment and [`settle`] for re-sending pending ones.

pub(crate) mod execute;
pub(crate) mod points;
pub(crate) mod settle;
pub(crate) mod types;

pub use types::{PaymentFailure, PaymentOutcome, StoredReceipt};

use std::sync::Arc;

use wayfare_protocol::ProtocolError;

use crate::error::WalletError;
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
