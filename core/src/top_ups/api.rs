//! `wallet.account().top_up(...)` and its companions: start an over-the-air
//! top-up, follow it, list the providers, and the stream that hears the
//! outcome. Server contract: `docs/api.md`, Over-the-air top-up.

use std::sync::Arc;

use reqwest::Method;
use wayfare_protocol::ids::{new_id, redact};

use super::stream::{deliver, TopUpStream};
use super::types::{ProvidersResponse, StartBody, TopUp, TopUpProvider, TopUpStarted, WireIntent};
use crate::account::AccountApi;
use crate::error::WalletError;
use crate::http::HttpError;

/// Maps the server's refusals of a top-up to what the app can act on.
fn top_up_error(provider: &str, e: HttpError) -> WalletError {
    match &e {
        HttpError::Api { code, reason, .. }
            if matches!(
                code.as_str(),
                "not_found" | "unsupported_currency" | "currency_mismatch"
            ) =>
        {
            WalletError::TopUpUnavailable {
                provider: provider.to_string(),
                reason: reason.clone(),
            }
        }
        HttpError::Api { code, reason, .. } if code == "invalid_amount" => {
            WalletError::InvalidInput {
                reason: reason.clone(),
            }
        }
        _ => e.into(),
    }
}

/// A reference must be a plain id before it goes into a URL path.
fn check_reference(reference: &str) -> Result<(), WalletError> {
    let plain = !reference.is_empty()
        && reference.len() <= 128
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        Ok(())
    } else {
        Err(WalletError::invalid(
            "a top-up reference is 1 to 128 letters, digits, _ and -",
        ))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl AccountApi {
    /// Starts an over-the-air top-up of `amount_minor` (the wallet's
    /// currency) through `provider` (an id from `top_up_providers()`, e.g.
    /// `card`). A checkout provider answers `Pending` with the
    /// `checkout_url` to open: the money arrives when the provider confirms,
    /// and the app hears it through `top_up_stream()` and a `TopUpCompleted`
    /// (or `TopUpFailed`) wallet event. The sandbox provider (test money)
    /// answers `Confirmed` at once. `TopUpUnavailable` when the provider is
    /// not offered or does not take the wallet's currency.
    pub async fn top_up(
        &self,
        provider: String,
        amount_minor: u64,
    ) -> Result<TopUpStarted, WalletError> {
        let inner = self.inner();
        let (_, id) = inner.device()?;
        if amount_minor == 0 {
            return Err(WalletError::invalid(
                "the amount must be at least 1 minor unit",
            ));
        }
        let provider = provider.trim().to_string();
        if provider.is_empty() || provider.len() > 32 {
            return Err(WalletError::invalid(
                "name a provider from top_up_providers()",
            ));
        }
        // One key per call: a lost answer leaves at most a pending intent
        // that moves no money until someone pays it.
        let key = new_id("tu").map_err(|e| WalletError::Storage {
            reason: format!("random generator: {e}"),
        })?;
        let body = StartBody {
            provider: &provider,
            amount_minor,
            currency: &id.currency,
            idempotency_key: &key,
        };
        let (_, intent): (_, WireIntent) = inner
            .api
            .signed(Method::POST, "/v1/top-ups", Some(&body), &id.signer(), &[])
            .await
            .map_err(|e| top_up_error(&provider, e))?;
        tracing::info!(target: "wayfare_core::top_ups", reference = %redact(&intent.top_up.reference), provider = %provider, "top-up started");
        let started = intent.started();
        if started.status == super::TopUpStatus::Confirmed {
            let finished = TopUp {
                reference: started.reference.clone(),
                provider: started.provider.clone(),
                status: started.status,
                amount_minor: started.amount_minor,
                currency: started.currency.clone(),
                formatted_amount: started.formatted_amount.clone(),
                top_up_id: None,
                failure_reason: None,
                updated_at_ms: crate::clock::now_ms(),
            };
            deliver(inner, &finished).await?;
        }
        Ok(started)
    }

    /// The top-up `reference` as it is now, from the server. A finished one
    /// is also queued as a wallet event (once), so an app that polls
    /// instead of streaming misses nothing.
    pub async fn top_up_status(&self, reference: String) -> Result<TopUp, WalletError> {
        check_reference(&reference)?;
        let inner = self.inner();
        let (_, id) = inner.device()?;
        let (_, intent): (_, WireIntent) = inner
            .api
            .signed::<(), _>(
                Method::GET,
                &format!("/v1/top-ups/{reference}"),
                None,
                &id.signer(),
                &[],
            )
            .await
            .map_err(|e| match e {
                HttpError::Api { code, .. } if code == "not_found" => {
                    WalletError::invalid("this wallet has no top-up with this reference")
                }
                e => e.into(),
            })?;
        let top_up = intent.top_up();
        deliver(inner, &top_up).await?;
        Ok(top_up)
    }

    /// The funding providers the server offers (empty when over-the-air
    /// top-up is not set up there).
    pub async fn top_up_providers(&self) -> Result<Vec<TopUpProvider>, WalletError> {
        let inner = self.inner();
        let (_, id) = inner.device()?;
        let (_, answer): (_, ProvidersResponse) = inner
            .api
            .signed::<(), _>(
                Method::GET,
                "/v1/top-ups/providers",
                None,
                &id.signer(),
                &[],
            )
            .await?;
        Ok(answer.providers)
    }

    /// The live outcomes of this wallet's top-ups: call `next()` in a loop
    /// while one is pending; it resumes after the last outcome handled,
    /// even across restarts.
    pub fn top_up_stream(&self) -> Arc<TopUpStream> {
        Arc::new(TopUpStream::new(self.inner().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_actionable_errors_and_references_are_plain() {
        let api = |code: &str| HttpError::Api {
            status: 404,
            code: code.into(),
            reason: "r".into(),
        };
        assert!(matches!(
            top_up_error("card", api("not_found")),
            WalletError::TopUpUnavailable { provider, .. } if provider == "card"
        ));
        assert!(matches!(
            top_up_error("card", api("currency_mismatch")),
            WalletError::TopUpUnavailable { .. }
        ));
        assert!(matches!(
            top_up_error("card", api("invalid_amount")),
            WalletError::InvalidInput { .. }
        ));
        assert!(matches!(
            top_up_error("card", api("forbidden")),
            WalletError::NotPermitted { .. }
        ));
        assert!(check_reference("fi_0123abc").is_ok());
        for bad in ["", "../keys", "fi_1?x=1", &"a".repeat(129)] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }
}
