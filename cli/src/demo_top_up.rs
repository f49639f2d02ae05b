//! The demo's top-ups (P1, P5; issue 12.1–12.2): cash at a station kiosk
//! — the cashier enters it on the terminal's control interface (real
//! HTTP), the rider's wallet claims the kiosk's signed offer, both sides
//! verify the receipt and the kiosk prints it — and an over-the-air top-up
//! through the server's sandbox funding provider.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use wayfare_core::TapOutcome;
use wayfare_terminal::RunningTerminal;

use crate::local::{manual_terminal, LocalSystem, TerminalOptions};

const CURRENCY: &str = "CNY";

/// Runs the scene on `system` (started with the sandbox provider).
pub async fn demo_top_ups(system: &LocalSystem) -> Result<()> {
    println!("\n— Adding money: cash at a station kiosk, then over the air");
    let rider = system.rider("Lin", None).await?;
    let station = system.merchant("Central Station", CURRENCY).await?;
    let kiosk = system
        .top_up_terminal(&station, CURRENCY, TerminalOptions::default())
        .await?;

    let order = take_cash(&kiosk, 2_000).await?;
    println!("cashier took ¥20.00 in cash: POST /top-ups → order {order}");
    let session = rider
        .wallet
        .terminals()
        .connect(manual_terminal(&kiosk))
        .await?;
    let offer = match session.tap().await? {
        TapOutcome::TopUpOffered { offer } => offer,
        other => bail!("the kiosk did not offer the cash: {other:?}"),
    };
    println!(
        "rider's wallet: {} offers {} (signed by the kiosk, certified by the operator)",
        offer.merchant_name, offer.formatted_amount
    );
    let done = session.accept_top_up().await?;
    println!(
        "rider accepted: top-up {} credited, balance ¥{:.2}; kiosk says: {}",
        done.top_up_id,
        done.balance_minor as f64 / 100.0,
        done.terminal_done
            .as_ref()
            .map(|d| d.message.as_str())
            .unwrap_or("-")
    );
    println!(
        "the kiosk verified the receipt and printed it ({} print); its cash float holds ¥{:.2} owed to riders",
        kiosk.status().linkage_activations,
        -system
            .balance_of(&format!("acc_float_{}", kiosk.terminal_id()))
            .await as f64
            / 100.0
    );

    let started = rider
        .wallet
        .account()
        .top_up("sandbox".into(), 1_500)
        .await?;
    println!(
        "over the air: the wallet asked the sandbox provider for {} (reference {}, {:?})",
        started.formatted_amount, started.reference, started.status
    );
    let balance = rider.wallet.account().balance().await?;
    println!("balance now {}", balance.formatted);
    if balance.balance_minor != 3_500 {
        bail!(
            "expected ¥35.00 after both top-ups, got {}",
            balance.formatted
        );
    }
    kiosk.shutdown().await;
    Ok(())
}

/// The cashier's till: enters `amount_minor` of cash on the kiosk.
async fn take_cash(kiosk: &RunningTerminal, amount_minor: u64) -> Result<String> {
    let response = reqwest::Client::new()
        .post(format!("http://{}/top-ups", kiosk.control_addr()))
        .bearer_auth(kiosk.control_token())
        .json(&json!({ "amount_minor": amount_minor }))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("the kiosk refused the cash: {body}");
    }
    body["order_id"]
        .as_str()
        .map(str::to_string)
        .context("the kiosk answered no order id")
}
