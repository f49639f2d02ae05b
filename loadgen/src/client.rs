//! HTTP to the control center: admin calls with the bearer token, device
//! calls signed with the rider's key (as the core signs them).

use anyhow::{bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::request_auth::sign_request;

/// The control center.
#[derive(Clone)]
pub struct Api {
    base: String,
    admin_token: String,
    http: reqwest::Client,
}

impl Api {
    /// A client with a connection pool large enough for the load.
    pub fn new(base: &str, admin_token: String) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(8192)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            admin_token,
            http,
        })
    }

    /// An admin call; fails with the server's error unless 2xx.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {body}");
        }
        Ok(body)
    }

    /// An admin call answered with text (`GET /metrics`).
    pub async fn admin_text(&self, method: Method, path: &str) -> Result<String> {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(text)
    }

    /// A device-signed call; returns the status and the JSON answer.
    pub async fn device(
        &self,
        key: &SigningKey,
        key_id: &str,
        path: &str,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, Value)> {
        let signature = sign_request(key, key_id, "POST", path, body, now_ms())?;
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// Unix time in ms (request signatures, instruction times).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
