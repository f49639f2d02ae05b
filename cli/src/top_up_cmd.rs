//! `wayfare wallet top-up --provider …` and friends: over-the-air top-up
//! through the core (`account().top_up`), as the phone apps do it.

use std::sync::Arc;

use anyhow::Result;
use wayfare_core::{TopUp, TopUpStatus, Wallet};

fn status_name(status: TopUpStatus) -> &'static str {
    match status {
        TopUpStatus::Pending => "pending",
        TopUpStatus::Confirmed => "confirmed",
        TopUpStatus::Failed => "failed",
        TopUpStatus::Expired => "expired",
    }
}

fn print_top_up(t: &TopUp) {
    println!(
        "{}  {}  {}  via {}{}",
        t.reference,
        status_name(t.status),
        t.formatted_amount,
        t.provider,
        match &t.failure_reason {
            Some(reason) => format!("  ({reason})"),
            None => String::new(),
        }
    );
}

/// Starts a top-up through `provider`; prints the checkout link, and with
/// `wait` follows the top-up until its provider confirms or fails it.
pub async fn start(wallet: &Arc<Wallet>, provider: String, amount: u64, wait: bool) -> Result<()> {
    let account = wallet.account();
    // Opened before the start, so no outcome can slip between the two.
    let stream = account.top_up_stream();
    let started = account.top_up(provider, amount).await?;
    println!(
        "top-up {} of {} via {}: {}",
        started.reference,
        started.formatted_amount,
        started.provider,
        status_name(started.status)
    );
    if let Some(url) = &started.checkout_url {
        println!("pay at: {url}");
    }
    if !wait || started.status != TopUpStatus::Pending {
        return Ok(());
    }
    println!("waiting for the provider's confirmation (Ctrl-C to stop; the top-up goes on)");
    loop {
        let outcome = stream.next().await?;
        if outcome.reference == started.reference {
            print_top_up(&outcome);
            let balance = account.balance().await?;
            println!("balance {}", balance.formatted);
            return Ok(());
        }
    }
}

/// Prints a top-up as it is now.
pub async fn status(wallet: &Arc<Wallet>, reference: String) -> Result<()> {
    print_top_up(&wallet.account().top_up_status(reference).await?);
    Ok(())
}

/// Prints the providers the server offers.
pub async fn providers(wallet: &Arc<Wallet>) -> Result<()> {
    let providers = wallet.account().top_up_providers().await?;
    if providers.is_empty() {
        println!("this server offers no over-the-air top-up");
    }
    for p in providers {
        println!(
            "{:<12} {:<9} {}  ({})",
            p.id,
            p.kind,
            p.display_name,
            p.currencies.join(", ")
        );
    }
    Ok(())
}
