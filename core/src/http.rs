//! The control-center HTTP client: reqwest on rustls with the ring provider,
//! device-signed requests (`request_auth::sign_request`), JSON errors mapped
//! to [`HttpError`]. Contract: `docs/api.md`.

use std::sync::Once;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::request_auth::sign_request;
use wayfare_protocol::ProtocolError;

use crate::clock::now_ms;
use crate::error::WalletError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// No answer: connection refused, DNS, TLS, timeout, connection reset.
    /// The request may or may not have reached the server.
    #[error("{reason}")]
    Network {
        /// Whether trying again can help.
        retryable: bool,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error document.
    #[error("{status} {code}: {reason}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// The server's message.
        reason: String,
    },
    /// The answer could not be decoded.
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// The configured server URL is unusable.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// The request could not be signed.
    #[error("could not sign the request: {0}")]
    Signing(#[from] ProtocolError),
}

impl From<HttpError> for WalletError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Network { retryable, reason } => WalletError::Network { retryable, reason },
            HttpError::Api {
                status,
                code,
                reason,
            } => match code.as_str() {
                // Contention or overload: the request did nothing; retry.
                "server_busy" => WalletError::Network {
                    retryable: true,
                    reason: format!("the server is busy ({status}): {reason}"),
                },
                "unknown_device" => WalletError::NotRegistered,
                "request_expired" => WalletError::RequestExpired,
                "insufficient_funds" => WalletError::InsufficientFunds {
                    balance_minor: None,
                    amount_minor: 0,
                },
                "guardian_limit_reached" => WalletError::GuardianLimitReached { reason },
                "invitation_invalid" => WalletError::InvitationInvalid,
                "too_many_attempts" => WalletError::TooManyAttempts { reason },
                "already_bound" => WalletError::AlreadyBound { reason },
                "binding_ended" => WalletError::BindingEnded { reason },
                "already_member" => WalletError::AlreadyMember { reason },
                "forbidden" | "missing_scope" => WalletError::NotPermitted { reason },
                "not_found" => WalletError::NotFound { reason },
                "refund_exceeds_payment" => WalletError::RefundRefused { reason },
                "express_blocked" => WalletError::ExpressBlocked {
                    debt_minor: None,
                    reason,
                },
                _ => WalletError::Server { code, reason },
            },
            HttpError::Decode(reason) => WalletError::Server {
                code: "bad_response".into(),
                reason,
            },
            HttpError::InvalidUrl(reason) => WalletError::InvalidInput { reason },
            HttpError::Signing(e) => WalletError::Server {
                code: "signing_failed".into(),
                reason: e.to_string(),
            },
        }
    }
}

impl HttpError {
    /// True when the server certainly did not execute the request and never
    /// will (a 4xx answer other than timeouts and rate limits).
    pub(crate) fn is_definitive_refusal(&self) -> bool {
        match self {
            HttpError::Api { status, .. } => {
                (400..500).contains(status) && *status != 408 && *status != 429
            }
            _ => false,
        }
    }
}

/// Checks an id the server made (`bnd_…`, `reg_…`) before it goes into a
/// URL path: only the server's id characters, at most 64 of them.
/// `field` names the argument and `noun` what it identifies, for the
/// message.
pub(crate) fn check_server_id(
    field: &str,
    noun: &str,
    prefix: &str,
    id: &str,
) -> Result<(), crate::error::WalletError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(crate::error::WalletError::invalid(format!(
            "{field}: not a {noun} id (expected {prefix}_…)"
        )));
    }
    Ok(())
}

/// Who signs a request.
pub(crate) struct Signer<'a> {
    /// The signing key.
    pub key: &'a SigningKey,
    /// The `x-wayfare-key-id`: a device id, or `register`.
    pub key_id: &'a str,
}

#[derive(Deserialize)]
struct ErrorDocument {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Installs the ring crypto provider for rustls once per process.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for one control center.
#[derive(Clone, Debug)]
pub(crate) struct ApiClient {
    base: Url,
    client: reqwest::Client,
}

impl ApiClient {
    /// Builds a client for `server_url` (http or https).
    pub(crate) fn new(server_url: &str) -> Result<Self, HttpError> {
        let mut base = Url::parse(server_url)
            .map_err(|e| HttpError::InvalidUrl(format!("{server_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(HttpError::InvalidUrl(format!(
                "{server_url:?}: use an http:// or https:// URL"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("wayfare-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::InvalidUrl(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { base, client })
    }

    fn url(&self, path_and_query: &str) -> Result<Url, HttpError> {
        self.base
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|e| HttpError::InvalidUrl(e.to_string()))
    }

    /// An unsigned GET.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, HttpError> {
        let url = self.url(path)?;
        let response = self.client.get(url).send().await.map_err(network)?;
        Self::decode(response).await.map(|(_, body)| body)
    }

    /// A signed request with an optional JSON body and extra headers;
    /// returns the status and the decoded answer.
    pub(crate) async fn signed<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
        signer: &Signer<'_>,
        extra_headers: &[(&str, &str)],
    ) -> Result<(StatusCode, T), HttpError> {
        let url = self.url(path_and_query)?;
        let signed_path = match url.query() {
            Some(q) => format!("{}?{}", url.path(), q),
            None => url.path().to_string(),
        };
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| HttpError::Decode(e.to_string()))?,
            None => Vec::new(),
        };
        let signature = sign_request(
            signer.key,
            signer.key_id,
            method.as_str(),
            &signed_path,
            &bytes,
            now_ms(),
        )?;
        let mut request = self.client.request(method, url);
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        for (name, value) in extra_headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let response = request.send().await.map_err(network)?;
        Self::decode(response).await
    }

    async fn decode<T: DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<(StatusCode, T), HttpError> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        if status.is_success() {
            let body = serde_json::from_slice(&bytes)
                .map_err(|e| HttpError::Decode(format!("{status}: {e}")))?;
            return Ok((status, body));
        }
        match serde_json::from_slice::<ErrorDocument>(&bytes) {
            Ok(doc) => Err(HttpError::Api {
                status: status.as_u16(),
                code: doc.error.code,
                reason: doc.error.message,
            }),
            Err(_)
                if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 =>
            {
                // A proxy or a crashed server: no error document.
                Err(HttpError::Network {
                    retryable: true,
                    reason: format!("the server answered {status}"),
                })
            }
            Err(_) => Err(HttpError::Api {
                status: status.as_u16(),
                code: "http_error".into(),
                reason: format!("the server answered {status}"),
            }),
        }
    }
}

fn network(e: reqwest::Error) -> HttpError {
    // Only a request that could not even be built is hopeless; anything
    // else (connect, timeout, reset) may work later.
    let retryable = !e.is_builder();
    // reqwest's Display omits the cause ("error sending request"); add it.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    HttpError::Network { retryable, reason }
}

/// `GET /v1/keys`.
#[derive(Debug, Deserialize)]
pub(crate) struct KeysResponse {
    pub operator_key: String,
    pub receipt_key: String,
}

/// `POST /v1/devices` body.
#[derive(Debug, Serialize)]
pub(crate) struct RegisterRequest<'a> {
    pub display_name: &'a str,
    pub device_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<&'a str>,
}

/// `POST /v1/devices` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct RegisterResponse {
    pub account_id: String,
    pub device_id: String,
    pub handle: String,
    pub currency: String,
}

/// `GET /v1/wallet` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct WalletResponse {
    pub balance_minor: i64,
    pub currency: String,
    #[serde(default)]
    pub points: i64,
}

/// One history entry of `GET /v1/wallet/history`.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryEntryJson {
    pub entry_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub balance_after_minor: i64,
    #[serde(default)]
    pub payment_id: Option<String>,
    #[serde(default)]
    pub merchant_name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub at_ms: u64,
    #[serde(default)]
    pub points_spent: i64,
    #[serde(default)]
    pub points_value_minor: i64,
    #[serde(default)]
    pub points_returned: i64,
}

/// `GET /v1/merchants/{merchant_id}/points-rate` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct PointsRateJson {
    pub merchant_id: String,
    pub currency: String,
    pub accepts_points: bool,
    pub minor_per_point: u64,
    pub max_share_bps: u64,
}

/// `GET /v1/wallet/history` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryResponse {
    pub entries: Vec<HistoryEntryJson>,
}

/// `POST /v1/payments` body.
#[derive(Debug, Serialize)]
pub(crate) struct PaymentBody<'a> {
    pub instruction: &'a str,
}

/// `PaymentResult` of `POST /v1/payments`.
#[derive(Debug, Deserialize)]
pub(crate) struct PaymentResult {
    pub payment_id: String,
    pub status: String,
    pub receipt: String,
    pub amount_minor: u64,
    pub currency: String,
    pub balance_after_minor: i64,
    pub merchant_id: String,
    pub terminal_id: String,
    pub order_id: String,
    pub completed_at_ms: u64,
    #[serde(default)]
    pub points_spent: u64,
    #[serde(default)]
    pub points_value_minor: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_path_prefix_and_bad_urls_are_refused() {
        let api = ApiClient::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            api.url("/v1/wallet/history?limit=5").unwrap().as_str(),
            "http://127.0.0.1:8080/v1/wallet/history?limit=5"
        );
        let api = ApiClient::new("https://cc.example/api").unwrap();
        assert_eq!(
            api.url("/v1/keys").unwrap().as_str(),
            "https://cc.example/api/v1/keys"
        );
        assert!(ApiClient::new("ftp://x").is_err());
        assert!(ApiClient::new("not a url").is_err());
    }

    #[test]
    fn only_4xx_answers_are_definitive() {
        let api = |status| HttpError::Api {
            status,
            code: "x".into(),
            reason: "y".into(),
        };
        assert!(api(402).is_definitive_refusal());
        assert!(api(410).is_definitive_refusal());
        assert!(!api(429).is_definitive_refusal());
        assert!(!api(500).is_definitive_refusal());
        assert!(!HttpError::Network {
            retryable: true,
            reason: "down".into()
        }
        .is_definitive_refusal());
    }

    #[tokio::test]
    async fn unreachable_server_is_a_retryable_network_error() {
        // Bind then drop a listener so the port is (very likely) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let api = ApiClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let err = api.get::<KeysResponse>("/v1/keys").await.unwrap_err();
        assert!(
            matches!(
                err,
                HttpError::Network {
                    retryable: true,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
