//! `wayfare admin points-rate …` against an in-process control center: the
//! client sets a merchant's points rate and the binary changes and
//! withdraws it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use wayfare_cli::local::LocalSystem;

use crate::wayfare_admin;

#[tokio::test(flavor = "multi_thread")]
async fn admin_points_rate_round_trip() {
    let mut system = LocalSystem::start().await.unwrap();
    let (base, token) = (system.base_url().to_string(), system.admin_token());
    let client = system.admin().clone();
    let merchant = client.create_merchant("Corner Café", "EUR").await.unwrap();

    let rate = client
        .set_points_rate(&merchant.merchant_id, 5, Some(2_500))
        .await
        .unwrap();
    assert_eq!(
        (
            &rate["accepts_points"],
            &rate["minor_per_point"],
            &rate["max_share_bps"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!(5),
            &serde_json::json!(2_500)
        )
    );
    let bad = client
        .set_points_rate(&merchant.merchant_id, 5, Some(0))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("422"), "{bad}");
    let unknown = client
        .set_points_rate("mer_nobody", 1, None)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("404"), "{unknown}");

    let (base_c, token_c, id) = (base.clone(), token.clone(), merchant.merchant_id.clone());
    let out = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| wayfare_admin(&base_c, &token_c, args);
        let set = run(&["points-rate", &id, "--minor-per-point", "2"]);
        let off = run(&["points-rate", &id, "--minor-per-point", "0"]);
        (set, off)
    })
    .await
    .unwrap();
    assert!(
        out.0
            .contains("1 point = 2 minor units of EUR, at most 10000 basis points"),
        "{}",
        out.0
    );
    assert!(out.1.contains("takes no points"), "{}", out.1);
    system.stop_server().await;
}
