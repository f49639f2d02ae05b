//! The `Wallet` object: configuration, lifecycle and the sub-objects
//! (`account()`, `terminals()`, `payments()`, …). It sits above every
//! feature module, which all read the shared state in [`super`].

use std::sync::{Arc, Mutex, RwLock};

use wayfare_protocol::ids::redact;

use super::{poisoned, OpenReport, OpenState, WalletInner};
use crate::account::AccountApi;
use crate::config::WalletConfig;
use crate::discovery::TerminalsApi;
use crate::error::WalletError;
use crate::events::{EventHub, EventsApi};
use crate::http::ApiClient;
use crate::keystore::KeyStore;
use crate::listener::WalletListener;
use crate::payments::{self, PaymentsApi};
use crate::store::Store;

/// A Wayfare wallet on this device. Create it with the constructor, then
/// call `open()` before anything else; call `close()` when done (it also
/// drops the listener, breaking any reference cycle through it).
///
/// All async methods run on the core's tokio runtime when called from
/// Kotlin/Swift/Python, and on the caller's runtime when called from Rust.
#[derive(uniffi::Object)]
pub struct Wallet {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wallet")
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Creates a wallet from its configuration and the platform key store.
    /// Does no I/O; call `open()` next.
    #[uniffi::constructor]
    pub fn new(
        config: WalletConfig,
        key_store: Arc<dyn KeyStore>,
    ) -> Result<Arc<Self>, WalletError> {
        let config = config.validate()?;
        let api = ApiClient::new(&config.server_url)?;
        Ok(Arc::new(Self {
            inner: Arc::new(WalletInner {
                config,
                key_store,
                api,
                state: RwLock::new(None),
                listener: Mutex::new(None),
                events: EventHub::default(),
                lifecycle: tokio::sync::Mutex::new(()),
                settling: tokio::sync::Mutex::new(()),
                express: crate::express::ExpressLocks::default(),
                nearby: crate::discovery::nearby::feeds::NearbyHub::default(),
            }),
        }))
    }

    /// Opens the database, loads the device identity (unsealing its key
    /// through the key store) and settles payments an earlier run left
    /// pending. Calling it again on an open wallet only settles again.
    pub async fn open(&self) -> Result<OpenReport, WalletError> {
        {
            let _guard = self.inner.lifecycle.lock().await;
            if self.inner.opened().is_err() {
                std::fs::create_dir_all(&self.inner.config.data_dir).map_err(|e| {
                    WalletError::Storage {
                        reason: format!("cannot create the data directory: {e}"),
                    }
                })?;
                let store = Store::open(self.inner.config.data_dir.join("wallet.sled")).await?;
                let identity = match store.identity()? {
                    Some(stored) => Some(Arc::new(self.inner.unseal_identity(&stored)?)),
                    None => None,
                };
                if let Some(id) = &identity {
                    tracing::info!(target: "wayfare_core::wallet", device = %redact(&id.device_id), "wallet opened");
                } else {
                    tracing::info!(target: "wayfare_core::wallet", "wallet opened (not registered)");
                }
                *self.inner.state.write().map_err(|_| poisoned())? = Some(Arc::new(OpenState {
                    store,
                    identity: RwLock::new(identity),
                }));
            }
        }
        let report = payments::settle::settle_pending(&self.inner).await;
        crate::events::nudge_if_pending(&self.inner);
        report
    }

    /// Sets the listener that receives payment events (replacing any
    /// previous one). Events are nudges for the UI; the receipts and the
    /// outbox are the source of truth.
    pub fn set_listener(&self, listener: Arc<dyn WalletListener>) {
        if let Ok(mut slot) = self.inner.listener.lock() {
            *slot = Some(listener);
        }
    }

    /// Flushes and closes the database and drops the listener. Sessions
    /// and sub-objects stop working (`NotOpen`) until `open()` is called
    /// again. Pending payments stay in the outbox.
    pub async fn close(&self) {
        let _guard = self.inner.lifecycle.lock().await;
        let state = self.inner.state.write().ok().and_then(|mut s| s.take());
        if let Some(state) = state {
            if let Err(e) = state.store.flush().await {
                tracing::warn!(target: "wayfare_core::wallet", error = %e, "flush on close failed");
            }
        }
        if let Ok(mut slot) = self.inner.listener.lock() {
            slot.take();
        }
        self.inner.events.clear_listener();
    }

    /// Account registration, balance and history.
    pub fn account(&self) -> Arc<AccountApi> {
        Arc::new(AccountApi::new(self.inner.clone()))
    }

    /// Terminal discovery and sessions.
    pub fn terminals(&self) -> Arc<TerminalsApi> {
        Arc::new(TerminalsApi::new(self.inner.clone()))
    }

    /// Pending payments and stored receipts.
    pub fn payments(&self) -> Arc<PaymentsApi> {
        Arc::new(PaymentsApi::new(self.inner.clone()))
    }

    /// The persisted event queue (payment completed/failed, …) that the app
    /// drains and acknowledges; nothing in it is lost across restarts.
    pub fn events(&self) -> Arc<EventsApi> {
        Arc::new(EventsApi::new(self.inner.clone()))
    }

    /// Guardian bindings (rider and guardian side), daily limits and the
    /// alerts this phone receives as a guardian.
    pub fn guardians(&self) -> Arc<crate::guardians::GuardiansApi> {
        Arc::new(crate::guardians::GuardiansApi::new(self.inner.clone()))
    }

    /// Merchant management and on-site payment prompts (owner and staff).
    pub fn merchant(&self) -> Arc<crate::merchant::MerchantApi> {
        Arc::new(crate::merchant::MerchantApi::new(self.inner.clone()))
    }

    /// Express taps: the rider's switch and caps, the offline allowance a
    /// gate can charge in one NFC tap, and the taps made with it.
    pub fn express(&self) -> Arc<crate::express::ExpressApi> {
        Arc::new(crate::express::ExpressApi::new(self.inner.clone()))
    }

    /// The merchant platforms the rider registered with, by consent, at
    /// their terminals (P3.5): list and revoke.
    pub fn registrations(&self) -> Arc<crate::registrations::RegistrationsApi> {
        Arc::new(crate::registrations::RegistrationsApi::new(
            self.inner.clone(),
        ))
    }
}
