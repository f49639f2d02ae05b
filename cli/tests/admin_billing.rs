//! `wayfare admin billing …` against an in-process control center: close a
//! day, see its export pending (no billing endpoint), upload a CSV and a
//! JSON reconciliation file and read the stored results back.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use wayfare_cli::local::LocalSystem;

use crate::wayfare_admin;

#[tokio::test(flavor = "multi_thread")]
async fn admin_billing_commands_round_trip() {
    let mut system = LocalSystem::start().await.unwrap();
    let (base, token) = (system.base_url().to_string(), system.admin_token());
    let client = system.admin().clone();

    let export = client.billing_export("2011-03-04", 480).await.unwrap();
    assert_eq!(export["state"], "pending");
    assert_eq!(export["utc_offset"], "+08:00");
    let status = client.billing_exports(Some("2011-03-04")).await.unwrap();
    assert_eq!(status["endpoint_configured"], false);
    assert_eq!(status["pending"], 1);

    let csv = "payment_id,amount_minor,currency\r\npay_ghost,250,CNY\r\n";
    let stored = client
        .billing_reconcile("2011-03-04", 480, None, csv)
        .await
        .unwrap();
    assert_eq!(stored["source_format"], "csv");
    assert_eq!(stored["unknown"][0]["payment_id"], "pay_ghost");
    let json_file = r#"[{"payment_id":"pay_other","amount_minor":5,"currency":"CNY"}]"#;
    let stored = client
        .billing_reconcile("2011-03-04", 480, None, json_file)
        .await
        .unwrap();
    assert_eq!(stored["source_format"], "json");
    let list = client
        .billing_reconciliations(Some("2011-03-04"))
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    let bad = client
        .billing_reconcile(
            "2011-03-04",
            0,
            None,
            "payment_id,amount_minor,currency\nx,1",
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("400"), "{bad}");

    // The binary: status and one reconciliation in full.
    let id = stored["reconciliation_id"].as_str().unwrap().to_string();
    let (base_c, token_c) = (base.clone(), token.clone());
    let run = move |args: &[&str]| wayfare_admin(&base_c, &token_c, args);
    let file = system.root().join("statement.csv");
    std::fs::write(&file, csv).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let status = run(&["billing", "status", "--date", "2011-03-04"]);
        let shown = run(&["billing", "reconciliations", "--id", &id]);
        let uploaded = run(&[
            "billing",
            "reconcile",
            "--date",
            "2011-03-04",
            "--utc-offset-minutes",
            "480",
            file.to_str().unwrap(),
        ]);
        (status, shown, uploaded)
    })
    .await
    .unwrap();
    assert!(
        out.0.contains("1 pending") && out.0.contains("no billing endpoint"),
        "{}",
        out.0
    );
    assert!(out.1.contains("unknown     pay_other"), "{}", out.1);
    assert!(out.2.contains("unknown     pay_ghost"), "{}", out.2);
    system.stop_server().await;
}
