//! Account registration, balance and history (`wallet.account()`).

use std::sync::Arc;

use reqwest::Method;
use wayfare_protocol::ids::{b64_decode, b64_encode, redact};
use wayfare_protocol::keys::SigningKey;

use crate::amount::format_amount;
use crate::clock::now_ms;
use crate::error::WalletError;
use crate::http::{HistoryResponse, RegisterRequest, RegisterResponse, Signer, WalletResponse};
use crate::store::identity::StoredIdentity;
use crate::wallet::{poisoned, DeviceIdentity, WalletInner};

/// The registered account of this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountInfo {
    /// Account id. Do not show or log it in full.
    pub account_id: String,
    /// This device's id.
    pub device_id: String,
    /// Pseudonymous account handle (64 random bits), for people: staff
    /// invitations name it. Terminals never see it; they see the rider's
    /// per-merchant pseudonym, and only in `TerminalSession::identify`.
    pub handle: String,
    /// Display name given at registration.
    pub display_name: String,
    /// Account currency (ISO 4217).
    pub currency: String,
}

/// The wallet balance.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Balance {
    /// Balance in minor units.
    pub balance_minor: i64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted for people, e.g. `€12.50`.
    pub formatted: String,
    /// Loyalty points.
    pub points: i64,
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HistoryKind {
    /// A payment at a terminal (a debit).
    Payment,
    /// Money added to the wallet.
    TopUp,
    /// Money given back.
    Refund,
    /// A kind this app version does not know.
    Other,
}

/// One movement of the wallet, newest first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// Entry id.
    pub entry_id: String,
    /// What it is.
    pub kind: HistoryKind,
    /// Signed amount in minor units (negative = debit).
    pub amount_minor: i64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Formatted signed amount, e.g. `-€2.50`.
    pub formatted_amount: String,
    /// Balance right after this entry.
    pub balance_after_minor: i64,
    /// The payment, for payments and refunds.
    pub payment_id: Option<String>,
    /// The merchant, for payments.
    pub merchant_name: Option<String>,
    /// Description.
    pub description: String,
    /// When (Unix ms).
    pub at_ms: u64,
    /// For a payment: loyalty points spent on it (the amount above is
    /// what the balance paid).
    pub points_spent: i64,
    /// For a payment: what those points paid, in minor units.
    pub points_value_minor: i64,
    /// For a refund: spent points it gave back.
    pub points_returned: i64,
}

fn info_of(id: &DeviceIdentity) -> AccountInfo {
    AccountInfo {
        account_id: id.account_id.clone(),
        device_id: id.device_id.clone(),
        handle: id.handle.clone(),
        display_name: id.display_name.clone(),
        currency: id.currency.clone(),
    }
}

/// Account registration, balance and history. Get it with
/// `wallet.account()`.
#[derive(uniffi::Object)]
pub struct AccountApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for AccountApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountApi")
    }
}

impl AccountApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }

    /// The wallet behind it, for the areas that add methods to it
    /// (`top_ups`).
    pub(crate) fn inner(&self) -> &Arc<WalletInner> {
        &self.inner
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl AccountApi {
    /// Registers this device: creates a device key (sealed by the key
    /// store, never stored in clear), creates the account on the server and
    /// stores the identity. Pins the operator and receipt keys first when
    /// the configuration does not carry them (trust on first use). The phone
    /// number, if given, stays on the server and is never sent to terminals.
    #[uniffi::method(default(phone_number = None))]
    pub async fn register(
        &self,
        display_name: String,
        phone_number: Option<String>,
    ) -> Result<AccountInfo, WalletError> {
        let state = self.inner.opened()?;
        if state.identity.read().map_err(|_| poisoned())?.is_some() {
            return Err(WalletError::AlreadyRegistered);
        }
        let display_name = display_name.trim().to_string();
        if display_name.is_empty() || display_name.chars().count() > 100 {
            return Err(WalletError::invalid(
                "the display name must have 1 to 100 characters",
            ));
        }
        self.inner.operator_key().await?;
        self.inner.receipt_key().await?;

        // The device key is recorded (sealed) before the server hears of
        // it: a retry after a crash or a lost answer reuses it, and the
        // server answers a known device key with the same account.
        let (key, sealed) = match state.store.pending_seed()? {
            Some(sealed_b64) => {
                let sealed = b64_decode(&sealed_b64).map_err(|_| WalletError::Storage {
                    reason: "the pending device key is not base64url".into(),
                })?;
                // Foreign call; no lock is held here.
                let seed = self.inner.key_store.unseal(sealed.clone())?;
                let key = SigningKey::from_seed(&seed).map_err(|e| WalletError::KeyStore {
                    reason: format!("the unsealed device key is invalid: {e}"),
                })?;
                (key, sealed)
            }
            None => {
                let key = SigningKey::generate().map_err(|e| WalletError::KeyStore {
                    reason: format!("cannot create a device key: {e}"),
                })?;
                // Foreign call; no lock is held here.
                let sealed = self.inner.key_store.seal(key.seed().to_vec())?;
                state.store.save_pending_seed(&b64_encode(&sealed)).await?;
                (key, sealed)
            }
        };
        let body = RegisterRequest {
            display_name: &display_name,
            device_key: key.public_key().to_base64(),
            phone_number: phone_number
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty()),
        };
        let (_, answer): (_, RegisterResponse) = self
            .inner
            .api
            .signed(
                Method::POST,
                "/v1/devices",
                Some(&body),
                &Signer {
                    key: &key,
                    key_id: "register",
                },
                &[],
            )
            .await?;
        let stored = StoredIdentity {
            sealed_seed: b64_encode(&sealed),
            account_id: answer.account_id,
            device_id: answer.device_id,
            handle: answer.handle,
            display_name,
            currency: answer.currency,
            registered_at_ms: now_ms(),
        };
        state.store.complete_registration(&stored).await?;
        let identity = Arc::new(DeviceIdentity {
            key,
            account_id: stored.account_id,
            device_id: stored.device_id,
            handle: stored.handle,
            display_name: stored.display_name,
            currency: stored.currency,
        });
        tracing::info!(target: "wayfare_core::account", device = %redact(&identity.device_id), "device registered");
        let info = info_of(&identity);
        *state.identity.write().map_err(|_| poisoned())? = Some(identity);
        Ok(info)
    }

    /// Whether this device has an account (false while the wallet is not
    /// open).
    pub fn is_registered(&self) -> bool {
        self.inner.device().is_ok()
    }

    /// The account, if registered and open.
    pub fn info(&self) -> Option<AccountInfo> {
        self.inner.device().ok().map(|(_, id)| info_of(&id))
    }

    /// The current balance, from the server.
    pub async fn balance(&self) -> Result<Balance, WalletError> {
        let (_, id) = self.inner.device()?;
        let (_, wallet): (_, WalletResponse) = self
            .inner
            .api
            .signed::<(), _>(Method::GET, "/v1/wallet", None, &id.signer(), &[])
            .await?;
        Ok(Balance {
            formatted: format_amount(&wallet.currency, wallet.balance_minor),
            balance_minor: wallet.balance_minor,
            currency: wallet.currency,
            points: wallet.points,
        })
    }

    /// The newest `limit` wallet movements (1 to 500), newest first.
    pub async fn history(&self, limit: u32) -> Result<Vec<HistoryEntry>, WalletError> {
        let (_, id) = self.inner.device()?;
        let limit = limit.clamp(1, 500);
        let (_, answer): (_, HistoryResponse) = self
            .inner
            .api
            .signed::<(), _>(
                Method::GET,
                &format!("/v1/wallet/history?limit={limit}"),
                None,
                &id.signer(),
                &[],
            )
            .await?;
        Ok(answer
            .entries
            .into_iter()
            .map(|e| HistoryEntry {
                kind: match e.kind.as_str() {
                    "payment" => HistoryKind::Payment,
                    "top_up" => HistoryKind::TopUp,
                    "refund" => HistoryKind::Refund,
                    _ => HistoryKind::Other,
                },
                formatted_amount: format_amount(&e.currency, e.amount_minor),
                entry_id: e.entry_id,
                amount_minor: e.amount_minor,
                currency: e.currency,
                balance_after_minor: e.balance_after_minor,
                payment_id: e.payment_id,
                merchant_name: e.merchant_name,
                description: e.description,
                at_ms: e.at_ms,
                points_spent: e.points_spent,
                points_value_minor: e.points_value_minor,
                points_returned: e.points_returned,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{spawn_server, unpinned_config, Keys, PayMode};
    use crate::{HistoryKind, InMemoryKeyStore, Wallet, WalletError};

    #[tokio::test]
    async fn register_pins_keys_signs_requests_and_survives_reopen() {
        let keys = Keys::new();
        let server = spawn_server(&keys, PayMode::Pay).await;
        let dir = tempfile::tempdir().unwrap();
        // No keys in the configuration: trust on first use.
        let config = unpinned_config(dir.path(), &server.url);
        let key_store = InMemoryKeyStore::new();
        let w = Wallet::new(config.clone(), key_store.clone()).unwrap();
        assert_eq!(
            w.account().balance().await.unwrap_err(),
            WalletError::NotOpen
        );
        w.open().await.unwrap();
        assert!(!w.account().is_registered());
        assert_eq!(
            w.account().balance().await.unwrap_err(),
            WalletError::NotRegistered
        );
        assert!(matches!(
            w.account().register(" ".into(), None).await,
            Err(WalletError::InvalidInput { .. })
        ));
        // A first attempt whose answer is lost (server busy)...
        server.state.lock().unwrap().fail_register = true;
        let err = w.account().register("Ann".into(), None).await.unwrap_err();
        assert!(
            matches!(
                err,
                WalletError::Network {
                    retryable: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!w.account().is_registered());
        server.state.lock().unwrap().fail_register = false;
        // ...is retried with the same device key.
        let info = w
            .account()
            .register("Ann".into(), Some("+33 6 12 34 56 78".into()))
            .await
            .unwrap();
        {
            let state = server.state.lock().unwrap();
            assert_eq!(state.register_keys.len(), 2);
            assert_eq!(state.register_keys[0], state.register_keys[1]);
        }
        assert_eq!(info.handle, "rider-new");
        assert_eq!(w.account().info(), Some(info.clone()));
        assert_eq!(
            w.account().register("Ann".into(), None).await,
            Err(WalletError::AlreadyRegistered)
        );
        let balance = w.account().balance().await.unwrap();
        assert_eq!(balance.balance_minor, 1_000);
        assert_eq!(balance.formatted, "€10.00");
        let history = w.account().history(5).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].kind, HistoryKind::Payment);
        assert_eq!(history[0].formatted_amount, "-€2.50");
        assert_eq!(history[1].kind, HistoryKind::TopUp);
        // 2 registrations + balance + history, each verified by the server.
        assert_eq!(server.state.lock().unwrap().verified, 4);
        w.close().await;
        assert!(!w.account().is_registered());

        // Reopen: the sealed key is unsealed and the pinned keys are used.
        let w = Wallet::new(config.clone(), key_store.clone()).unwrap();
        w.open().await.unwrap();
        assert_eq!(w.account().info(), Some(info));
        w.account().balance().await.unwrap();
        assert_eq!(server.state.lock().unwrap().verified, 5);
        w.close().await;

        // Another key store cannot unseal the device key.
        let w = Wallet::new(config, InMemoryKeyStore::new()).unwrap();
        assert!(matches!(w.open().await, Err(WalletError::KeyStore { .. })));
    }
}
