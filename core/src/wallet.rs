//! The shared state behind the `Wallet` object ([`object`]) and its
//! sub-objects (`account()`, `terminals()`, `payments()`), and what
//! `open()` reports: every feature module reads it, so it imports none of
//! them.

use std::sync::{Arc, Mutex, RwLock};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use wayfare_protocol::ids::b64_decode;
use wayfare_protocol::keys::{PublicKey, SigningKey};

use crate::config::ValidConfig;
use crate::error::WalletError;
use crate::events::notifier::EventHub;
use crate::http::{ApiClient, KeysResponse, Signer};
use crate::keystore::KeyStore;
use crate::listener::WalletListener;
use crate::payments::types::PaymentOutcome;
use crate::store::identity::{PinnedKeys, StoredIdentity};
use crate::store::Store;

pub(crate) mod object;

/// What `open()` found and did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpenReport {
    /// Payments left pending by an earlier run that the server has now
    /// settled (completed).
    pub settled: Vec<PaymentOutcome>,
    /// Payments still pending (the server could not be reached); they are
    /// retried on the next `open()` or `payments().settle_pending()`.
    pub still_pending: u32,
}

/// The registered device, with its unsealed key, in memory while open.
pub(crate) struct DeviceIdentity {
    pub key: SigningKey,
    pub account_id: String,
    pub device_id: String,
    pub handle: String,
    pub display_name: String,
    pub currency: String,
}

impl DeviceIdentity {
    /// Signs as this device: its key under its id, as every
    /// device-authenticated call does.
    pub(crate) fn signer(&self) -> Signer<'_> {
        Signer {
            key: &self.key,
            key_id: &self.device_id,
        }
    }
}

/// State that exists while the wallet is open.
pub(crate) struct OpenState {
    pub store: Store,
    pub identity: RwLock<Option<Arc<DeviceIdentity>>>,
}

/// Shared by the `Wallet` and its sub-objects.
pub(crate) struct WalletInner {
    pub config: ValidConfig,
    pub key_store: Arc<dyn KeyStore>,
    pub api: ApiClient,
    state: RwLock<Option<Arc<OpenState>>>,
    listener: Mutex<Option<Arc<dyn WalletListener>>>,
    /// The event queue's listener and notifier thread.
    pub events: EventHub,
    /// Serialises open and close.
    pub lifecycle: tokio::sync::Mutex<()>,
    /// Serialises settlement runs and payments (one server call per intent
    /// at a time).
    pub settling: tokio::sync::Mutex<()>,
    /// Serialises express taps and allowance changes.
    pub express: crate::express::types::ExpressLocks,
    /// NFC taps on their way to the running `watch_nearby` lists.
    pub nearby: crate::discovery::nearby::feeds::NearbyHub,
}

impl WalletInner {
    /// The open state, or `NotOpen`.
    pub(crate) fn opened(&self) -> Result<Arc<OpenState>, WalletError> {
        self.state
            .read()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or(WalletError::NotOpen)
    }

    /// The registered device, or `NotRegistered` (`NotOpen` first).
    pub(crate) fn device(&self) -> Result<(Arc<OpenState>, Arc<DeviceIdentity>), WalletError> {
        let state = self.opened()?;
        let identity = state
            .identity
            .read()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or(WalletError::NotRegistered)?;
        Ok((state, identity))
    }

    /// `method path` (with `body`) signed as the registered device, no extra
    /// headers: the answer's body. The call the guardian, merchant and
    /// registration APIs make for every operation.
    pub(crate) async fn device_call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, WalletError> {
        let (_, id) = self.device()?;
        let (_, answer) = self
            .api
            .signed(method, path, body, &id.signer(), &[])
            .await?;
        Ok(answer)
    }

    /// [`WalletInner::device_call`] without a body.
    pub(crate) async fn device_send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, WalletError> {
        self.device_call::<(), T>(method, path, None).await
    }

    /// The current listener (cloned out of the lock, so it can be called
    /// without holding anything).
    pub(crate) fn listener(&self) -> Option<Arc<dyn WalletListener>> {
        self.listener.lock().ok().and_then(|l| l.clone())
    }

    /// The operator key: configured, else pinned, else fetched and pinned.
    pub(crate) async fn operator_key(&self) -> Result<PublicKey, WalletError> {
        if let Some(k) = self.config.operator_key {
            return Ok(k);
        }
        let pinned = self.pinned_keys().await?;
        key_from(pinned.operator_key, "operator_key")
    }

    /// The receipt key: configured, else pinned, else fetched and pinned.
    pub(crate) async fn receipt_key(&self) -> Result<PublicKey, WalletError> {
        if let Some(k) = self.config.receipt_key {
            return Ok(k);
        }
        let pinned = self.pinned_keys().await?;
        key_from(pinned.receipt_key, "receipt_key")
    }

    /// Pinned keys, fetching them from the server on first use.
    pub(crate) async fn pinned_keys(&self) -> Result<PinnedKeys, WalletError> {
        let state = self.opened()?;
        let pinned = state.store.pinned_keys()?;
        if pinned.operator_key.is_some() && pinned.receipt_key.is_some() {
            return Ok(pinned);
        }
        let keys: KeysResponse = self.api.get("/v1/keys").await?;
        for (name, k) in [
            ("operator_key", &keys.operator_key),
            ("receipt_key", &keys.receipt_key),
        ] {
            PublicKey::from_base64(k).map_err(|e| WalletError::Server {
                code: "bad_response".into(),
                reason: format!("the server's {name} is invalid: {e}"),
            })?;
        }
        tracing::info!(target: "wayfare_core::wallet", "pinned the operator and receipt keys (trust on first use)");
        Ok(state
            .store
            .pin_keys(&PinnedKeys {
                operator_key: Some(keys.operator_key),
                receipt_key: Some(keys.receipt_key),
            })
            .await?)
    }

    /// Unseals the stored device seed through the key store (no lock held).
    pub(crate) fn unseal_identity(
        &self,
        stored: &StoredIdentity,
    ) -> Result<DeviceIdentity, WalletError> {
        let sealed = b64_decode(&stored.sealed_seed).map_err(|_| WalletError::Storage {
            reason: "the sealed device key is not base64url".into(),
        })?;
        let seed = self.key_store.unseal(sealed)?;
        let key = SigningKey::from_seed(&seed).map_err(|e| WalletError::KeyStore {
            reason: format!("the unsealed device key is invalid: {e}"),
        })?;
        Ok(DeviceIdentity {
            key,
            account_id: stored.account_id.clone(),
            device_id: stored.device_id.clone(),
            handle: stored.handle.clone(),
            display_name: stored.display_name.clone(),
            currency: stored.currency.clone(),
        })
    }
}

fn key_from(value: Option<String>, name: &str) -> Result<PublicKey, WalletError> {
    let text = value.ok_or_else(|| WalletError::Server {
        code: "missing_key".into(),
        reason: format!("the server did not provide the {name}"),
    })?;
    PublicKey::from_base64(&text).map_err(|e| WalletError::Storage {
        reason: format!("the pinned {name} is invalid: {e}"),
    })
}

pub(crate) fn poisoned() -> WalletError {
    WalletError::Storage {
        reason: "internal state lock poisoned by an earlier panic".into(),
    }
}
