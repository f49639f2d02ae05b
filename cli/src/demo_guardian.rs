//! The demo's guardian and transit scene (P1, P3.6): a rider invites a
//! guardian (transit only, shown as "the phone ending 1234"), the guardian
//! accepts and sets a daily limit, the rider taps in at one metro gate and
//! out at another, pays the fare-table price, and the guardian's wallet
//! prints the alert exactly as it received it over its event stream.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use wayfare_core::{GuardianScope, RiderName, TapOutcome};
use wayfare_terminal::config::TapRole;

use crate::local::{manual_terminal, LocalSystem, TerminalOptions};
use crate::local_transit::GateSetup;

const CURRENCY: &str = "CNY";
/// How long the demo waits for the guardian's alert before giving up.
const ALERT_WAIT: Duration = Duration::from_secs(20);

/// Runs the scene on `system` and prints what each phone saw.
pub async fn demo_guardian_and_tap_ride(system: &LocalSystem) -> Result<()> {
    println!("\n— A rider with a guardian rides the metro (tap in, tap out)");
    let rider = system.rider("Mei", Some("+8613800131234")).await?;
    let guardian = system.rider("Mei's dad", None).await?;
    system.fund(&rider, 5_000).await?;

    let invitation = rider
        .wallet
        .guardians()
        .create_invitation(GuardianScope::TransitOnly, RiderName::PhoneTail, None)
        .await?;
    println!(
        "rider invites a guardian: code {} (QR payload {}), shown as \"{}\"",
        invitation.code, invitation.qr_payload, invitation.rider_name
    );
    let binding = guardian
        .wallet
        .guardians()
        .accept_invitation(invitation.code)
        .await?;
    let binding = guardian
        .wallet
        .guardians()
        .set_daily_limit(binding.binding_id, Some(2_000), None)
        .await?;
    println!(
        "guardian accepted ({}), daily limit {} minor units",
        binding.scope.as_str(),
        binding.daily_limit_minor.unwrap_or_default()
    );
    let alerts = guardian.wallet.guardians().alert_stream();

    let metro = system.merchant("City Metro", CURRENCY).await?;
    let entry = system
        .tap_gate(
            &metro,
            CURRENCY,
            &GateSetup::new(TapRole::Entry, "Harbour", 0),
            TerminalOptions::default(),
        )
        .await?;
    let exit = system
        .tap_gate(
            &metro,
            CURRENCY,
            &GateSetup::new(TapRole::Exit, "Central Square", 4),
            TerminalOptions::default(),
        )
        .await?;

    let session = rider
        .wallet
        .terminals()
        .connect(manual_terminal(&entry))
        .await?;
    match session.tap().await? {
        TapOutcome::Entered { message, .. } => println!("entry gate: {message}"),
        other => bail!("the entry gate asked for a payment: {other:?}"),
    }
    let session = rider
        .wallet
        .terminals()
        .connect(manual_terminal(&exit))
        .await?;
    let request = match session.tap().await? {
        TapOutcome::PaymentRequested { request } => request,
        other => bail!("the exit gate did not price the trip: {other:?}"),
    };
    println!(
        "exit gate asks {} for \"{}\"",
        request.formatted_amount, request.description
    );
    let outcome = session.confirm().await?;
    println!("rider paid: {}", outcome.summary());

    let alert = tokio::time::timeout(ALERT_WAIT, alerts.next())
        .await
        .context("no guardian alert arrived in time")??;
    alerts.cancel();
    println!("guardian's wallet received alert #{}:", alert.event_id);
    println!("  {}", alert.text_en);
    println!("  {}", alert.text_zh);
    Ok(())
}
