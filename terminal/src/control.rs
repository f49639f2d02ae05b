//! The local control interface: a small HTTP server on a loopback address
//! for the cash register (POS sales) and for monitoring.
//!
//! Loopback is not enough: any web page open on the POS host can send
//! requests to it. So every request must
//! - name a loopback `Host` (`localhost`, `127.x.x.x`, `[::1]`, any port):
//!   a rebound DNS name is refused (403 `bad_host`);
//! - carry no `Origin` header other than those in
//!   `control.allowed_origins` (403 `origin_not_allowed`); allowed origins
//!   get CORS answers, preflights included;
//! - carry `Authorization: Bearer <token>` (401 `unauthorized`), the token
//!   being the contents of `DATA_DIR/control-token` (created 0600 on first
//!   start; `control.token_file`, `control.require_token`);
//! - when it changes state (`POST`, `PUT`, `DELETE`), be `Content-Type:
//!   application/json` (415 `unsupported_media_type`), which no web page can
//!   send cross-origin without a preflight.
//!
//! | method & path | body → answer |
//! |---|---|
//! | `POST /sales` | `{"amount_minor","description"?}` → 201 `{"order_id"}`; 409 `sale_pending` |
//! | `GET /sales/{order_id}` | → the [`SaleOutcome`](crate::SaleOutcome) |
//! | `DELETE /sales/{order_id}` | cancels a sale no phone is paying → the outcome |
//! | `GET /status` | → [`TerminalStatus`](crate::TerminalStatus), with the tram's `position` (source, age, `stale`) |
//! | `PUT /position` | tram: `{"station"|"stop_id","direction_towards"?}` → 200 the [`Position`](crate::position::Position); 409 `no_stop_list`, 422 `unknown_stop`/`unknown_direction`/`invalid_field` |
//!
//! Errors are `{"error":{"code","message"}}` like the control center's.

use std::net::IpAddr;
use std::path::Path as FilePath;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use wayfare_protocol::ids::b64_encode;
use wayfare_protocol::keys::random_bytes;

use crate::config::ControlConfig;
use crate::error::{Result, TerminalError};
use crate::position::{MoveError, MoveRequest};
use crate::sale::SaleError;
use crate::{now_ms, Shared};

pub(crate) mod errors;

use errors::{error, sale_error};

/// The control interface: [`routes`] behind the [`ControlGuard`].
pub(crate) fn router(shared: Arc<Shared>, guard: ControlGuard) -> Router {
    routes()
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(middleware::from_fn_with_state(Arc::new(guard), check))
        .with_state(shared)
}

/// The endpoints. Every route added here is behind the guard.
fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sales", post(new_sale))
        .route("/sales/{order_id}", get(get_sale).delete(cancel_sale))
        .route("/top-ups", post(crate::top_up::control::new_top_up))
        .route(
            "/top-ups/{order_id}",
            get(crate::top_up::control::get_top_up).delete(crate::top_up::control::cancel_top_up),
        )
        .route("/status", get(status))
        .route("/position", put(move_tram))
}

/// Who may call the control interface (see the module documentation).
#[derive(Clone)]
pub(crate) struct ControlGuard {
    token: String,
    require_token: bool,
    allowed_origins: Vec<String>,
}

impl ControlGuard {
    /// The guard for `config` with the bearer `token`.
    pub(crate) fn new(config: &ControlConfig, token: String) -> Self {
        Self {
            token,
            require_token: config.require_token,
            allowed_origins: config.allowed_origins.clone(),
        }
    }
}

/// Checks every request before it reaches a route.
async fn check(State(guard): State<Arc<ControlGuard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(is_loopback_host)
    {
        return error(
            StatusCode::FORBIDDEN,
            "bad_host",
            "the control interface answers only requests addressed to localhost, 127.0.0.1 or [::1]",
        );
    }
    let origin = match headers.get(header::ORIGIN) {
        None => None,
        Some(o) => match o.to_str() {
            Ok(o) if guard.allowed_origins.iter().any(|a| a == o) => Some(o.to_string()),
            _ => {
                return error(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "requests from web pages are refused unless their origin is in control.allowed_origins",
                )
            }
        },
    };
    if request.method() == Method::OPTIONS {
        if let Some(origin) = &origin {
            return preflight(origin);
        }
    }
    if guard.require_token && !has_token(headers, &guard.token) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <token>, the token being the contents of the terminal's control-token file",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe && !is_json(headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "requests that change state must be Content-Type: application/json",
        );
    }
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        allow_origin(response.headers_mut(), &origin);
    }
    response
}

/// `localhost` or a loopback address, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || is_port(port) => inside,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':').unwrap_or(s).parse::<u16>().is_ok()
}

/// Compares the bearer token in constant time.
fn has_token(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (given, token) = (given.trim().as_bytes(), token.as_bytes());
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight(origin: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    allow_origin(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// Reads the control token from `path`, or creates the file (mode 0600)
/// with a fresh random token when it does not exist.
pub(crate) async fn load_or_create_token(path: &FilePath) -> Result<String> {
    let read_err = TerminalError::file("cannot read control token file", path);
    for _ in 0..2 {
        match tokio::fs::read_to_string(path).await {
            Ok(text) => {
                let token = text.trim();
                if token.len() < 16 || token.chars().any(|c| !c.is_ascii_graphic()) {
                    return Err(TerminalError::Config(format!(
                        "control token file {} must hold one token of at least 16 printable characters; delete it to get a new one",
                        path.display()
                    )));
                }
                warn_if_readable_by_others(path).await;
                return Ok(token.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match create_token(path).await {
                    Ok(token) => return Ok(token),
                    // Another process created it first: read theirs.
                    Err(TerminalError::File { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            Err(source) => return Err(read_err(source)),
        }
    }
    Err(read_err(std::io::Error::other(
        "the file appeared and vanished while it was being created",
    )))
}

async fn create_token(path: &FilePath) -> Result<String> {
    let file_err = TerminalError::file("cannot create control token file", path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(file_err)?;
    }
    let token = b64_encode(&random_bytes::<32>()?);
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await.map_err(file_err)?;
    file.write_all(format!("{token}\n").as_bytes())
        .await
        .map_err(file_err)?;
    file.sync_all().await.map_err(file_err)?;
    tracing::info!(path = %path.display(), "created a new control interface token");
    Ok(token)
}

#[cfg(unix)]
async fn warn_if_readable_by_others(path: &FilePath) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = tokio::fs::metadata(path).await {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the control token file is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
async fn warn_if_readable_by_others(_path: &FilePath) {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSale {
    amount_minor: i64,
    #[serde(default)]
    description: String,
}

async fn new_sale(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    if matches!(shared.config.mode, crate::config::ModeConfig::TopUp(_)) {
        return error(
            StatusCode::CONFLICT,
            "top_up_terminal",
            "this terminal takes cash top-ups, not sales: POST /top-ups",
        );
    }
    let sale: NewSale = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("expected {{\"amount_minor\": integer, \"description\": string}}: {e}"),
            )
        }
    };
    let Ok(amount) = u64::try_from(sale.amount_minor) else {
        return sale_error(SaleError::InvalidAmount(format!(
            "{} is not positive; amounts are positive integers of minor units",
            sale.amount_minor
        )));
    };
    match shared.sales.new_sale(amount, &sale.description, now_ms()) {
        Ok(order_id) => {
            (StatusCode::CREATED, Json(json!({ "order_id": order_id }))).into_response()
        }
        Err(e) => sale_error(e),
    }
}

async fn get_sale(State(shared): State<Arc<Shared>>, Path(order_id): Path<String>) -> Response {
    match shared.sales.outcome(&order_id) {
        Some(outcome) => Json(outcome).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "no order with this id"),
    }
}

async fn cancel_sale(State(shared): State<Arc<Shared>>, Path(order_id): Path<String>) -> Response {
    match shared.sales.cancel(&order_id, now_ms()) {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => sale_error(e),
    }
}

/// The tram moved (the driver's console, a depot system): the current stop
/// and optionally the direction, checked against the line's stop list.
async fn move_tram(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(live) = &shared.position else {
        return error(
            StatusCode::CONFLICT,
            "not_a_tram",
            "only a tram terminal has a position",
        );
    };
    let request: MoveRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!(
                    "expected {{\"station\" or \"stop_id\": string, \"direction_towards\"?: string}}: {e}"
                ),
            )
        }
    };
    match live.set_by_control(&request, now_ms()) {
        Ok(position) => {
            tracing::info!(
                station = %position.station,
                towards = %position.direction_towards,
                "tram position set through the control interface"
            );
            Json(position).into_response()
        }
        Err(e) => {
            let (status, code) = match &e {
                MoveError::NoStopList => (StatusCode::CONFLICT, "no_stop_list"),
                MoveError::Ambiguous => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
                MoveError::UnknownStop(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_stop"),
                MoveError::UnknownDirection(..) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "unknown_direction")
                }
            };
            error(status, code, e.to_string())
        }
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.status()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:80",
            "[::2]:80",
            "127.0.0.1:port",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn json_and_tokens_are_checked_exactly() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jsonx"),
        );
        assert!(!is_json(&h));

        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-token-1"),
        );
        assert!(has_token(&h, "secret-token-1"));
        assert!(!has_token(&h, "secret-token-2"));
        assert!(!has_token(&h, "secret-token-10"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("secret-token-1"),
        );
        assert!(!has_token(&h, "secret-token-1"));
    }

    #[tokio::test]
    async fn the_token_file_is_created_private_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("control-token");
        let token = load_or_create_token(&path).await.unwrap();
        assert!(token.len() >= 40, "{token}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(load_or_create_token(&path).await.unwrap(), token);
        std::fs::write(&path, "short\n").unwrap();
        let err = load_or_create_token(&path).await.unwrap_err().to_string();
        assert!(err.contains("control token"), "{err}");
    }
}
