//! A small client for the control center's operator (admin) endpoints: what
//! an operator console does to set up merchants, fund sandbox wallets and
//! check the ledger.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

/// Operator client bound to one control center and admin token.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

/// A merchant as created by the operator.
#[derive(Clone, Debug, Deserialize)]
pub struct Merchant {
    /// Merchant id.
    pub merchant_id: String,
    /// The merchant's ledger account.
    pub account_id: String,
    /// Display name.
    pub name: String,
}

/// An account's balance as the operator sees it.
#[derive(Clone, Debug, Deserialize)]
pub struct AccountView {
    /// Balance in minor units.
    pub balance_minor: i64,
    /// Currency code.
    pub currency: String,
}

impl AdminClient {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, token: &str) -> Result<Self> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base_url, path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = resp.status();
        let value: Value = resp
            .json()
            .await
            .with_context(|| format!("reading {path}"))?;
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            bail!("{path} answered {status}: {message}");
        }
        Ok(value)
    }

    /// Creates a merchant with its ledger account.
    pub async fn create_merchant(&self, name: &str, currency: &str) -> Result<Merchant> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/merchants",
                Some(json!({"name": name, "currency": currency})),
            )
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    /// Funds an account from the sandbox funding source (test money).
    pub async fn sandbox_top_up(
        &self,
        account_id: &str,
        amount_minor: u64,
        currency: &str,
    ) -> Result<i64> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/sandbox/top-ups",
                Some(json!({"account_id": account_id, "amount_minor": amount_minor, "currency": currency})),
            )
            .await?;
        v["balance_minor"]
            .as_i64()
            .context("top-up answer without balance_minor")
    }

    /// Reads an account's balance.
    pub async fn account(&self, account_id: &str) -> Result<AccountView> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/accounts/{account_id}"),
                None,
            )
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    /// Sum of all ledger entries: zero when money is conserved.
    pub async fn ledger_sum(&self) -> Result<i64> {
        let v = self
            .call(reqwest::Method::GET, "/v1/ledger/check", None)
            .await?;
        v["sum_minor"]
            .as_i64()
            .context("ledger check without sum_minor")
    }

    /// Revokes a device's express allowances (`reason`: `lost` — taps after
    /// now are not charged to the rider — or `revoked`); answers how many.
    pub async fn revoke_express(&self, device_id: &str, reason: &str) -> Result<u64> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/admin/express/revocations",
                Some(json!({"device_id": device_id, "reason": reason})),
            )
            .await?;
        v["revoked"]
            .as_u64()
            .context("revocation answer without revoked")
    }

    /// Every account owing express debt.
    pub async fn express_debts(&self) -> Result<Vec<Value>> {
        let v = self
            .call(reqwest::Method::GET, "/v1/admin/express/debts", None)
            .await?;
        Ok(v["debts"].as_array().cloned().unwrap_or_default())
    }

    /// Reports a terminal has uploaded, oldest first.
    pub async fn terminal_reports(&self, terminal_id: &str) -> Result<Vec<Value>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/terminals/{terminal_id}/reports"),
                None,
            )
            .await?;
        Ok(v["reports"].as_array().cloned().unwrap_or_default())
    }
}
