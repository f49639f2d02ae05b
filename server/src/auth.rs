//! Who is calling: the operator's bearer token ([`Admin`]) and signed
//! requests from devices and terminals ([`Signed`]), with replay protection
//! through the `request_nonces` table.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use wayfare_protocol::ids::redact;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::request_auth::{
    verify_request, RequestSignature, HEADER_KEY_ID, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, MAX_CLOCK_SKEW_MS,
};
use wayfare_protocol::ProtocolError;

use crate::db::{self, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{parse_json, read_body};
use crate::state::AppState;

/// Proof that the request carries the operator's admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing authorization header; send `authorization: Bearer <admin token>`"
                        .into(),
                )
            })?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| {
                ApiError::Unauthorized("authorization must be `Bearer <token>`".into())
            })?;
        if state.keys().is_admin_token(token.trim()) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized(
                "the admin token is not valid".into(),
            ))
        }
    }
}

/// Marks a route (as a request extension) whose body is a device-signed,
/// idempotent instruction the handler verifies — `POST /v1/payments`: the
/// instruction's signature authenticates the device (it names the device,
/// the account, the order and the derived idempotency key) and its
/// idempotency key makes a replay answer the first result without moving
/// money again; its own expiry bounds it in time. So the request signature
/// and a stored nonce would add nothing: the signer is looked up from the
/// key-id header, and the one Ed25519 verification and the one durable
/// write of a payment are the instruction's and the payment's.
#[derive(Clone, Copy, Debug)]
pub struct ReplaySafe;

/// A signed request whose signer has not been looked up yet.
pub struct UnverifiedRequest {
    /// The signature headers.
    pub signature: RequestSignature,
    method: Method,
    path_and_query: String,
    /// The raw body.
    pub body: Bytes,
    /// The route is [`ReplaySafe`]: no nonce is stored.
    replay_safe: bool,
}

impl FromRequest<AppState> for UnverifiedRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let signature = signature_from_headers(req.headers())?;
        let replay_safe = req.extensions().get::<ReplaySafe>().is_some();
        let method = req.method().clone();
        let uri = req
            .extensions()
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| req.uri().clone());
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string());
        let body = read_body(req, state).await?;
        Ok(Self {
            signature,
            method,
            path_and_query,
            body,
            replay_safe,
        })
    }
}

impl UnverifiedRequest {
    /// Verifies the signature with `key` and records the nonce under
    /// `nonce_scope` (a key id), refusing stale and replayed requests.
    pub async fn verify_with(
        &self,
        state: &AppState,
        key: &PublicKey,
        nonce_scope: &str,
    ) -> Result<(), ApiError> {
        if self.replay_safe {
            // The handler verifies the signed instruction (see ReplaySafe).
            return Ok(());
        }
        let now = now_ms();
        verify_request(
            key,
            &self.signature,
            self.method.as_str(),
            &self.path_and_query,
            &self.body,
            now,
        )
        .map_err(|e| match e {
            e @ ProtocolError::Expired { .. } => ApiError::StaleRequest(format!(
                "{e}; check the device clock (allowed skew is {} s)",
                MAX_CLOCK_SKEW_MS / 1000
            )),
            e @ ProtocolError::InvalidField { .. } => ApiError::Unauthorized(e.to_string()),
            e => ApiError::BadSignature(format!(
                "{e}: the request signature does not match the key of {}",
                redact(&self.signature.key_id)
            )),
        })?;
        record_nonce(state, nonce_scope, &self.signature.nonce, now).await
    }

    /// Parses the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }
}

/// Somebody who signs requests: a device or a terminal.
pub trait Signer: Sized + Send {
    /// Looks up the signer named in the key-id header and its public key.
    fn load(
        state: &AppState,
        key_id: &str,
    ) -> impl Future<Output = Result<(Self, PublicKey), ApiError>> + Send;

    /// Called once the request's signature checked out (metrics note
    /// terminals seen); nothing by default.
    fn verified(&self, _state: &AppState) {}
}

/// A request signed by a registered device or terminal `P`.
pub struct Signed<P> {
    /// Who signed.
    pub signer: P,
    /// The raw (verified) body.
    pub body: Bytes,
}

impl<P> Signed<P> {
    /// Parses the verified body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }
}

impl<P: Signer> FromRequest<AppState> for Signed<P> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let request = UnverifiedRequest::from_request(req, state).await?;
        let key_id = request.signature.key_id.clone();
        let (signer, key) = P::load(state, &key_id).await?;
        request.verify_with(state, &key, &key_id).await?;
        signer.verified(state);
        Ok(Self {
            signer,
            body: request.body,
        })
    }
}

/// A registered phone.
#[derive(Clone, Debug)]
pub struct Device {
    /// Device id.
    pub device_id: String,
    /// The device's account.
    pub account_id: String,
    /// The device's Ed25519 key (also verifies its payment instructions).
    pub public_key: PublicKey,
}

impl Signer for Device {
    async fn load(state: &AppState, key_id: &str) -> Result<(Self, PublicKey), ApiError> {
        let (account_id, key) = match state.device_keys().get(key_id) {
            Some(known) => known,
            None => {
                let known = read_device(state, key_id).await?;
                state.device_keys().remember(key_id, known.clone());
                known
            }
        };
        Ok((
            Device {
                device_id: key_id.to_string(),
                account_id,
                public_key: key,
            },
            key,
        ))
    }
}

/// A device's account and key from the database; `unknown_device` if it
/// is not registered.
async fn read_device(state: &AppState, key_id: &str) -> Result<(String, PublicKey), ApiError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT account_id, public_key FROM devices WHERE id = $1")
            .bind(key_id.to_string())
            .fetch_optional(&state.db().pool)
            .await?;
    let (account_id, key) = row.ok_or_else(|| {
        ApiError::UnknownDevice(format!(
            "device {} is not registered; register it with POST /v1/devices",
            redact(key_id)
        ))
    })?;
    let key = PublicKey::from_base64(&key)
        .map_err(|e| ApiError::Internal(format!("stored device key: {e}")))?;
    Ok((account_id, key))
}

/// A registered access terminal.
#[derive(Clone, Debug)]
pub struct Terminal {
    /// Terminal id.
    pub terminal_id: String,
}

impl Signer for Terminal {
    async fn load(state: &AppState, key_id: &str) -> Result<(Self, PublicKey), ApiError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT public_key, not_after_ms FROM terminals WHERE id = $1")
                .bind(key_id.to_string())
                .fetch_optional(&state.db().pool)
                .await?;
        let (key, not_after) = row.ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "terminal {} is not registered with this control center",
                redact(key_id)
            ))
        })?;
        if to_i64(now_ms()) > not_after {
            return Err(ApiError::Unauthorized(
                "the terminal's certificate has expired; register it again".into(),
            ));
        }
        let key = PublicKey::from_base64(&key)
            .map_err(|e| ApiError::Internal(format!("stored terminal key: {e}")))?;
        Ok((
            Terminal {
                terminal_id: key_id.to_string(),
            },
            key,
        ))
    }

    fn verified(&self, state: &AppState) {
        state.metrics().terminal_seen(&self.terminal_id);
    }
}

fn signature_from_headers(headers: &HeaderMap) -> Result<RequestSignature, ApiError> {
    let get = |name: &str| -> Result<String, ApiError> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::Unauthorized(format!(
                    "missing or unreadable {name} header; sign the request with \
                     wayfare_protocol::request_auth::sign_request"
                ))
            })
    };
    let key_id = get(HEADER_KEY_ID)?;
    let timestamp_ms = get(HEADER_TIMESTAMP)?.parse::<u64>().map_err(|_| {
        ApiError::Unauthorized(format!("{HEADER_TIMESTAMP} must be Unix milliseconds"))
    })?;
    if key_id.is_empty() || key_id.len() > 200 {
        return Err(ApiError::Unauthorized(format!(
            "{HEADER_KEY_ID} is not valid"
        )));
    }
    Ok(RequestSignature {
        key_id,
        timestamp_ms,
        nonce: get(HEADER_NONCE)?,
        signature: get(HEADER_SIGNATURE)?,
    })
}

/// Stores a nonce; a second use within the skew window is a replay.
async fn record_nonce(
    state: &AppState,
    scope: &str,
    nonce: &str,
    now: u64,
) -> Result<(), ApiError> {
    // Kept for twice the skew: a request is accepted up to MAX_CLOCK_SKEW_MS
    // after its timestamp, which itself may be MAX_CLOCK_SKEW_MS ahead.
    let expires = to_i64(now + 2 * MAX_CLOCK_SKEW_MS);
    let scope = scope.to_string();
    let nonce = nonce.to_string();
    let result = state
        .db()
        .write_tx(move |conn| {
            let (scope, nonce) = (scope.clone(), nonce.clone());
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO request_nonces (key_id, nonce, expires_at_ms) VALUES ($1, $2, $3)",
                )
                .bind(scope)
                .bind(nonce)
                .bind(expires)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await;
    match result {
        Err(e) if db::is_unique_violation(&e) => Err(ApiError::ReplayedRequest(
            "this request was already received (nonce reused); sign every request afresh".into(),
        )),
        other => other,
    }
}

/// Deletes nonces older than the replay window.
pub async fn prune_nonces(state: &AppState) -> Result<u64, ApiError> {
    let now = to_i64(now_ms());
    state
        .db()
        .write_tx(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM request_nonces WHERE expires_at_ms < $1")
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
}
