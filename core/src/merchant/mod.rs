//! Merchants (P4) on the phone: `wallet.merchant()`.
//!
//! The owner's device (attached to the merchant by the operator) invites
//! staff devices, lists them, sets their operation and content scopes,
//! revokes them, refunds and forwards payment notices captured from outside
//! platforms. A staff device accepts an invitation, then lists the history
//! or refunds if its scopes allow it. Every member device receives prompts
//! through `prompts()` (see [`stream`]): de-duplicated by order (the
//! earliest wins, also across restarts), rendered in the merchant's locale,
//! and queued in the wallet's persisted event queue.

use std::sync::Arc;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use wayfare_protocol::ids::{hex_lower, new_id, sha256};

use crate::error::WalletError;
use crate::wallet::WalletInner;

mod store;
pub mod stream;
mod types;

pub use stream::PromptStream;
pub use types::{
    ExternalNotice, ForwardOutcome, MerchantMembership, MerchantOperation, MerchantPayment,
    MerchantPrompt, MerchantPromptEvent, MerchantRefund, MerchantRole, PromptAttribute,
    PromptSettings, StaffInvitation,
};
use types::{InvitationJson, MemberJson, RefundJson};

/// The merchant area of a wallet. Get it with `wallet.merchant()`.
#[derive(uniffi::Object)]
pub struct MerchantApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for MerchantApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MerchantApi")
    }
}

impl MerchantApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, WalletError> {
        self.inner.device_call(method, path, body.as_ref()).await
    }
}

/// An id put into a URL path: letters, digits, `_` and `-` only.
fn path_id(field: &str, value: &str) -> Result<String, WalletError> {
    if value.is_empty()
        || value.len() > 128
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(WalletError::invalid(format!("{field} is not a valid id")));
    }
    Ok(value.to_string())
}

fn scopes_json(operations: &[MerchantOperation], content: &[PromptAttribute]) -> (Value, Value) {
    (
        json!(operations.iter().map(|o| o.wire()).collect::<Vec<_>>()),
        json!(content.iter().map(|a| a.wire()).collect::<Vec<_>>()),
    )
}

#[derive(serde::Deserialize)]
struct Memberships {
    memberships: Vec<MemberJson>,
}

#[derive(serde::Deserialize)]
struct Members {
    members: Vec<MemberJson>,
}

#[derive(serde::Deserialize)]
struct Payments {
    payments: Vec<MerchantPayment>,
}

#[derive(serde::Deserialize)]
struct Forwarded {
    notice_id: String,
    prompts: u32,
    duplicate: bool,
}

#[derive(Serialize)]
struct NoticeBody<'a> {
    notice_id: &'a str,
    platform: &'a str,
    order_id: &'a str,
    amount_minor: u64,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payee_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at_ms: Option<i64>,
}

#[uniffi::export(async_runtime = "tokio")]
impl MerchantApi {
    /// The merchants this device manages (as owner or staff).
    pub async fn memberships(&self) -> Result<Vec<MerchantMembership>, WalletError> {
        let answer: Memberships = self.call(Method::GET, "/v1/merchants/mine", None).await?;
        Ok(answer.memberships.into_iter().map(Into::into).collect())
    }

    /// Owner: invites a staff device with these scopes. The invitation is
    /// single use and expires after `expires_in_s` (default 600 s); with
    /// `invitee_handle`, only the device with that handle can accept it.
    #[uniffi::method(default(label = None, invitee_handle = None, expires_in_s = None))]
    pub async fn invite_staff(
        &self,
        merchant_id: String,
        operations: Vec<MerchantOperation>,
        content: Vec<PromptAttribute>,
        label: Option<String>,
        invitee_handle: Option<String>,
        expires_in_s: Option<u32>,
    ) -> Result<StaffInvitation, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let (ops, attrs) = scopes_json(&operations, &content);
        let mut body = json!({ "operations": ops, "content": attrs });
        if let Some(label) = label {
            body["label"] = json!(label);
        }
        if let Some(handle) = invitee_handle {
            body["invitee_handle"] = json!(handle);
        }
        if let Some(s) = expires_in_s {
            body["expires_in_s"] = json!(s);
        }
        let answer: InvitationJson = self
            .call(
                Method::POST,
                &format!("/v1/merchants/{merchant}/invitations"),
                Some(body),
            )
            .await?;
        Ok(answer.into())
    }

    /// Staff: accepts an invitation (the code as shown, or the QR payload);
    /// this device becomes a staff device of the merchant.
    pub async fn accept_invitation(&self, code: String) -> Result<MerchantMembership, WalletError> {
        let answer: MemberJson = self
            .call(
                Method::POST,
                "/v1/merchants/invitations/accept",
                Some(json!({ "code": code })),
            )
            .await?;
        Ok(answer.into())
    }

    /// Owner: every member device of the merchant, active and revoked.
    pub async fn list_staff(
        &self,
        merchant_id: String,
    ) -> Result<Vec<MerchantMembership>, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let answer: Members = self
            .call(
                Method::GET,
                &format!("/v1/merchants/{merchant}/staff"),
                None,
            )
            .await?;
        Ok(answer.members.into_iter().map(Into::into).collect())
    }

    /// Owner: replaces a staff device's scopes; the next prompt follows them.
    pub async fn set_staff_scopes(
        &self,
        merchant_id: String,
        member_id: String,
        operations: Vec<MerchantOperation>,
        content: Vec<PromptAttribute>,
    ) -> Result<MerchantMembership, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let member = path_id("member_id", &member_id)?;
        let (ops, attrs) = scopes_json(&operations, &content);
        let answer: MemberJson = self
            .call(
                Method::PUT,
                &format!("/v1/merchants/{merchant}/staff/{member}"),
                Some(json!({ "operations": ops, "content": attrs })),
            )
            .await?;
        Ok(answer.into())
    }

    /// Owner: revokes a staff device; it stops receiving at once.
    pub async fn revoke_staff(
        &self,
        merchant_id: String,
        member_id: String,
    ) -> Result<MerchantMembership, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let member = path_id("member_id", &member_id)?;
        let answer: MemberJson = self
            .call(
                Method::DELETE,
                &format!("/v1/merchants/{merchant}/staff/{member}"),
                None,
            )
            .await?;
        Ok(answer.into())
    }

    /// The merchant's payments, newest first (needs `view_history`);
    /// attributes outside this device's content scope are `None`.
    pub async fn history(
        &self,
        merchant_id: String,
        limit: u32,
    ) -> Result<Vec<MerchantPayment>, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let answer: Payments = self
            .call(
                Method::GET,
                &format!(
                    "/v1/merchants/{merchant}/payments?limit={}",
                    limit.clamp(1, 500)
                ),
                None,
            )
            .await?;
        Ok(answer.payments)
    }

    /// Refunds `amount_minor` of a payment (everything left when `None`);
    /// needs the `refund` scope (else `NotPermitted`).
    /// Pass the same `request_id` to retry a refund whose answer was lost
    /// (a new one is made when `None`). More than what is left, or more
    /// than the merchant's balance, is `RefundRefused`.
    #[uniffi::method(default(amount_minor = None, reason = None, request_id = None))]
    pub async fn refund(
        &self,
        merchant_id: String,
        payment_id: String,
        amount_minor: Option<u64>,
        reason: Option<String>,
        request_id: Option<String>,
    ) -> Result<MerchantRefund, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let request_id = match request_id {
            Some(id) => path_id("request_id", &id)?,
            None => new_id("rfq").map_err(|e| WalletError::invalid(e.to_string()))?,
        };
        let mut body = json!({ "refund_id": request_id, "payment_id": payment_id });
        if let Some(a) = amount_minor {
            body["amount_minor"] = json!(a);
        }
        if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
            body["reason"] = json!(r);
        }
        let answer: RefundJson = self
            .call(
                Method::POST,
                &format!("/v1/merchants/{merchant}/refunds"),
                Some(body),
            )
            .await
            .map_err(|e| match e {
                // The merchant's balance, not a wallet's: say so.
                WalletError::InsufficientFunds { .. } => WalletError::RefundRefused {
                    reason: "the merchant's balance does not cover this refund".into(),
                },
                other => other,
            })?;
        Ok(answer.into())
    }

    /// Owner: forwards a payment notice captured from an outside platform;
    /// the server fans it out to the staff under their scopes. Forwarding
    /// the same notice (platform and order id) again changes nothing.
    pub async fn forward_external_notice(
        &self,
        merchant_id: String,
        notice: ExternalNotice,
    ) -> Result<ForwardOutcome, WalletError> {
        let merchant = path_id("merchant_id", &merchant_id)?;
        let digest = sha256(format!("{}\n{}", notice.platform, notice.order_id).as_bytes());
        let notice_id = format!("ext-{}", hex_lower(&digest[..16]));
        let body = NoticeBody {
            notice_id: &notice_id,
            platform: &notice.platform,
            order_id: &notice.order_id,
            amount_minor: notice.amount_minor,
            currency: &notice.currency,
            payer_name: notice.payer_name.as_deref(),
            payee_name: notice.payee_name.as_deref(),
            payment_type: notice.payment_type.as_deref(),
            paid_at_ms: notice.paid_at_ms,
        };
        let body = serde_json::to_value(&body).map_err(|e| WalletError::invalid(e.to_string()))?;
        let answer: Forwarded = self
            .call(
                Method::POST,
                &format!("/v1/merchants/{merchant}/external-notices"),
                Some(body),
            )
            .await?;
        Ok(ForwardOutcome {
            notice_id: answer.notice_id,
            prompts: answer.prompts,
            duplicate: answer.duplicate,
        })
    }

    /// How this device announces prompts (text, speech, vibration).
    pub fn prompt_settings(&self) -> Result<PromptSettings, WalletError> {
        let state = self.inner.opened()?;
        Ok(store::PromptStore::new(&state.store)?.settings()?)
    }

    /// Changes how this device announces prompts (kept on the device).
    pub fn set_prompt_settings(&self, settings: PromptSettings) -> Result<(), WalletError> {
        let state = self.inner.opened()?;
        Ok(store::PromptStore::new(&state.store)?.set_settings(&settings)?)
    }

    /// The prompt stream of this device: call `next()` in a loop; `cancel()`
    /// ends it. It resumes after the last prompt handled, even across
    /// restarts.
    pub fn prompts(&self) -> Arc<PromptStream> {
        Arc::new(PromptStream::new(self.inner.clone()))
    }

    /// One-shot catch-up without a stream (from a background task, e.g. when
    /// a push announced a prompt): reads the prompts the server made since
    /// the last one handled, announces and queues the new ones exactly as
    /// the stream does, and returns them, oldest first. Holds no connection
    /// afterwards.
    pub async fn sync_prompts(&self) -> Result<Vec<MerchantPrompt>, WalletError> {
        PromptStream::new(self.inner.clone()).catch_up().await
    }

    /// Forgets where the prompt stream was, so the next stream reads every
    /// prompt the server still holds (e.g. when prompts seem missing).
    /// Prompts already announced are not announced again.
    pub fn resync_prompts(&self) -> Result<(), WalletError> {
        let state = self.inner.opened()?;
        Ok(store::PromptStore::new(&state.store)?.clear_cursor()?)
    }
}
