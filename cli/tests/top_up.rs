//! `wayfare wallet top-up --provider …`, `top-up-status`, `top-up-providers`
//! and `wayfare admin top-ups` against an in-process control center that
//! offers the sandbox and a checkout provider; the operator's sandbox
//! top-up (`--admin-token`) still works beside them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use wayfare_cli::local::LocalSystem;
use wayfare_server::FundingConfig;

use crate::wayfare;

#[tokio::test(flavor = "multi_thread")]
async fn wallet_top_up_commands_use_the_providers() {
    let funding = FundingConfig::default()
        .with_sandbox(&["CNY"])
        .with_checkout(
            "card",
            "cli-test-callback-secret-0123",
            "https://checkout.invalid/pay/{reference}",
            &["CNY"],
        );
    let mut system = LocalSystem::start_with_funding(None, funding)
        .await
        .unwrap();
    let (base, token) = (system.base_url().to_string(), system.admin_token());
    let wallet_dir = system.root().join("wallet");
    let run = move |args: Vec<String>| wayfare(args, &token);
    let wallet = {
        let (base, dir) = (base.clone(), wallet_dir.display().to_string());
        move |args: &[&str]| {
            let mut all = vec!["wallet".to_string(), "--data-dir".into(), dir.clone()];
            all.extend(["--server".to_string(), base.clone()]);
            all.extend(args.iter().map(|a| a.to_string()));
            all
        }
    };
    let admin = {
        let base = base.clone();
        move |args: &[&str]| {
            let mut all = vec!["admin".to_string(), "--server".into(), base.clone()];
            all.extend(args.iter().map(|a| a.to_string()));
            all
        }
    };
    let out = tokio::task::spawn_blocking(move || {
        run(wallet(&["register", "--name", "Ann"]));
        let providers = run(wallet(&["top-up-providers"]));
        let sandbox = run(wallet(&[
            "top-up",
            "--provider",
            "sandbox",
            "--amount",
            "500",
        ]));
        let card = run(wallet(&["top-up", "--provider", "card", "--amount", "700"]));
        let reference = card
            .split_whitespace()
            .find(|w| w.starts_with("fi_"))
            .expect("a reference")
            .trim_end_matches(':')
            .to_string();
        let status = run(wallet(&["top-up-status", &reference]));
        let pending = run(admin(&["top-ups", "--status", "pending"]));
        // The operator's sandbox top-up, as before.
        let operator = run(wallet(&["top-up", "--amount", "100"]));
        let balance = run(wallet(&["balance"]));
        (
            providers, sandbox, card, reference, status, pending, operator, balance,
        )
    })
    .await
    .unwrap();
    let (providers, sandbox, card, reference, status, pending, operator, balance) = out;
    assert!(
        providers.contains("card") && providers.contains("sandbox"),
        "{providers}"
    );
    assert!(sandbox.contains("confirmed"), "{sandbox}");
    assert!(card.contains("pending"), "{card}");
    assert!(
        card.contains(&format!("pay at: https://checkout.invalid/pay/{reference}")),
        "{card}"
    );
    assert!(
        status.contains(&reference) && status.contains("pending"),
        "{status}"
    );
    assert!(pending.contains(&reference), "{pending}");
    assert!(operator.contains("sandbox top-up done"), "{operator}");
    assert!(balance.contains("¥6.00"), "{balance}");
    system.stop_server().await;
}
