//! `wayfare wallet merchant …`: the owner's and staff's merchant commands
//! on the desktop wallet, plus the operator's `attach-owner`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use wayfare_core::{
    ExternalNotice, MerchantOperation, MerchantPrompt, MerchantRole, PromptAttribute, Wallet,
};

/// What to do as a merchant's owner or staff device.
#[derive(Subcommand)]
pub enum MerchantAction {
    /// Make this wallet the owner of a merchant (operator credential needed).
    AttachOwner {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// Prompt locale: zh or en.
        #[arg(long, default_value = "zh")]
        locale: String,
        /// The control center's admin token.
        #[arg(long, env = "WAYFARE_ADMIN_TOKEN")]
        admin_token: String,
    },
    /// The merchants this device manages.
    Mine,
    /// Owner: invite a staff device.
    Invite {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// Operations: receive_prompts,view_history,refund.
        #[arg(long, value_delimiter = ',', default_value = "receive_prompts")]
        operations: Vec<String>,
        /// Attributes: order_id,payer_name,payee_name,payment_type,amount,time,payment_platform.
        #[arg(long, value_delimiter = ',', default_value = "amount,time")]
        content: Vec<String>,
        /// A label for the device.
        #[arg(long)]
        label: Option<String>,
        /// Only the device with this handle may accept.
        #[arg(long)]
        invitee: Option<String>,
        /// Validity in seconds.
        #[arg(long)]
        expires_in_s: Option<u32>,
    },
    /// Staff: accept an invitation (code or QR payload).
    Accept {
        /// The code.
        code: String,
    },
    /// Owner: list the staff devices.
    Staff {
        /// The merchant.
        #[arg(long)]
        merchant: String,
    },
    /// Owner: change a staff device's scopes.
    Scopes {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// The staff member id.
        #[arg(long)]
        member: String,
        /// Operations (comma-separated).
        #[arg(long, value_delimiter = ',')]
        operations: Vec<String>,
        /// Attributes (comma-separated).
        #[arg(long, value_delimiter = ',')]
        content: Vec<String>,
    },
    /// Owner: revoke a staff device.
    Revoke {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// The staff member id.
        #[arg(long)]
        member: String,
    },
    /// The merchant's payments (view_history scope).
    History {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Refund a payment fully or partly (refund scope).
    Refund {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// The payment.
        #[arg(long)]
        payment: String,
        /// Amount in minor units (everything left if omitted).
        #[arg(long)]
        amount: Option<u64>,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Owner: forward a payment notice from an outside platform.
    Forward {
        /// The merchant.
        #[arg(long)]
        merchant: String,
        /// The platform's name.
        #[arg(long)]
        platform: String,
        /// Its order id.
        #[arg(long)]
        order: String,
        /// Amount in minor units.
        #[arg(long)]
        amount: u64,
        /// Currency code.
        #[arg(long, default_value = "CNY")]
        currency: String,
        /// Payer's name.
        #[arg(long)]
        payer: Option<String>,
    },
    /// Print prompts as they arrive (de-duplicated), `count` of them.
    Prompts {
        /// Stop after this many.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
}

/// Parses operation names.
pub fn operations(names: &[String]) -> Result<Vec<MerchantOperation>> {
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| match n.as_str() {
            "receive_prompts" => Ok(MerchantOperation::ReceivePrompts),
            "view_history" => Ok(MerchantOperation::ViewHistory),
            "refund" => Ok(MerchantOperation::Refund),
            other => bail!("unknown operation {other:?}"),
        })
        .collect()
}

/// Parses attribute names.
pub fn attributes(names: &[String]) -> Result<Vec<PromptAttribute>> {
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| match n.as_str() {
            "order_id" => Ok(PromptAttribute::OrderId),
            "payer_name" => Ok(PromptAttribute::PayerName),
            "payee_name" => Ok(PromptAttribute::PayeeName),
            "payment_type" => Ok(PromptAttribute::PaymentType),
            "amount" => Ok(PromptAttribute::Amount),
            "time" => Ok(PromptAttribute::Time),
            "payment_platform" => Ok(PromptAttribute::PaymentPlatform),
            other => bail!("unknown attribute {other:?}"),
        })
        .collect()
}

/// Makes `account_id` the owner of `merchant_id` (operator call).
pub async fn attach_owner(
    server: &str,
    admin_token: &str,
    merchant_id: &str,
    account_id: &str,
    locale: &str,
) -> Result<()> {
    crate::install_crypto_provider();
    let url = format!(
        "{}/v1/merchants/{merchant_id}/owner",
        server.trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(admin_token)
        .json(&json!({ "account_id": account_id, "locale": locale }))
        .send()
        .await
        .context("reaching the control center")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("attaching the owner failed ({status}): {body}");
    }
    Ok(())
}

/// One line describing a prompt, as the phone would show it.
pub fn describe(prompt: &MerchantPrompt) -> String {
    let mut how = Vec::new();
    if prompt.show_text {
        how.push("text");
    }
    if prompt.speak {
        how.push("speech");
    }
    if prompt.vibrate {
        how.push("vibration");
    }
    format!(
        "{}  [say: {}] [{}]",
        prompt.display_text,
        prompt.speech_text,
        how.join("+")
    )
}

/// Runs one merchant action on an open wallet.
pub async fn run(wallet: &Arc<Wallet>, server: &str, action: MerchantAction) -> Result<()> {
    let m = wallet.merchant();
    match action {
        MerchantAction::AttachOwner {
            merchant,
            locale,
            admin_token,
        } => {
            let info = wallet
                .account()
                .info()
                .context("register this wallet first")?;
            attach_owner(server, &admin_token, &merchant, &info.account_id, &locale).await?;
            println!("this wallet now owns merchant {merchant}");
        }
        MerchantAction::Mine => {
            for ms in m.memberships().await? {
                let role = match ms.role {
                    MerchantRole::Owner => "owner",
                    MerchantRole::Staff => "staff",
                };
                println!(
                    "{}  {}  {role}  ({})",
                    ms.merchant_id, ms.merchant_name, ms.locale
                );
            }
        }
        MerchantAction::Invite {
            merchant,
            operations: ops,
            content,
            label,
            invitee,
            expires_in_s,
        } => {
            let inv = m
                .invite_staff(
                    merchant,
                    operations(&ops)?,
                    attributes(&content)?,
                    label,
                    invitee,
                    expires_in_s,
                )
                .await?;
            println!(
                "code {}  (QR: {})  valid until {}",
                inv.code, inv.qr_payload, inv.expires_at_ms
            );
        }
        MerchantAction::Accept { code } => {
            let ms = m.accept_invitation(code).await?;
            println!(
                "joined {} as staff (member {})",
                ms.merchant_name, ms.member_id
            );
        }
        MerchantAction::Staff { merchant } => {
            for s in m.list_staff(merchant).await? {
                println!(
                    "{}  {:<10} {}  ops={:?} content={:?}",
                    s.member_id,
                    s.label,
                    if s.active { "active" } else { "revoked" },
                    s.operations,
                    s.content
                );
            }
        }
        MerchantAction::Scopes {
            merchant,
            member,
            operations: ops,
            content,
        } => {
            let s = m
                .set_staff_scopes(merchant, member, operations(&ops)?, attributes(&content)?)
                .await?;
            println!(
                "scopes of {}: ops={:?} content={:?}",
                s.member_id, s.operations, s.content
            );
        }
        MerchantAction::Revoke { merchant, member } => {
            m.revoke_staff(merchant, member.clone()).await?;
            println!("revoked {member}");
        }
        MerchantAction::History { merchant, limit } => {
            for p in m.history(merchant, limit).await? {
                println!(
                    "{}  order={}  amount={}  refunded={}  payer={}",
                    p.payment_id,
                    p.order_id.unwrap_or_else(|| "-".into()),
                    p.amount_minor
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "-".into()),
                    p.refunded_minor
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "-".into()),
                    p.payer_name.unwrap_or_else(|| "-".into()),
                );
            }
        }
        MerchantAction::Refund {
            merchant,
            payment,
            amount,
            reason,
        } => {
            let r = m.refund(merchant, payment, amount, reason, None).await?;
            println!(
                "refunded {} {} ({} left to refund)",
                r.amount_minor, r.currency, r.remaining_minor
            );
        }
        MerchantAction::Forward {
            merchant,
            platform,
            order,
            amount,
            currency,
            payer,
        } => {
            let outcome = m
                .forward_external_notice(
                    merchant,
                    ExternalNotice {
                        platform,
                        order_id: order,
                        amount_minor: amount,
                        currency,
                        payer_name: payer,
                        payee_name: None,
                        payment_type: None,
                        paid_at_ms: None,
                    },
                )
                .await?;
            println!(
                "forwarded: {} prompts{}",
                outcome.prompts,
                if outcome.duplicate {
                    " (already forwarded)"
                } else {
                    ""
                }
            );
        }
        MerchantAction::Prompts { count } => {
            let stream = m.prompts();
            for _ in 0..count {
                let prompt = stream.next().await?;
                println!("{}", describe(&prompt));
            }
        }
    }
    Ok(())
}
