//! The demo's moving tram (P1, issue 12.3): the driver's console moves the
//! tram through three stops on the terminal's control interface (real
//! HTTP, `PUT /position`), a rider boards at the second, and the
//! guardian's wallet prints the alert naming that stop.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use wayfare_core::{GuardianScope, RiderName, TapOutcome};
use wayfare_terminal::config::StopConfig;
use wayfare_terminal::RunningTerminal;

use crate::local::{manual_terminal, LocalSystem, TerminalOptions, TramSetup};

const CURRENCY: &str = "CNY";
/// How long the demo waits for the guardian's alert before giving up.
const ALERT_WAIT: Duration = Duration::from_secs(20);

/// Runs the scene on `system`.
pub async fn demo_moving_tram(system: &LocalSystem) -> Result<()> {
    println!("\n— The tram moves: three stops, a rider boards at the second");
    let rider = system.rider("Jun", Some("+8613800135678")).await?;
    let guardian = system.rider("Jun's mum", None).await?;
    system.fund(&rider, 2_000).await?;
    let invitation = rider
        .wallet
        .guardians()
        .create_invitation(GuardianScope::TransitOnly, RiderName::PhoneTail, None)
        .await?;
    guardian
        .wallet
        .guardians()
        .accept_invitation(invitation.code)
        .await?;
    let alerts = guardian.wallet.guardians().alert_stream();

    let stop = |id: &str, name: &str, index| StopConfig {
        id: id.into(),
        name: name.into(),
        index,
    };
    let setup = TramSetup {
        line: "T2".into(),
        vehicle: "tram 2044".into(),
        station: "Harbour".into(),
        station_index: 1,
        direction_from: "Harbour".into(),
        direction_towards: "University".into(),
        stops: vec![
            stop("S1", "Harbour", 1),
            stop("S2", "Central Square", 2),
            stop("S3", "University", 3),
        ],
        ..TramSetup::default()
    };
    let operator = system.merchant("Harbour Trams", CURRENCY).await?;
    let tram = system
        .tram_terminal(&operator, CURRENCY, &setup, TerminalOptions::default())
        .await?;
    println!("tram reader on line T2 at Harbour (stop 1 of 3)");

    drive_to(&tram, "Central Square").await?;
    println!("driver's console: PUT /position → Central Square (stop 2)");
    let session = rider
        .wallet
        .terminals()
        .connect(manual_terminal(&tram))
        .await?;
    let request = match session.tap().await? {
        TapOutcome::PaymentRequested { request } => request,
        other => bail!("the tram did not ask for the fare: {other:?}"),
    };
    let outcome = session.confirm().await?;
    println!(
        "rider boarded: \"{}\" — {}",
        request.description,
        outcome.summary()
    );
    drive_to(&tram, "University").await?;
    println!("driver's console: PUT /position → University (stop 3)");

    let alert = tokio::time::timeout(ALERT_WAIT, alerts.next())
        .await
        .context("no guardian alert arrived in time")??;
    alerts.cancel();
    if !alert.text_en.contains("Central Square") {
        bail!("the alert names another stop: {}", alert.text_en);
    }
    println!("guardian's wallet: {}", alert.text_en);
    println!("                   {}", alert.text_zh);
    tram.shutdown().await;
    Ok(())
}

/// The driver's console: moves the tram to `station` over the control
/// interface, as any local system would.
async fn drive_to(tram: &RunningTerminal, station: &str) -> Result<()> {
    let response = reqwest::Client::new()
        .put(format!("http://{}/position", tram.control_addr()))
        .bearer_auth(tram.control_token())
        .json(&json!({ "station": station }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "the tram refused the move to {station}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}
