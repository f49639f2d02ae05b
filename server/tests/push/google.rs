//! A loopback stand-in for Google: the OAuth 2.0 token endpoint and the FCM
//! HTTP v1 send endpoint. The token endpoint checks the JWT bearer grant as
//! Google does (grant type, RS256 signature against the service account's
//! public key, iss, scope, aud, a lifetime of at most an hour) and issues
//! numbered access tokens; the send endpoint takes only an issued, unrevoked
//! access token and checks the exact body shape. Both record what they got;
//! anything they refuse is recorded in `problems`, which tests expect
//! empty. Answers can be scripted per send (401, 404 UNREGISTERED, 503...).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use ring::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_2048_8192_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};

use super::sorted_keys;
use crate::common::now_ms;

/// The test service account (tests/fixtures/push: a test-only key).
pub const KEY_PEM: &str = include_str!("../fixtures/push/test-only-service-account-key.pem");
pub const CLIENT_EMAIL: &str = "wayfare-push@wayfare-test.iam.gserviceaccount.com";
pub const PROJECT_ID: &str = "wayfare-test";
pub const KEY_ID: &str = "test-key-1";
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// One FCM send as received.
#[derive(Clone, Debug)]
pub struct Send {
    pub access_token: String,
    pub body: Value,
    pub status: u16,
    pub at_ms: u64,
}

/// A scripted answer to one send.
#[derive(Clone, Debug)]
pub enum Script {
    /// 401 UNAUTHENTICATED, and the access token used is revoked.
    RevokeToken,
    /// 404 NOT_FOUND with errorCode UNREGISTERED.
    Unregistered,
    /// 503 UNAVAILABLE with `Retry-After: <seconds>`.
    Unavailable(u64),
}

#[derive(Default)]
pub struct Recorded {
    pub tokens_issued: Vec<String>,
    pub revoked: Vec<String>,
    pub sends: Vec<Send>,
    pub problems: Vec<String>,
    pub script: VecDeque<Script>,
}

#[derive(Clone)]
pub struct Google {
    pub base: String,
    pub recorded: Arc<Mutex<Recorded>>,
    public_key: Arc<Vec<u8>>,
}

impl Google {
    pub async fn start() -> Self {
        let der = PrivatePkcs8KeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap();
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let google = Google {
            base: format!("http://{}", listener.local_addr().unwrap()),
            recorded: Arc::default(),
            public_key: Arc::new(key.public_key().as_ref().to_vec()),
        };
        let app = Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{*tail}", post(send))
            .with_state(google.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        google
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base)
    }

    /// The service-account JSON key file the Firebase console gives.
    pub fn service_account_json(&self) -> String {
        let pem_start = KEY_PEM.find("-----BEGIN").unwrap();
        json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": KEY_ID,
            "private_key": &KEY_PEM[pem_start..],
            "client_email": CLIENT_EMAIL,
            "client_id": "1",
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Script>) {
        self.recorded.lock().unwrap().script.extend(answers);
    }

    pub fn sends(&self) -> Vec<Send> {
        self.recorded.lock().unwrap().sends.clone()
    }

    pub fn tokens_issued(&self) -> Vec<String> {
        self.recorded.lock().unwrap().tokens_issued.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.recorded.lock().unwrap().problems.clone()
    }

    /// Checks an RS256 JWT bearer assertion; returns what is wrong.
    fn check_assertion(&self, assertion: &str) -> Result<(), String> {
        let key = self.public_key.as_slice();
        let (header, claims) =
            super::verify_jwt(assertion, &RSA_PKCS1_2048_8192_SHA256, key, "RS256")?;
        if header != json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID}) {
            return Err(format!("header {header}"));
        }
        let now = now_ms() / 1000;
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap_or(0),
            claims["exp"].as_u64().unwrap_or(0),
        );
        let fields_ok = claims["iss"] == CLIENT_EMAIL
            && claims["scope"] == SCOPE
            && claims["aud"] == self.token_uri().as_str()
            && iat.abs_diff(now) <= 60
            && exp > iat
            && exp - iat <= 3600;
        if !fields_ok || claims.as_object().map(|o| o.len()) != Some(5) {
            return Err(format!("claims {claims}"));
        }
        Ok(())
    }
}

fn problem(google: &Google, what: String) -> Response {
    google.recorded.lock().unwrap().problems.push(what.clone());
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_grant", "error_description": what })),
    )
        .into_response()
}

/// `POST /token`: the JWT bearer grant.
async fn token(State(google): State<Google>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    if content_type != Some("application/x-www-form-urlencoded") {
        return problem(&google, format!("token content-type {content_type:?}"));
    }
    let text = String::from_utf8_lossy(&body).to_string();
    let form: Vec<(&str, &str)> = text.split('&').filter_map(|p| p.split_once('=')).collect();
    if form.len() != 2
        || form[0]
            != (
                "grant_type",
                "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
            )
    {
        return problem(&google, format!("grant {text}"));
    }
    let assertion = match form[1] {
        ("assertion", a) => a,
        _ => return problem(&google, format!("no assertion in {text}")),
    };
    if let Err(e) = google.check_assertion(assertion) {
        return problem(&google, format!("assertion: {e}"));
    }
    let mut recorded = google.recorded.lock().unwrap();
    let access = format!("ya29.test-{}", recorded.tokens_issued.len() + 1);
    recorded.tokens_issued.push(access.clone());
    Json(json!({ "access_token": access, "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

/// Checks the exact shape of a send's body; returns what is wrong.
fn check_message(body: &Value) -> Result<(), String> {
    let m = &body["message"];
    let shape_ok = sorted_keys(body) == ["message"]
        && sorted_keys(m) == ["android", "data", "token"]
        && sorted_keys(&m["data"]) == ["body", "id", "kind", "title"]
        && sorted_keys(&m["android"]) == ["collapse_key", "priority", "ttl"]
        && m["android"]["priority"] == "HIGH"
        && m["android"]["collapse_key"] == m["data"]["id"]
        && m["android"]["ttl"]
            .as_str()
            .is_some_and(|t| t.ends_with('s'))
        && m["token"].as_str().is_some_and(|t| !t.is_empty());
    if shape_ok {
        Ok(())
    } else {
        Err(format!("message shape {body}"))
    }
}

/// `POST /v1/projects/{project}/messages:send`.
async fn send(
    State(google): State<Google>,
    Path(tail): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut recorded = google.recorded.lock().unwrap();
    if tail != format!("{PROJECT_ID}/messages:send") {
        recorded.problems.push(format!("path /v1/projects/{tail}"));
        return StatusCode::NOT_FOUND.into_response();
    }
    let bearer = super::credential(&headers, "Bearer");
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Err(e) = check_message(&body) {
        recorded.problems.push(e);
    }
    let authorized =
        recorded.tokens_issued.contains(&bearer) && !recorded.revoked.contains(&bearer);
    let answer = if !authorized {
        Some(Script::RevokeToken)
    } else {
        recorded.script.pop_front()
    };
    let (status, response) = match answer {
        None => (200, Json(json!({ "name": format!("projects/{PROJECT_ID}/messages/{}", recorded.sends.len() + 1) })).into_response()),
        Some(Script::RevokeToken) => {
            recorded.revoked.push(bearer.clone());
            (401, (StatusCode::UNAUTHORIZED, Json(json!({ "error": { "code": 401,
                "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED" } }))).into_response())
        }
        Some(Script::Unregistered) => (404, (StatusCode::NOT_FOUND, Json(json!({ "error": { "code": 404,
            "message": "Requested entity was not found.", "status": "NOT_FOUND", "details": [
            { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED" }] } }))).into_response()),
        Some(Script::Unavailable(seconds)) => (503, (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", seconds.to_string())],
            Json(json!({ "error": { "code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE" } }))).into_response()),
    };
    recorded.sends.push(Send {
        access_token: bearer,
        body,
        status,
        at_ms: now_ms(),
    });
    response
}
