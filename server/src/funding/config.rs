//! How the operator configures funding providers: the `[funding]` section
//! of the server's TOML file (`wayfare-server --config`), resolved at start
//! into [`Providers`] (secrets read, URLs and currencies checked), so a
//! mistake stops the server instead of failing the first rider.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::hmac;
use serde::Deserialize;
use wayfare_protocol::money::Currency;

pub use super::config_error::FundingConfigError;

/// Shortest callback secret accepted, in bytes.
const MIN_SECRET_BYTES: usize = 16;
/// How long a checkout may be paid by default (1 h).
const DEFAULT_INTENT_TTL_S: u64 = 3600;

/// What kind of provider it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// SANDBOX money from the operator's sandbox funding account, confirmed
    /// at creation: for tests and demos, never for real riders.
    Sandbox,
    /// A card or bank checkout: the rider pays on the provider's page, the
    /// provider confirms with a signed callback.
    Checkout,
}

/// One provider as the operator writes it (`[[funding.providers]]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Stable id in URLs and references (`[a-z0-9_-]`, 1 to 32).
    pub id: String,
    /// Sandbox or checkout.
    pub kind: ProviderKind,
    /// Shown in wallet history ("Top-up via …"); the id when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The callback secret itself (prefer `secret_file` or `secret_env`).
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the callback secret (surrounding whitespace ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the callback secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The checkout page; `{reference}`, `{amount_minor}` and `{currency}`
    /// are replaced. Checkout providers only.
    #[serde(default)]
    pub checkout_url: Option<String>,
    /// ISO 4217 codes this provider takes.
    pub currencies: Vec<String>,
    /// How long a started top-up may be paid, in seconds (default 3600).
    #[serde(default)]
    pub intent_ttl_s: Option<u64>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("checkout_url", &self.checkout_url)
            .field("currencies", &self.currencies)
            .finish_non_exhaustive()
    }
}

/// The funding providers riders may top up through. Empty by default: a
/// server offers no over-the-air top-up until the operator configures one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundingConfig {
    /// The providers, by `id`.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

impl FundingConfig {
    /// The `[funding]` section of a server TOML file's text
    /// ([`crate::ConfigFile`]).
    pub fn from_toml(text: &str) -> Result<Self, FundingConfigError> {
        toml::from_str::<crate::ConfigFile>(text)
            .map(|f| f.funding)
            .map_err(|e| FundingConfigError::Parse(e.to_string()))
    }

    /// The `[funding]` section of the server TOML file at `path`.
    pub fn load(path: &Path) -> Result<Self, FundingConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| FundingConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Adds the SANDBOX provider `sandbox` for `currencies` (demos, tests).
    pub fn with_sandbox(mut self, currencies: &[&str]) -> Self {
        self.providers.push(ProviderConfig {
            id: "sandbox".into(),
            kind: ProviderKind::Sandbox,
            display_name: Some("Sandbox".into()),
            secret: None,
            secret_file: None,
            secret_env: None,
            checkout_url: None,
            currencies: currencies.iter().map(|c| c.to_string()).collect(),
            intent_ttl_s: None,
        });
        self
    }

    /// Adds a checkout provider with an inline secret (tests, demos).
    pub fn with_checkout(
        mut self,
        id: &str,
        secret: &str,
        checkout_url: &str,
        currencies: &[&str],
    ) -> Self {
        self.providers.push(ProviderConfig {
            id: id.into(),
            kind: ProviderKind::Checkout,
            display_name: None,
            secret: Some(secret.into()),
            secret_file: None,
            secret_env: None,
            checkout_url: Some(checkout_url.into()),
            currencies: currencies.iter().map(|c| c.to_string()).collect(),
            intent_ttl_s: None,
        });
        self
    }

    /// Checks every provider and reads its secret.
    pub(crate) fn resolve(&self) -> Result<Providers, FundingConfigError> {
        let mut by_id = BTreeMap::new();
        for config in &self.providers {
            let provider = resolve_one(config)?;
            if by_id.insert(provider.id.clone(), provider).is_some() {
                return Err(bad(&config.id, "the id is used twice"));
            }
        }
        Ok(Providers {
            by_id: Arc::new(by_id),
        })
    }
}

fn bad(id: &str, reason: impl Into<String>) -> FundingConfigError {
    FundingConfigError::Provider {
        id: id.to_string(),
        reason: reason.into(),
    }
}

fn resolve_one(config: &ProviderConfig) -> Result<Provider, FundingConfigError> {
    let id = config.id.as_str();
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(bad(id, "the id must be 1 to 32 of a-z, 0-9, - and _"));
    }
    if config.currencies.is_empty() {
        return Err(bad(id, "list at least one currency"));
    }
    let currencies = config
        .currencies
        .iter()
        .map(|c| Currency::parse(c).map_err(|e| bad(id, format!("currency {c:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let secret = read_secret(config)?;
    let (key, checkout_url) = match config.kind {
        ProviderKind::Sandbox => {
            if secret.is_some() || config.checkout_url.is_some() {
                return Err(bad(
                    id,
                    "a sandbox provider takes no secret and no checkout_url",
                ));
            }
            (None, None)
        }
        ProviderKind::Checkout => {
            let secret = secret.ok_or_else(|| {
                bad(
                    id,
                    "a checkout provider needs secret, secret_file or secret_env",
                )
            })?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(bad(
                    id,
                    format!("the secret must be at least {MIN_SECRET_BYTES} bytes"),
                ));
            }
            let url = config
                .checkout_url
                .clone()
                .ok_or_else(|| bad(id, "a checkout provider needs checkout_url"))?;
            check_url_template(id, &url)?;
            (
                Some(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())),
                Some(url),
            )
        }
    };
    let ttl_s = config.intent_ttl_s.unwrap_or(DEFAULT_INTENT_TTL_S);
    if !(60..=7 * 86_400).contains(&ttl_s) {
        return Err(bad(id, "intent_ttl_s must be between 60 and 604800"));
    }
    Ok(Provider {
        id: id.to_string(),
        kind: config.kind,
        display_name: config
            .display_name
            .clone()
            .unwrap_or_else(|| id.to_string()),
        key,
        checkout_url,
        currencies,
        intent_ttl_ms: i64::try_from(ttl_s * 1000).unwrap_or(i64::MAX),
    })
}

/// The secret from exactly one of `secret`, `secret_file`, `secret_env`.
fn read_secret(config: &ProviderConfig) -> Result<Option<String>, FundingConfigError> {
    let id = config.id.as_str();
    let given = [
        config.secret.is_some(),
        config.secret_file.is_some(),
        config.secret_env.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(bad(id, "give only one of secret, secret_file, secret_env"));
    }
    if let Some(secret) = &config.secret {
        return Ok(Some(secret.clone()));
    }
    if let Some(path) = &config.secret_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(id, format!("secret_file {}: {e}", path.display())))?;
        return Ok(Some(text.trim().to_string()));
    }
    if let Some(name) = &config.secret_env {
        let value = std::env::var(name)
            .map_err(|_| bad(id, format!("the environment variable {name} is not set")))?;
        return Ok(Some(value.trim().to_string()));
    }
    Ok(None)
}

fn check_url_template(id: &str, template: &str) -> Result<(), FundingConfigError> {
    if !template.contains("{reference}") {
        return Err(bad(id, "checkout_url must contain {reference}"));
    }
    let sample = fill(template, "fi_0", 1, "CNY");
    let url = reqwest::Url::parse(&sample).map_err(|e| bad(id, format!("checkout_url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(id, "checkout_url must be http(s)"));
    }
    Ok(())
}

/// The checkout URL of a top-up. The values are ids, digits and currency
/// letters: nothing to escape.
fn fill(template: &str, reference: &str, amount_minor: u64, currency: &str) -> String {
    template
        .replace("{reference}", reference)
        .replace("{amount_minor}", &amount_minor.to_string())
        .replace("{currency}", currency)
}

/// One configured provider, ready to use.
pub(crate) struct Provider {
    /// Its id.
    pub id: String,
    /// Sandbox or checkout.
    pub kind: ProviderKind,
    /// Shown in wallet history.
    pub display_name: String,
    /// Verifies callbacks; `None` for the sandbox (no callbacks).
    pub key: Option<hmac::Key>,
    /// The checkout URL template.
    checkout_url: Option<String>,
    /// Currencies it takes.
    pub currencies: Vec<Currency>,
    /// How long a started top-up may be paid.
    pub intent_ttl_ms: i64,
}

impl Provider {
    /// The checkout link of a top-up (checkout providers only).
    pub fn checkout_url(
        &self,
        reference: &str,
        amount_minor: u64,
        currency: &str,
    ) -> Option<String> {
        self.checkout_url
            .as_deref()
            .map(|t| fill(t, reference, amount_minor, currency))
    }
}

/// Every configured provider; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Providers {
    by_id: Arc<BTreeMap<String, Provider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys stay out of the output.
        f.debug_list().entries(self.by_id.keys()).finish()
    }
}

impl Providers {
    /// The provider with this id.
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.by_id.get(id)
    }

    /// All providers, by id.
    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_parses_and_mistakes_name_the_provider() {
        let text = r#"
            [[funding.providers]]
            id = "sandbox"
            kind = "sandbox"
            currencies = ["CNY"]

            [[funding.providers]]
            id = "card"
            kind = "checkout"
            secret = "0123456789abcdef0123"
            checkout_url = "https://pay.example/c/{reference}?amount={amount_minor}&currency={currency}"
            currencies = ["CNY", "EUR"]
        "#;
        let providers = FundingConfig::from_toml(text).unwrap().resolve().unwrap();
        let card = providers.get("card").unwrap();
        assert_eq!(
            card.checkout_url("fi_1", 500, "CNY").unwrap(),
            "https://pay.example/c/fi_1?amount=500&currency=CNY"
        );
        assert!(providers.get("sandbox").unwrap().key.is_none());
        assert_eq!(providers.all().count(), 2);

        let short = text.replace("0123456789abcdef0123", "short");
        let err = FundingConfig::from_toml(&short)
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("\"card\""), "{err}");
        assert!(FundingConfig::from_toml("[funding]\nproviderz = 1").is_err());
        let no_ref = text.replace("{reference}", "x");
        assert!(FundingConfig::from_toml(&no_ref)
            .unwrap()
            .resolve()
            .is_err());
        let twice = FundingConfig::default()
            .with_sandbox(&["CNY"])
            .with_sandbox(&["EUR"]);
        assert!(twice.resolve().is_err());
        // The shipped example parses (its secret file is not read here).
        let example = include_str!("../../wayfare-server.example.toml");
        let example = FundingConfig::from_toml(example).unwrap();
        assert_eq!(example.providers.len(), 2);
        // The secret never appears in debug output.
        let config = FundingConfig::from_toml(text).unwrap();
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }
}
