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
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(path, req).await
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base_url, path))
            .bearer_auth(&self.token)
    }

    /// A request with `query` percent-encoded into the URL (reqwest is
    /// built without its `query` feature).
    fn request_with_query(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<reqwest::RequestBuilder> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.base_url, path))
            .with_context(|| format!("the server URL {}", self.base_url))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(self.http.request(method, url).bearer_auth(&self.token))
    }

    async fn send(&self, path: &str, req: reqwest::RequestBuilder) -> Result<Value> {
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

    /// Sets what one loyalty point pays at `merchant_id` (minor units; 0:
    /// the merchant takes no points) and the largest share of a payment
    /// points may pay (basis points; none: all of it). Answers the rate as
    /// the server now applies it.
    pub async fn set_points_rate(
        &self,
        merchant_id: &str,
        minor_per_point: u64,
        max_share_bps: Option<u64>,
    ) -> Result<Value> {
        let mut body = json!({ "minor_per_point": minor_per_point });
        if let Some(bps) = max_share_bps {
            body["max_share_bps"] = json!(bps);
        }
        self.call(
            reqwest::Method::PUT,
            &format!("/v1/admin/merchants/{merchant_id}/points-rate"),
            Some(body),
        )
        .await
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

    /// Closes `date` at `utc_offset_minutes` for the billing system: the
    /// export (created, or the existing one when that day was closed).
    pub async fn billing_export(&self, date: &str, utc_offset_minutes: i64) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/v1/billing/exports",
            Some(json!({"date": date, "utc_offset_minutes": utc_offset_minutes})),
        )
        .await
    }

    /// The billing exports (of `date`, else the newest) with their delivery
    /// state, and whether a billing endpoint is configured.
    pub async fn billing_exports(&self, date: Option<&str>) -> Result<Value> {
        let query: Vec<_> = date.map(|d| ("date", d)).into_iter().collect();
        let req = self.request_with_query(reqwest::Method::GET, "/v1/billing/exports", &query)?;
        self.send("/v1/billing/exports", req).await
    }

    /// The newest over-the-air top-ups, only those with `status`
    /// (pending, confirmed, failed) when given.
    pub async fn top_ups(&self, status: Option<&str>) -> Result<Vec<Value>> {
        let query: Vec<_> = status.map(|s| ("status", s)).into_iter().collect();
        let req = self.request_with_query(reqwest::Method::GET, "/v1/admin/top-ups", &query)?;
        let v = self.send("/v1/admin/top-ups", req).await?;
        Ok(v["top_ups"].as_array().cloned().unwrap_or_default())
    }

    /// Uploads the billing system's reconciliation file of a day and
    /// answers the stored result. `file` is CSV (a header row naming
    /// payment_id, amount_minor, currency) or JSON (an array of those
    /// entries, or an object with `entries`).
    pub async fn billing_reconcile(
        &self,
        date: &str,
        utc_offset_minutes: i64,
        merchant_id: Option<&str>,
        file: &str,
    ) -> Result<Value> {
        let path = "/v1/billing/reconciliations";
        let trimmed = file.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let parsed: Value = serde_json::from_str(trimmed).context("the file is not JSON")?;
            let entries = match parsed {
                Value::Array(_) => parsed,
                Value::Object(ref o) if o.contains_key("entries") => parsed["entries"].clone(),
                _ => bail!("a JSON file is an array of entries or an object with \"entries\""),
            };
            let mut body =
                json!({"date": date, "utc_offset_minutes": utc_offset_minutes, "entries": entries});
            if let Some(m) = merchant_id {
                body["merchant_id"] = json!(m);
            }
            return self.call(reqwest::Method::POST, path, Some(body)).await;
        }
        let offset = utc_offset_minutes.to_string();
        let mut query = vec![("date", date), ("utc_offset_minutes", offset.as_str())];
        if let Some(m) = merchant_id {
            query.push(("merchant_id", m));
        }
        let req = self
            .request_with_query(reqwest::Method::POST, path, &query)?
            .header("content-type", "text/csv; charset=utf-8")
            .body(file.to_string());
        self.send(path, req).await
    }

    /// The stored reconciliations (of `date` when given), newest first.
    pub async fn billing_reconciliations(&self, date: Option<&str>) -> Result<Vec<Value>> {
        let query: Vec<_> = date.map(|d| ("date", d)).into_iter().collect();
        let req =
            self.request_with_query(reqwest::Method::GET, "/v1/billing/reconciliations", &query)?;
        let v = self.send("/v1/billing/reconciliations", req).await?;
        Ok(v["reconciliations"].as_array().cloned().unwrap_or_default())
    }

    /// One stored reconciliation with every difference named.
    pub async fn billing_reconciliation(&self, id: &str) -> Result<Value> {
        let path = format!("/v1/billing/reconciliations/{id}");
        self.call(reqwest::Method::GET, &path, None).await
    }
}
