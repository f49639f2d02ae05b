//! The demo's merchant scene (P4): a shop with an owner phone and a staff
//! phone whose content scope hides the payer's name; a customer pays, both
//! phones get their prompt (printed), the owner forwards the same order's
//! notice from an outside platform (announced once), and the staff phone
//! refunds part of the payment.

use std::time::Duration;

use anyhow::{Context, Result};
use wayfare_core::{
    ExternalNotice, MerchantOperation, MerchantPrompt, PromptAttribute, PromptStream,
};

use crate::local::{manual_terminal, LocalSystem, TerminalOptions};
use crate::merchant_cmd::{attach_owner, describe};

const CURRENCY: &str = "CNY";
/// How long the demo waits for a prompt before giving up.
const PROMPT_WAIT: Duration = Duration::from_secs(20);

async fn next_prompt(stream: &PromptStream) -> Result<MerchantPrompt> {
    tokio::time::timeout(PROMPT_WAIT, stream.next())
        .await
        .context("no prompt arrived in time")?
        .context("reading the prompt stream")
}

/// Runs the scene on `system` and prints what each phone received.
pub async fn shop_with_owner_and_staff(system: &LocalSystem) -> Result<()> {
    println!("\n— A shop with an owner and a staff phone (on-site payment prompts)");
    let shop = system.merchant("Lotus Tea House", CURRENCY).await?;
    let pos = system
        .pos_terminal(&shop, CURRENCY, TerminalOptions::default())
        .await?;
    let owner = system.rider("Shop owner", None).await?;
    attach_owner(
        system.base_url(),
        &system.admin_token(),
        &shop.merchant_id,
        &owner.account_id(),
        "zh",
    )
    .await?;
    println!("             the operator made the owner's phone the shop's main management terminal (locale zh)");

    let staff = system.rider("Counter staff", None).await?;
    let invitation = owner
        .wallet
        .merchant()
        .invite_staff(
            shop.merchant_id.clone(),
            vec![MerchantOperation::ReceivePrompts, MerchantOperation::Refund],
            vec![
                PromptAttribute::OrderId,
                PromptAttribute::Amount,
                PromptAttribute::Time,
                PromptAttribute::PaymentPlatform,
            ],
            Some("counter".into()),
            None,
            None,
        )
        .await?;
    staff
        .wallet
        .merchant()
        .accept_invitation(invitation.qr_payload.clone())
        .await?;
    println!(
        "             owner invited the counter phone (code {}); its content scope hides the payer's name",
        invitation.code
    );

    let customer = system.rider("Mei", None).await?;
    system.fund(&customer, 5_000).await?;
    let owner_prompts = owner.wallet.merchant().prompts();
    let staff_prompts = staff.wallet.merchant().prompts();

    let order = pos.new_sale(1_250, "Oolong, large").await?;
    let session = customer
        .wallet
        .terminals()
        .connect(manual_terminal(&pos))
        .await?;
    session.next_payment_request().await?;
    let outcome = session.confirm().await?;
    println!("             Mei paid ¥12.50 for order {order}");
    let seen_by_owner = next_prompt(&owner_prompts).await?;
    let seen_by_staff = next_prompt(&staff_prompts).await?;
    println!("             owner's phone: {}", describe(&seen_by_owner));
    println!("             staff phone:   {}", describe(&seen_by_staff));
    println!(
        "             (the staff phone's prompt carries no payer_name at all: {})",
        seen_by_staff.payer_name.is_none()
    );

    // The same order notified again from an outside platform: dropped.
    owner
        .wallet
        .merchant()
        .forward_external_notice(
            shop.merchant_id.clone(),
            ExternalNotice {
                platform: "Alipay".into(),
                order_id: order.clone(),
                amount_minor: 1_250,
                currency: CURRENCY.into(),
                payer_name: Some("Mei".into()),
                payee_name: None,
                payment_type: Some("qr_code".into()),
                paid_at_ms: None,
            },
        )
        .await?;
    let refund = staff
        .wallet
        .merchant()
        .refund(
            shop.merchant_id.clone(),
            outcome.payment_id.clone(),
            Some(250),
            Some("one sugar too many".into()),
            None,
        )
        .await?;
    let next = next_prompt(&staff_prompts).await?;
    println!("             the owner forwarded Alipay's notice of the same order: announced once, the copy was dropped");
    println!(
        "             staff refunded ¥{}.{:02}; staff phone: {}",
        refund.amount_minor / 100,
        refund.amount_minor % 100,
        describe(&next)
    );
    let next = next_prompt(&owner_prompts).await?;
    println!("             owner's phone: {}", describe(&next));

    owner_prompts.cancel();
    staff_prompts.cancel();
    for wallet in [&owner.wallet, &staff.wallet, &customer.wallet] {
        wallet.close().await;
    }
    pos.shutdown().await;
    Ok(())
}
