//! The terminal's HTTP client for the control center (docs/api.md): signed
//! platform confirmations (P3.3), report uploads (P1) and the server-sent
//! event stream of completed payments (P2).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use serde::{Deserialize, Serialize};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::request_auth::sign_request;

use crate::error::{Result, TerminalError};
use crate::reports::report::Report;

/// Longest time one ordinary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence on the event stream before it is reopened.
const EVENTS_READ_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest time to establish a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Installs rustls' ring provider once per process (reqwest is built
/// without a default provider). Safe to call many times.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The platform's answer to a confirmation request.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Confirmation {
    /// True only for a completed payment made at this terminal for that order.
    pub confirmed: bool,
    /// The payment's status, e.g. "completed".
    #[serde(default)]
    pub status: Option<String>,
    /// The payment, when the answer is about an order.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// Amount of the payment.
    #[serde(default)]
    pub amount_minor: Option<u64>,
    /// Currency of the payment.
    #[serde(default)]
    pub currency: Option<String>,
}

/// The platform's answer about a top-up offer of this terminal.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TopUpStatus {
    /// True once the offer was credited to a wallet.
    pub credited: bool,
    /// `credited`, `not_credited` or `open`.
    #[serde(default)]
    pub status: Option<String>,
    /// The server-signed receipt of the credited top-up (base64url COSE).
    #[serde(default)]
    pub receipt: Option<String>,
}

/// A `payment.completed` event pushed by the server (P2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedPayment {
    /// Payment id.
    pub payment_id: String,
    /// The order paid.
    pub order_id: String,
    /// Amount paid.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// When it completed (Unix ms).
    pub completed_at_ms: u64,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// A client signing every request with the terminal key.
#[derive(Clone)]
pub struct PlatformClient {
    http: reqwest::Client,
    events_http: reqwest::Client,
    base: reqwest::Url,
    terminal_id: String,
    key: Arc<SigningKey>,
}

impl std::fmt::Debug for PlatformClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformClient")
            .field("base", &self.base.as_str())
            .finish()
    }
}

/// Builds a plain HTTP client with the terminal's connect timeout.
pub(crate) fn http_client() -> Result<reqwest::Client> {
    client_builder(&[])
        .build()
        .map_err(|e| TerminalError::Config(format!("cannot build the HTTP client: {e}")))
}

/// A client builder with the connect timeout, trusting `extra_roots`
/// besides the system's roots.
fn client_builder(extra_roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
    install_crypto_provider();
    extra_roots.iter().fold(
        reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT),
        |builder, root| builder.add_root_certificate(root.clone()),
    )
}

/// Reads the root CA certificates (PEM) of a private deployment from
/// `path` (`server_ca_file` in the configuration). The file must hold at
/// least one certificate.
pub async fn load_server_roots(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = tokio::fs::read(path)
        .await
        .map_err(TerminalError::file("cannot read the server CA file", path))?;
    let bad = |reason: String| {
        TerminalError::Config(format!("server CA file {}: {reason}", path.display()))
    };
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not valid PEM: {e}")))?;
    if ders.is_empty() {
        return Err(bad(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        ));
    }
    ders.iter()
        .map(|der| {
            reqwest::Certificate::from_der(der)
                .map_err(|e| bad(format!("not a usable certificate: {e}")))
        })
        .collect()
}

/// Joins an API path (starting with `/v1/`) to the server URL, keeping any
/// base path the URL has.
pub(crate) fn endpoint(base: &reqwest::Url, path: &str) -> Result<reqwest::Url> {
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    reqwest::Url::parse(&joined)
        .map_err(|e| TerminalError::Config(format!("bad server URL {joined}: {e}")))
}

/// Turns a transport error into a retryable platform error.
pub(crate) fn transport_error(e: reqwest::Error) -> TerminalError {
    TerminalError::Platform {
        status: e.status().map(|s| s.as_u16()),
        retryable: true,
        message: format!("cannot reach the control center: {e}"),
    }
}

/// Turns a non-2xx answer into a platform error, keeping the server's
/// error code and message.
pub(crate) async fn status_error(response: reqwest::Response) -> TerminalError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<ErrorEnvelope>(&text) {
        Ok(env) => format!(
            "{} ({}): {}",
            status.as_u16(),
            env.error.code,
            env.error.message
        ),
        Err(_) => format!(
            "{}: {}",
            status.as_u16(),
            text.chars().take(200).collect::<String>()
        ),
    };
    let retryable = status.is_server_error() || matches!(status.as_u16(), 401 | 408 | 425 | 429);
    TerminalError::Platform {
        status: Some(status.as_u16()),
        retryable,
        message,
    }
}

/// Sends `request`: its answer when that is a 2xx, else the platform
/// error the answer carries.
pub(crate) async fn send_checked(request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let response = request.send().await.map_err(transport_error)?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(status_error(response).await)
    }
}

/// Decodes the JSON of a 2xx answer (`what` names it in the error); one
/// that cannot be read is a platform error, `retryable` as the caller says.
pub(crate) async fn read_answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    what: &str,
    retryable: bool,
) -> Result<T> {
    response.json().await.map_err(|e| TerminalError::Platform {
        status: None,
        retryable,
        message: format!("unreadable {what} answer: {e}"),
    })
}

impl PlatformClient {
    /// A client for `server_url` acting as `terminal_id`.
    pub fn new(server_url: &str, terminal_id: &str, key: Arc<SigningKey>) -> Result<Self> {
        Self::with_roots(server_url, terminal_id, key, &[])
    }

    /// [`PlatformClient::new`] that also trusts `extra_roots` (see
    /// [`load_server_roots`]) for the server's HTTPS certificate.
    pub fn with_roots(
        server_url: &str,
        terminal_id: &str,
        key: Arc<SigningKey>,
        extra_roots: &[reqwest::Certificate],
    ) -> Result<Self> {
        let base = reqwest::Url::parse(server_url)
            .map_err(|e| TerminalError::Config(format!("server_url {server_url:?}: {e}")))?;
        let build_error =
            |e: reqwest::Error| TerminalError::Config(format!("cannot build the HTTP client: {e}"));
        let events_http = client_builder(extra_roots)
            .read_timeout(EVENTS_READ_TIMEOUT)
            .build()
            .map_err(build_error)?;
        Ok(Self {
            http: client_builder(extra_roots).build().map_err(build_error)?,
            events_http,
            base,
            terminal_id: terminal_id.to_string(),
            key,
        })
    }

    fn signed(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder> {
        let url = endpoint(&self.base, path)?;
        let mut path_and_query = url.path().to_string();
        if let Some(q) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let sig = sign_request(
            &self.key,
            &self.terminal_id,
            method.as_str(),
            &path_and_query,
            &body,
            crate::now_ms(),
        )?;
        let mut builder = client.request(method, url);
        for (name, value) in sig.headers() {
            builder = builder.header(name, value);
        }
        if !body.is_empty() {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        Ok(builder)
    }

    async fn post_json<T: Serialize>(&self, path: &str, value: &T) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(value)
            .map_err(|e| TerminalError::Store(format!("cannot encode request: {e}")))?;
        send_checked(
            self.signed(&self.http, reqwest::Method::POST, path, body)?
                .timeout(REQUEST_TIMEOUT),
        )
        .await
    }

    /// Asks the platform whether a payment really completed at this
    /// terminal for this order (P3.3).
    pub async fn confirm(&self, payment_id: &str, order_id: &str) -> Result<Confirmation> {
        let body = serde_json::json!({ "payment_id": payment_id, "order_id": order_id });
        let response = self.post_json("/v1/platform/confirmations", &body).await?;
        read_answer(response, "confirmation", true).await
    }

    /// Registers a rider with this terminal's platform (P3.5), forwarding
    /// the rider's device-signed consent; the control center verifies it.
    /// Answers the registration's id.
    pub async fn register_rider(
        &self,
        consent: &wayfare_protocol::consent::RegistrationConsent,
    ) -> Result<String> {
        #[derive(Deserialize)]
        struct Registered {
            registration_id: String,
        }
        let body = serde_json::json!({ "consent": consent.to_base64() });
        let response = self.post_json("/v1/platform/registrations", &body).await?;
        let registered: Registered = read_answer(response, "registration", true).await?;
        Ok(registered.registration_id)
    }

    /// Asks whether `payment_id` paid the trip that began with tap-in token
    /// `token_id`, at any terminal of this terminal's operator (an exit
    /// whose fare was paid at another gate after a lost answer).
    pub async fn confirm_trip(
        &self,
        payment_id: &str,
        order_id: &str,
        token_id: &str,
    ) -> Result<Confirmation> {
        let body = serde_json::json!({
            "payment_id": payment_id,
            "order_id": order_id,
            "token_id": token_id,
        });
        let response = self.post_json("/v1/platform/confirmations", &body).await?;
        read_answer(response, "confirmation", true).await
    }

    /// Asks what became of an order whose outcome this terminal does not
    /// know (an in-doubt sale): `confirmed` with the payment, or
    /// `not_paid`.
    pub async fn order_status(&self, order_id: &str) -> Result<Confirmation> {
        let body = serde_json::json!({ "order_id": order_id });
        let response = self.post_json("/v1/platform/confirmations", &body).await?;
        read_answer(response, "confirmation", true).await
    }

    /// Asks whether a top-up offer of this terminal was credited (an
    /// order whose outcome the terminal does not know).
    /// `expires_at_ms` is the offer's: until shortly after it the answer
    /// may be `open`; after it, `not_credited` is final.
    pub async fn top_up_status(&self, order_id: &str, expires_at_ms: u64) -> Result<TopUpStatus> {
        let body = serde_json::json!({ "order_id": order_id, "expires_at_ms": expires_at_ms });
        let response = self
            .post_json("/v1/platform/top-up-confirmations", &body)
            .await?;
        read_answer(response, "top-up confirmation", true).await
    }

    /// Uploads one report; the server is idempotent on `report_id`.
    pub async fn upload_report(&self, report: &Report) -> Result<()> {
        self.post_json("/v1/terminals/me/reports", report).await?;
        Ok(())
    }

    /// Fetches the signed express deny list (its COSE bytes); the caller
    /// verifies it.
    pub(crate) async fn express_deny_list(&self) -> Result<Vec<u8>> {
        #[derive(Deserialize)]
        struct Answer {
            deny_list: String,
        }
        let request = self
            .signed(
                &self.http,
                reqwest::Method::GET,
                "/v1/platform/express/deny-list",
                Vec::new(),
            )?
            .timeout(REQUEST_TIMEOUT);
        let response = send_checked(request).await?;
        let answer: Answer = read_answer(response, "deny list", true).await?;
        wayfare_protocol::ids::b64_decode(&answer.deny_list).map_err(|_| TerminalError::Platform {
            status: None,
            retryable: true,
            message: "the deny list is not base64url".into(),
        })
    }

    /// Uploads express taps for settlement; one result per tap, in order.
    pub(crate) async fn upload_express_taps(
        &self,
        taps: &[crate::express::types::QueuedTap],
    ) -> Result<Vec<crate::express::types::TapResult>> {
        #[derive(Deserialize)]
        struct Answer {
            results: Vec<crate::express::types::TapResult>,
        }
        let body = serde_json::json!({ "taps": taps });
        let response = self.post_json("/v1/platform/express/taps", &body).await?;
        let answer: Answer = read_answer(response, "express settlement", true).await?;
        Ok(answer.results)
    }

    /// Opens the event stream, resuming after `last_event_id`.
    pub async fn open_events(&self, last_event_id: Option<&str>) -> Result<reqwest::Response> {
        let mut builder = self
            .signed(
                &self.events_http,
                reqwest::Method::GET,
                "/v1/terminals/me/events",
                Vec::new(),
            )?
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            builder = builder.header("last-event-id", id);
        }
        send_checked(builder).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = reqwest::Url::parse("http://h:1/api/").unwrap();
        assert_eq!(
            endpoint(&base, "/v1/health").unwrap().as_str(),
            "http://h:1/api/v1/health"
        );
        let base = reqwest::Url::parse("http://h:1").unwrap();
        assert_eq!(endpoint(&base, "/v1/health").unwrap().path(), "/v1/health");
    }

    #[tokio::test]
    async fn a_bad_server_ca_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = load_server_roots(&missing).await.unwrap_err();
        assert!(matches!(&e, TerminalError::File { path, .. } if *path == missing));

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let e = load_server_roots(&garbage).await.unwrap_err().to_string();
        assert!(e.contains(&garbage.display().to_string()), "{e}");
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
