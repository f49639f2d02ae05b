//! The public error of the wallet core, and how the leaf errors (storage,
//! key store, protocol) map to it.
//!
//! Internal modules keep precise `thiserror` enums ([`StoreError`],
//! [`HttpError`](crate::http::HttpError),
//! [`SessionError`](crate::session::SessionError),
//! [`PaymentError`](crate::payments::PaymentError),
//! [`DiscoveryError`](crate::discovery::DiscoveryError),
//! [`ExpressError`](crate::express::ExpressError), [`KeyStoreError`]); apps
//! only ever see [`WalletError`], whose variants are things an app can act
//! on and whose messages a person understands. A feature's error maps to it
//! beside its definition (`impl From<…> for WalletError`), so this module
//! imports no feature module and every module can import it.
//!
//! String fields are named `reason`, never `message`: Kotlin exceptions
//! already have a `message` property and a field of that name would clash.

use wayfare_protocol::ProtocolError;

use crate::keystore::KeyStoreError;
use crate::store::StoreError;

/// Everything that can go wrong in a wallet call, in terms an app can act on.
/// In Kotlin this is `WalletException`; in Swift `WalletError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum WalletError {
    /// This device has no Wayfare account yet: call `account().register(...)`.
    #[error("this device has no Wayfare account yet: register first")]
    NotRegistered,
    /// This device already has an account; registering again is refused.
    #[error("this device is already registered")]
    AlreadyRegistered,
    /// The wallet is not open: call `open()` first (or it was closed).
    #[error("the wallet is not open: call open() first")]
    NotOpen,
    /// The terminal is serving another phone (one phone at a time): try
    /// again in a moment. Nothing was paid.
    #[error("the terminal is serving another phone; try again in a moment")]
    TerminalBusy,
    /// The terminal could not prove it is a genuine terminal of the operator
    /// (bad or expired certificate, bad signature, wrong terminal). Nothing
    /// was paid.
    #[error("this terminal is not trusted and was refused before any payment: {reason}")]
    TerminalUntrusted {
        /// What failed the check.
        reason: String,
    },
    /// The terminal could not be reached (wrong address, out of range, down).
    #[error("the terminal could not be reached: {reason}")]
    TerminalUnreachable {
        /// The transport error.
        reason: String,
    },
    /// The terminal refused after the payment was made. The payment may have
    /// been charged: the receipt is stored in the wallet; show it to staff.
    #[error(
        "the terminal refused the payment after it was made; it may have been charged and the receipt is stored in the wallet: {reason}"
    )]
    TerminalRefused {
        /// The terminal's explanation.
        reason: String,
    },
    /// The session with the terminal failed (protocol error, unexpected
    /// message, terminal timed out or closed the connection).
    #[error("the session with the terminal failed: {reason}")]
    SessionFailed {
        /// What went wrong.
        reason: String,
    },
    /// The wallet's balance does not cover the payment. Nothing was charged.
    #[error("insufficient funds{}; top up the wallet", amount_text(*amount_minor))]
    InsufficientFunds {
        /// The current balance, when it could be fetched.
        balance_minor: Option<i64>,
        /// The amount asked for.
        amount_minor: u64,
    },
    /// The terminal's payment request expired before it was paid. Nothing
    /// was charged; ask the terminal for a new request.
    #[error("the payment request expired before it was paid; nothing was charged")]
    RequestExpired,
    /// A guardian's daily spending limit would be exceeded. Nothing was
    /// charged; the guardian can raise the limit.
    #[error("{reason}")]
    GuardianLimitReached {
        /// The server's message: "daily limit set by your guardian reached: …".
        reason: String,
    },
    /// The payment was authorised and recorded on this phone but the server
    /// could not be reached. It will be settled automatically (on the next
    /// `open()` or `payments().settle_pending()`); it is never charged twice.
    #[error("payment pending: {reason}")]
    PaymentPending {
        /// What happened and what comes next.
        reason: String,
    },
    /// The server could not be reached or the connection failed.
    #[error("network error: {reason}")]
    Network {
        /// Whether trying again later can succeed.
        retryable: bool,
        /// The transport error.
        reason: String,
    },
    /// The invitation code (a guardian's or a merchant's staff) is not
    /// valid: unknown, expired, already used, or this phone's own — one
    /// answer for all, so codes cannot be probed. Ask for a new code.
    #[error(
        "this invitation code is not valid (unknown, expired or already used); ask for a new one"
    )]
    InvitationInvalid,
    /// Too many wrong invitation codes from this account: wait before
    /// trying again.
    #[error("too many attempts; try again later: {reason}")]
    TooManyAttempts {
        /// The server's explanation (with how long to wait).
        reason: String,
    },
    /// This guardian is already bound to this rider (or a binding between
    /// the two is waiting): nothing changed.
    #[error("already bound: {reason}")]
    AlreadyBound {
        /// The server's explanation.
        reason: String,
    },
    /// The guardian binding has ended (revoked or left): refresh the list.
    #[error("this binding has ended: {reason}")]
    BindingEnded {
        /// The server's explanation.
        reason: String,
    },
    /// This phone is already a member of the merchant: nothing changed.
    #[error("already a member of this merchant: {reason}")]
    AlreadyMember {
        /// The server's explanation.
        reason: String,
    },
    /// This phone's role or scopes do not allow the operation (for staff:
    /// the owner can grant the scope).
    #[error("not permitted: {reason}")]
    NotPermitted {
        /// The server's explanation (names the missing scope).
        reason: String,
    },
    /// The record does not exist, or this phone may not see it.
    #[error("not found: {reason}")]
    NotFound {
        /// The server's explanation.
        reason: String,
    },
    /// A merchant's refund was refused and nothing moved: more than what is
    /// left refundable of the payment, or more than the merchant's balance.
    #[error("the refund was refused: {reason}")]
    RefundRefused {
        /// What is left refundable, or that the balance does not cover it.
        reason: String,
    },
    /// The server refused the request for a reason without a variant of
    /// its own; `code` is the server's stable code (docs/api.md).
    #[error("the server refused the request ({code}): {reason}")]
    Server {
        /// Stable snake_case code from the server (see docs/api.md).
        code: String,
        /// The server's explanation.
        reason: String,
    },
    /// The wallet's local database failed.
    #[error("local storage error: {reason}")]
    Storage {
        /// The storage error.
        reason: String,
    },
    /// The platform key store failed to seal or unseal the device key.
    #[error("key store error: {reason}")]
    KeyStore {
        /// The key store's error.
        reason: String,
    },
    /// Bluetooth is off, missing, or not permitted on this device.
    #[error("Bluetooth is unavailable: {reason}")]
    BluetoothUnavailable {
        /// Why.
        reason: String,
    },
    /// Terminal discovery failed (network interfaces, multicast).
    #[error("terminal discovery failed: {reason}")]
    Discovery {
        /// Why.
        reason: String,
    },
    /// An argument or the configuration is invalid.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The operation was cancelled by `cancel()`.
    #[error("the operation was cancelled")]
    Cancelled,
    /// Express taps are paused: an earlier express fare could not be fully
    /// charged, so the rider owes a debt. Gates run the full session until
    /// a top-up pays it; then `express().refresh()` turns express back on.
    #[error("express taps are paused until a top-up pays an earlier fare: {reason}")]
    ExpressBlocked {
        /// The debt (minor units), when it could be fetched.
        debt_minor: Option<i64>,
        /// The server's explanation.
        reason: String,
    },
    /// This funding provider cannot top up this wallet: the server does not
    /// offer it, or it does not take the wallet's currency. Offer another
    /// from `account().top_up_providers()`. Nothing was started.
    #[error("top-up through {provider} is not available: {reason}")]
    TopUpUnavailable {
        /// The provider asked for.
        provider: String,
        /// The server's explanation.
        reason: String,
    },
    /// A kiosk top-up's outcome stayed unknown (the server did not
    /// answer, or its receipt did not check out). The terminal was told it
    /// is pending and settles it with the server: the cash is not lost, and
    /// if it was credited it shows in the balance and history.
    #[error("top-up pending for order {order_id}: {reason}")]
    TopUpPending {
        /// The terminal's order id (show it to the cashier).
        order_id: String,
        /// What happened and what comes next.
        reason: String,
    },
    /// The top-up offer closed before it was credited: nothing was
    /// credited; ask the cashier for a new offer.
    #[error("the top-up offer expired before it was credited; ask the cashier for a new offer")]
    TopUpOfferExpired,
    /// This top-up offer was already credited to another wallet; nothing
    /// was credited to this one. Show it to the cashier.
    #[error("this top-up was already credited to another wallet: {reason}")]
    TopUpAlreadyClaimed {
        /// The server's explanation.
        reason: String,
    },
}

/// The amount's part of the insufficient-funds message, when it is known.
fn amount_text(amount_minor: u64) -> String {
    if amount_minor == 0 {
        String::new()
    } else {
        format!(" for a payment of {amount_minor} minor units")
    }
}

impl WalletError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        WalletError::InvalidInput {
            reason: reason.into(),
        }
    }
}

/// Human-readable text of an error, for apps (the Kotlin exception message
/// lists fields only).
#[uniffi::export]
pub fn wallet_error_message(error: WalletError) -> String {
    error.to_string()
}

impl From<StoreError> for WalletError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(target: "wayfare_core::store", error = %e, "storage error");
        WalletError::Storage {
            reason: e.to_string(),
        }
    }
}

impl From<KeyStoreError> for WalletError {
    fn from(e: KeyStoreError) -> Self {
        WalletError::KeyStore {
            reason: e.to_string(),
        }
    }
}

impl From<ProtocolError> for WalletError {
    fn from(e: ProtocolError) -> Self {
        WalletError::SessionFailed {
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpError;
    use crate::payments::PaymentError;
    use crate::session::SessionError;

    #[test]
    fn http_errors_map_to_actionable_variants() {
        let net: WalletError = HttpError::Network {
            retryable: true,
            reason: "connection refused".into(),
        }
        .into();
        assert!(matches!(
            net,
            WalletError::Network {
                retryable: true,
                ..
            }
        ));

        let api = |code: &str| -> WalletError {
            HttpError::Api {
                status: 400,
                code: code.into(),
                reason: "x".into(),
            }
            .into()
        };
        assert_eq!(api("unknown_device"), WalletError::NotRegistered);
        assert_eq!(api("request_expired"), WalletError::RequestExpired);
        assert!(matches!(
            api("express_blocked"),
            WalletError::ExpressBlocked {
                debt_minor: None,
                ..
            }
        ));
        // Guardian and merchant refusals arrive typed.
        assert_eq!(api("invitation_invalid"), WalletError::InvitationInvalid);
        for (code, expected) in [
            ("forbidden", "NotPermitted"),
            ("missing_scope", "NotPermitted"),
            ("not_found", "NotFound"),
            ("already_bound", "AlreadyBound"),
            ("binding_ended", "BindingEnded"),
            ("already_member", "AlreadyMember"),
            ("too_many_attempts", "TooManyAttempts"),
            ("refund_exceeds_payment", "RefundRefused"),
        ] {
            let got = format!("{:?}", api(code));
            assert!(got.starts_with(expected), "{code} → {got}");
        }
        // A code without a variant keeps the server's code.
        assert!(
            matches!(api("idempotency_conflict"), WalletError::Server { code, .. } if code == "idempotency_conflict")
        );
        // Without the amount, the message does not invent one.
        let funds = api("insufficient_funds").to_string();
        assert_eq!(funds, "insufficient funds; top up the wallet");
    }

    #[test]
    fn session_errors_map_to_actionable_variants() {
        let busy: WalletError = SessionError::Busy {
            retry_after_ms: 500,
        }
        .into();
        assert_eq!(busy, WalletError::TerminalBusy);
        let untrusted: WalletError =
            SessionError::Untrusted(ProtocolError::UnknownSigner("terminal certificate")).into();
        assert!(matches!(untrusted, WalletError::TerminalUntrusted { .. }));
        let refused: WalletError = SessionError::Refused {
            reason: "not confirmed".into(),
        }
        .into();
        assert!(refused.to_string().contains("may have been charged"));
        assert_eq!(
            WalletError::from(SessionError::Cancelled),
            WalletError::Cancelled
        );
        let closed: WalletError = SessionError::Closed.into();
        assert!(matches!(closed, WalletError::SessionFailed { .. }));
    }

    #[test]
    fn payment_errors_map_to_actionable_variants() {
        let pending: WalletError = PaymentError::Pending {
            reason: "offline".into(),
        }
        .into();
        assert!(matches!(pending, WalletError::PaymentPending { .. }));
        let funds: WalletError = PaymentError::InsufficientFunds {
            balance_minor: Some(10),
            amount_minor: 200,
        }
        .into();
        assert_eq!(
            funds,
            WalletError::InsufficientFunds {
                balance_minor: Some(10),
                amount_minor: 200
            }
        );
        assert_eq!(
            WalletError::from(PaymentError::Expired),
            WalletError::RequestExpired
        );
        let store: WalletError = PaymentError::Store(StoreError::Corrupt {
            tree: "outbox",
            reason: "bad json".into(),
        })
        .into();
        assert!(matches!(store, WalletError::Storage { .. }));
        let ks: WalletError = KeyStoreError::Unavailable {
            reason: "locked".into(),
        }
        .into();
        assert!(matches!(ks, WalletError::KeyStore { .. }));
    }
}
