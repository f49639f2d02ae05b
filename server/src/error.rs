//! The server's errors: [`ApiError`] for HTTP answers (one JSON shape, one
//! status per code, see `docs/api.md`) and [`ServerError`] for start-up.
//!
//! The mapping from internal failures to what a client sees, and what gets
//! logged, lives here and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use thiserror::Error;
use wayfare_protocol::ProtocolError;

/// An error answered to an HTTP client as
/// `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The body is not JSON, or not the JSON shape expected.
    #[error("{0}")]
    MalformedJson(String),
    /// A field has a value the API does not accept.
    #[error("{0}")]
    InvalidField(String),
    /// An amount is zero, negative, fractional or too large.
    #[error("{0}")]
    InvalidAmount(String),
    /// A currency code is not supported.
    #[error("{0}")]
    UnsupportedCurrency(String),
    /// An uploaded CSV file cannot be read (no header, a bad row or quote);
    /// the message names the line.
    #[error("{0}")]
    MalformedCsv(String),
    /// A billing export was asked for a day that has not ended yet at the
    /// offset, whose records could still change.
    #[error("{0}")]
    DayNotEnded(String),
    /// A funding provider's callback disagrees with the top-up it names
    /// (amount, currency, an outcome already recorded): nothing moved.
    #[error("{0}")]
    CallbackMismatch(String),
    /// Credentials are missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// A request or instruction signature does not verify.
    #[error("{0}")]
    BadSignature(String),
    /// A signed request's timestamp is outside the allowed clock skew.
    #[error("{0}")]
    StaleRequest(String),
    /// A signed request's nonce was seen before.
    #[error("{0}")]
    ReplayedRequest(String),
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing at this path or with this id.
    #[error("{0}")]
    NotFound(String),
    /// The signing device is not registered.
    #[error("{0}")]
    UnknownDevice(String),
    /// The terminal does not exist.
    #[error("{0}")]
    UnknownTerminal(String),
    /// The merchant does not exist.
    #[error("{0}")]
    UnknownMerchant(String),
    /// The payer's balance does not cover the amount.
    #[error("{0}")]
    InsufficientFunds(String),
    /// The payment request expired before the server received it.
    #[error("{0}")]
    RequestExpired(String),
    /// The idempotency key was used for a different request.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// The order was already paid (under another idempotency key).
    #[error("{0}")]
    OrderAlreadyPaid(String),
    /// A kiosk top-up offer was already credited to another wallet.
    #[error("{0}")]
    TopUpAlreadyClaimed(String),
    /// A kiosk top-up offer closed before it was credited.
    #[error("{0}")]
    OfferExpired(String),
    /// Currencies of the instruction and the accounts differ.
    #[error("{0}")]
    CurrencyMismatch(String),
    /// The body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The database stayed too busy to commit after several retries.
    #[error("{0}")]
    ServerBusy(String),
    /// A guardian's daily spending limit would be exceeded by this payment.
    #[error("{0}")]
    GuardianLimitReached(String),
    /// An invitation code or QR payload that cannot be accepted: unknown,
    /// expired, already used, the caller's own or meant for another
    /// device. One answer for every reason, so a guess teaches nothing.
    #[error("{0}")]
    InvitationInvalid(String),
    /// Too many failed invitation attempts; retry after `retry_after_s`
    /// (also sent as the `retry-after` header).
    #[error("{message}")]
    TooManyAttempts {
        /// What to tell the person.
        message: String,
        /// Seconds until an attempt is allowed again.
        retry_after_s: u64,
    },
    /// The two accounts already have an active binding.
    #[error("{0}")]
    AlreadyBound(String),
    /// The binding was revoked or left; it cannot change any more.
    #[error("{0}")]
    BindingEnded(String),
    /// A payment for this tap-in token was already made.
    #[error("{0}")]
    TapInTokenUsed(String),
    /// The device's merchant operation scope does not include this action.
    #[error("{0}")]
    MissingScope(String),
    /// A refund would exceed what is left of the payment.
    #[error("{0}")]
    RefundExceedsPayment(String),
    /// The device already manages this merchant.
    #[error("{0}")]
    AlreadyMember(String),
    /// A database failure (logged; never shown to the client).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Any other unexpected failure (logged; never shown to the client).
    #[error("internal: {0}")]
    Internal(String),
    /// The merchant does not take loyalty points (no points rate set).
    #[error("{0}")]
    PointsNotAccepted(String),
    /// The rider has fewer points than the payment spends.
    #[error("{0}")]
    InsufficientPoints(String),
    /// An express tap could not be fully charged: no new allowance until
    /// the rider's debt is paid (a top-up pays it first).
    #[error("{0}")]
    ExpressBlocked(String),
}

impl ApiError {
    /// The stable snake_case code and the HTTP status.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        use ApiError::*;
        match self {
            MalformedJson(_) => ("malformed_json", StatusCode::BAD_REQUEST),
            InvalidField(_) => ("invalid_field", StatusCode::UNPROCESSABLE_ENTITY),
            InvalidAmount(_) => ("invalid_amount", StatusCode::UNPROCESSABLE_ENTITY),
            UnsupportedCurrency(_) => ("unsupported_currency", StatusCode::UNPROCESSABLE_ENTITY),
            MalformedCsv(_) => ("malformed_csv", StatusCode::BAD_REQUEST),
            DayNotEnded(_) => ("day_not_ended", StatusCode::CONFLICT),
            CallbackMismatch(_) => ("callback_mismatch", StatusCode::CONFLICT),
            Unauthorized(_) => ("unauthorized", StatusCode::UNAUTHORIZED),
            BadSignature(_) => ("bad_signature", StatusCode::UNAUTHORIZED),
            StaleRequest(_) => ("stale_request", StatusCode::UNAUTHORIZED),
            ReplayedRequest(_) => ("replayed_request", StatusCode::UNAUTHORIZED),
            Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN),
            NotFound(_) => ("not_found", StatusCode::NOT_FOUND),
            UnknownDevice(_) => ("unknown_device", StatusCode::UNAUTHORIZED),
            UnknownTerminal(_) => ("unknown_terminal", StatusCode::NOT_FOUND),
            UnknownMerchant(_) => ("unknown_merchant", StatusCode::NOT_FOUND),
            InsufficientFunds(_) => ("insufficient_funds", StatusCode::PAYMENT_REQUIRED),
            RequestExpired(_) => ("request_expired", StatusCode::GONE),
            IdempotencyConflict(_) => ("idempotency_conflict", StatusCode::CONFLICT),
            OrderAlreadyPaid(_) => ("order_already_paid", StatusCode::CONFLICT),
            TopUpAlreadyClaimed(_) => ("top_up_already_claimed", StatusCode::CONFLICT),
            OfferExpired(_) => ("offer_expired", StatusCode::GONE),
            CurrencyMismatch(_) => ("currency_mismatch", StatusCode::UNPROCESSABLE_ENTITY),
            PayloadTooLarge(_) => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            MethodNotAllowed(_) => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            ServerBusy(_) => ("server_busy", StatusCode::SERVICE_UNAVAILABLE),
            GuardianLimitReached(_) => ("guardian_limit_reached", StatusCode::PAYMENT_REQUIRED),
            InvitationInvalid(_) => ("invitation_invalid", StatusCode::NOT_FOUND),
            TooManyAttempts { .. } => ("too_many_attempts", StatusCode::TOO_MANY_REQUESTS),
            AlreadyBound(_) => ("already_bound", StatusCode::CONFLICT),
            BindingEnded(_) => ("binding_ended", StatusCode::CONFLICT),
            TapInTokenUsed(_) => ("tap_in_token_used", StatusCode::CONFLICT),
            MissingScope(_) => ("missing_scope", StatusCode::FORBIDDEN),
            RefundExceedsPayment(_) => ("refund_exceeds_payment", StatusCode::CONFLICT),
            AlreadyMember(_) => ("already_member", StatusCode::CONFLICT),
            ExpressBlocked(_) => ("express_blocked", StatusCode::CONFLICT),
            PointsNotAccepted(_) => ("points_not_accepted", StatusCode::UNPROCESSABLE_ENTITY),
            InsufficientPoints(_) => ("insufficient_points", StatusCode::PAYMENT_REQUIRED),
            Database(_) | Internal(_) => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// Shorthand for an `invalid_field` error on `field`.
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::InvalidField(format!("{field}: {reason}"))
    }

    /// Maps a protocol error met while reading client data (an instruction,
    /// a key) to a client error; `what` names the field.
    pub fn from_protocol(what: &str, err: ProtocolError) -> Self {
        match err {
            ProtocolError::InvalidAmount(m) => ApiError::InvalidAmount(format!("{what}: {m}")),
            e @ ProtocolError::InvalidCurrency(_) => {
                ApiError::UnsupportedCurrency(format!("{what}: {e}"))
            }
            e @ (ProtocolError::BadSignature(_) | ProtocolError::UnknownSigner(_)) => {
                ApiError::BadSignature(format!("{what}: {e}"))
            }
            e @ ProtocolError::Expired { .. } => ApiError::RequestExpired(format!("{what}: {e}")),
            ProtocolError::Random => ApiError::Internal("random generator failure".into()),
            e => ApiError::InvalidField(format!("{what}: {e}")),
        }
    }

    /// True for transient database contention worth retrying the whole
    /// transaction for (SQLite busy/locked, PostgreSQL serialization
    /// failure or deadlock).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Database(e) => is_contention(e),
            _ => false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        let message = match &self {
            ApiError::Database(e) => {
                tracing::error!(error = %e, "database failure");
                "internal error; the request may be retried".to_string()
            }
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "internal failure");
                "internal error; the request may be retried".to_string()
            }
            other => {
                tracing::debug!(code, "request refused");
                other.to_string()
            }
        };
        let body = json!({ "error": { "code": code, "message": message } });
        let mut response = (status, Json(body)).into_response();
        // For the metrics layer: outcomes are counted by code.
        response.extensions_mut().insert(ErrorCode(code));
        if let ApiError::TooManyAttempts { retry_after_s, .. } = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_s),
            );
        }
        response
    }
}

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Reading or writing the data directory failed.
    #[error("data directory {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key or token file exists but cannot be used.
    #[error("key file {path}: {reason}")]
    BadKeyFile {
        /// The file involved.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Connecting to the database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The system random generator failed.
    #[error("random generator: {0}")]
    Random(#[from] ProtocolError),
    /// The TLS certificate or key named in the configuration cannot be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// A funding provider is misconfigured (the message names it).
    #[error("{0}")]
    Funding(#[from] crate::funding::config_error::FundingConfigError),
}

/// True for transient contention errors (busy, locked, serialization
/// failure, deadlock): the transaction may succeed when run again.
pub fn is_contention(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let msg = db.message().to_ascii_lowercase();
            // SQLite: SQLITE_BUSY (5, 261, 517), SQLITE_LOCKED (6, 262).
            // PostgreSQL: serialization_failure, deadlock_detected.
            matches!(
                code.as_str(),
                "5" | "6" | "261" | "262" | "517" | "40001" | "40P01"
            ) || msg.contains("database is locked")
                || msg.contains("database table is locked")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

/// The error code of an [`ApiError`] response, left in the response's
/// extensions so the metrics layer can count outcomes by code (a bounded
/// set of static names).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorCode(pub(crate) &'static str);
