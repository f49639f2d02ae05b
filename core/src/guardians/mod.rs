//! Guardians (P1): the binding lifecycle with both sides' consent (the rider
//! invites, the guardian accepts; the rider revokes, the guardian leaves),
//! the guardian's daily limit, and the alerts the guardian receives
//! (`alert_stream()`, kept for `alerts()`). Get it with
//! `wallet.guardians()`. Server contract: `docs/api.md`, Guardians.

mod store;
mod stream;
pub(crate) mod types;

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

pub use stream::GuardianAlertStream;
pub use types::{
    AlertTransit, BindingRole, BindingStatus, GuardianAlert, GuardianBinding, GuardianBindings,
    GuardianInvitation, GuardianScope, RiderName, RiderNameKind,
};

use crate::error::WalletError;
use crate::http::check_server_id;
use crate::wallet::WalletInner;
use store::AlertStore;
use types::WireAlert;

/// Most alerts `sync_alerts` fetches at once.
const SYNC_LIMIT: u32 = 500;

/// Guardian bindings and alerts, for both the rider and the guardian side.
#[derive(uniffi::Object)]
pub struct GuardiansApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for GuardiansApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardiansApi")
    }
}

/// Ids go into URL paths: only the server's id characters.
fn check_binding_id(id: &str) -> Result<(), WalletError> {
    check_server_id("binding_id", "binding", "bnd", id)
}

impl GuardiansApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }

    async fn act(&self, binding_id: &str, action: &str) -> Result<GuardianBinding, WalletError> {
        check_binding_id(binding_id)?;
        self.inner
            .device_send(
                Method::POST,
                &format!("/v1/guardians/bindings/{binding_id}/{action}"),
            )
            .await
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl GuardiansApi {
    /// Rider: creates an invitation for a guardian, choosing what the
    /// guardian receives (`scope`) and how the rider is named in alerts.
    /// `expires_in_s` defaults to 600 (at most 86400). Show the code, or a
    /// QR code of `qr_payload`; it works once.
    #[uniffi::method(default(expires_in_s = None))]
    pub async fn create_invitation(
        &self,
        scope: GuardianScope,
        shown_as: RiderName,
        expires_in_s: Option<u32>,
    ) -> Result<GuardianInvitation, WalletError> {
        let mut body = json!({ "scope": scope.as_str() });
        match shown_as {
            RiderName::PhoneTail => body["shown_as"] = json!("phone_tail"),
            RiderName::Nickname { nickname } => {
                body["shown_as"] = json!("nickname");
                body["nickname"] = json!(nickname);
            }
        }
        if let Some(s) = expires_in_s {
            body["expires_in_s"] = json!(s);
        }
        self.inner
            .device_call(Method::POST, "/v1/guardians/invitations", Some(&body))
            .await
    }

    /// Guardian: accepts a rider's invitation (the code as shown, in any
    /// case, or the scanned QR payload). Fails with `InvitationInvalid`
    /// (unknown, expired, used or one's own: one answer, so codes cannot be
    /// probed), `AlreadyBound`, or `TooManyAttempts` (try again later).
    pub async fn accept_invitation(&self, code: String) -> Result<GuardianBinding, WalletError> {
        self.inner
            .device_call(
                Method::POST,
                "/v1/guardians/invitations/accept",
                Some(&json!({ "code": code })),
            )
            .await
    }

    /// The caller's bindings as rider and as guardian (active ones, and
    /// ended ones too when `include_ended`).
    pub async fn bindings(&self, include_ended: bool) -> Result<GuardianBindings, WalletError> {
        self.inner
            .device_send(
                Method::GET,
                &format!("/v1/guardians/bindings?include_ended={include_ended}"),
            )
            .await
    }

    /// One binding of the caller (rider or guardian side).
    pub async fn binding(&self, binding_id: String) -> Result<GuardianBinding, WalletError> {
        check_binding_id(&binding_id)?;
        self.inner
            .device_send(Method::GET, &format!("/v1/guardians/bindings/{binding_id}"))
            .await
    }

    /// Rider: ends a binding; no alert is made after this returns.
    pub async fn revoke(&self, binding_id: String) -> Result<GuardianBinding, WalletError> {
        self.act(&binding_id, "revoke").await
    }

    /// Guardian: leaves a binding.
    pub async fn leave(&self, binding_id: String) -> Result<GuardianBinding, WalletError> {
        self.act(&binding_id, "leave").await
    }

    /// Guardian: sets (or with `None` clears) the rider's daily spending
    /// limit, counted over the local day at `utc_offset_minutes` (default
    /// 0, UTC). The rider's payments beyond it fail with
    /// `GuardianLimitReached`.
    #[uniffi::method(default(utc_offset_minutes = None))]
    pub async fn set_daily_limit(
        &self,
        binding_id: String,
        daily_limit_minor: Option<u64>,
        utc_offset_minutes: Option<i32>,
    ) -> Result<GuardianBinding, WalletError> {
        check_binding_id(&binding_id)?;
        let mut body = json!({ "daily_limit_minor": daily_limit_minor });
        if let Some(offset) = utc_offset_minutes {
            body["utc_offset_minutes"] = json!(offset);
        }
        self.inner
            .device_call(
                Method::PUT,
                &format!("/v1/guardians/bindings/{binding_id}/limit"),
                Some(&body),
            )
            .await
    }

    /// The alerts this phone received as guardian, oldest first (the newest
    /// `limit`). Works offline.
    pub fn alerts(&self, limit: u32) -> Result<Vec<GuardianAlert>, WalletError> {
        let state = self.inner.opened()?;
        Ok(AlertStore::new(&state.store)?.alerts(limit as usize)?)
    }

    /// The live alert stream: call `next()` in a loop; it resumes after the
    /// last alert handled, even across restarts.
    pub fn alert_stream(&self) -> Arc<GuardianAlertStream> {
        Arc::new(GuardianAlertStream::new(self.inner.clone()))
    }

    /// One-shot catch-up without a stream (e.g. from a background task):
    /// fetches the alerts the server made since the last one handled and
    /// delivers the new ones exactly like the stream does. Returns them,
    /// oldest first.
    pub async fn sync_alerts(&self) -> Result<Vec<GuardianAlert>, WalletError> {
        let state = self.inner.opened()?;
        let store = AlertStore::new(&state.store)?;
        let after = store.cursor()?.unwrap_or(0);
        #[derive(serde::Deserialize)]
        struct Page {
            alerts: Vec<serde_json::Value>,
        }
        let page: Page = self
            .inner
            .device_send(
                Method::GET,
                &format!("/v1/guardians/alerts?limit={SYNC_LIMIT}"),
            )
            .await?;
        let mut fresh: Vec<(u64, WireAlert)> = Vec::new();
        for value in page.alerts {
            let Some(event_id) = value.get("event_id").and_then(|v| v.as_u64()) else {
                continue;
            };
            if event_id <= after {
                continue;
            }
            match serde_json::from_value::<WireAlert>(value) {
                Ok(wire) => fresh.push((event_id, wire)),
                Err(e) => {
                    tracing::warn!(target: "wayfare_core::guardians", event = event_id, error = %e, "unreadable alert skipped")
                }
            }
        }
        fresh.sort_by_key(|(id, _)| *id);
        let mut delivered = Vec::new();
        for (event_id, wire) in fresh {
            if let Some(alert) = stream::deliver(&self.inner, wire.into_alert(event_id)).await? {
                delivered.push(alert);
            }
            store.advance(event_id).await?;
        }
        Ok(delivered)
    }
}
