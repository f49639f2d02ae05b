//! The scene of a run: one merchant with its terminals, and riders
//! registered with their own device keys and funded through the sandbox.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::json;
use wayfare_protocol::keys::SigningKey;

use crate::client::Api;

/// A registered rider.
pub struct Rider {
    /// The device key that signs requests and instructions.
    pub key: SigningKey,
    /// Its device id.
    pub device_id: String,
    /// Its account.
    pub account_id: String,
    /// What the sandbox put in (minor units).
    pub funded_minor: u64,
}

/// Everything a run pays with and to.
pub struct Scene {
    /// The merchant paid.
    pub merchant_id: String,
    /// The merchant's account.
    pub merchant_account_id: String,
    /// The merchant's terminals; payment `n` is made at `n mod len`.
    pub terminal_ids: Vec<String>,
    /// The paying riders.
    pub riders: Vec<Rider>,
    /// Currency of the run.
    pub currency: wayfare_protocol::money::Currency,
    /// Amount of every payment (minor units).
    pub amount_minor: u64,
}

impl Scene {
    /// Creates the merchant, its `terminals` and `riders` riders paying
    /// `amount_minor` in `currency`, funding each rider for more payments
    /// than the run can make.
    pub async fn build(
        api: &Api,
        riders: usize,
        terminals: usize,
        currency: &str,
        amount_minor: u64,
    ) -> Result<Self> {
        let currency_code = currency.to_string();
        let currency = wayfare_protocol::money::Currency::parse(currency)?;
        let merchant = api
            .admin(
                Method::POST,
                "/v1/merchants",
                Some(json!({ "name": "Loadgen Café", "currency": currency_code })),
            )
            .await?;
        let merchant_id = field(&merchant, "merchant_id")?;
        let merchant_account_id = field(&merchant, "account_id")?;
        let mut terminal_ids = Vec::with_capacity(terminals);
        for i in 0..terminals {
            let terminal_key = SigningKey::generate()?;
            let terminal = api
                .admin(
                    Method::POST,
                    "/v1/terminals",
                    Some(json!({ "merchant_id": merchant_id, "kind": "pos",
                        "terminal_key": terminal_key.public_key().to_base64(),
                        "label": format!("loadgen {i}") })),
                )
                .await?;
            terminal_ids.push(field(&terminal, "terminal_id")?);
        }

        eprintln!("setting up {riders} riders…");
        // Enough for 100 000 payments per rider at the chosen amount, far
        // beyond any run, within the sandbox's per-top-up limit.
        let funded_minor = (amount_minor * 100_000).min(1_000_000_000);
        let count = riders;
        let mut riders = Vec::with_capacity(count);
        let mut pending = tokio::task::JoinSet::new();
        for i in 0..count {
            let api = api.clone();
            let currency = currency_code.clone();
            pending.spawn(async move { register(&api, i, &currency, funded_minor).await });
            if pending.len() >= 32 {
                if let Some(done) = pending.join_next().await {
                    riders.push(done??);
                }
            }
        }
        while let Some(done) = pending.join_next().await {
            riders.push(done??);
        }
        Ok(Self {
            merchant_id,
            merchant_account_id,
            terminal_ids,
            riders,
            currency,
            amount_minor,
        })
    }
}

impl Scene {
    /// The terminal payment number `order` is made at.
    pub fn terminal_for(&self, order: u64) -> &str {
        let n = self.terminal_ids.len().max(1) as u64;
        self.terminal_ids
            .get(usize::try_from(order % n).unwrap_or(0))
            .map_or("", String::as_str)
    }
}

/// A registered device that is not funded.
pub struct Device {
    /// The device key that signs its requests.
    pub key: SigningKey,
    /// Its device id.
    pub device_id: String,
    /// Its account.
    pub account_id: String,
}

/// Registers a new device (a fresh key) named `name`.
pub async fn register_device(api: &Api, name: &str, currency: &str) -> Result<Device> {
    let key = SigningKey::generate()?;
    let body = json!({ "display_name": name,
        "device_key": key.public_key().to_base64(), "currency": currency })
    .to_string();
    let (status, answer) = api
        .device(&key, "register", "/v1/devices", body.as_bytes(), None)
        .await?;
    if status != StatusCode::CREATED {
        anyhow::bail!("registering {name} answered {status}: {answer}");
    }
    Ok(Device {
        key,
        device_id: field(&answer, "device_id")?,
        account_id: field(&answer, "account_id")?,
    })
}

async fn register(api: &Api, i: usize, currency: &str, funded_minor: u64) -> Result<Rider> {
    let device = register_device(api, &format!("Rider {i}"), currency).await?;
    let rider = Rider {
        key: device.key,
        device_id: device.device_id,
        account_id: device.account_id,
        funded_minor,
    };
    api.admin(
        Method::POST,
        "/v1/sandbox/top-ups",
        Some(
            json!({ "account_id": rider.account_id, "amount_minor": funded_minor,
            "currency": currency }),
        ),
    )
    .await?;
    Ok(rider)
}

/// A string field of an answer.
pub fn field(value: &serde_json::Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the answer has no {name}: {value}"))
}
