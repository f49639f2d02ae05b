//! Merchants (P4) end to end: a real control center, a real POS terminal
//! and real wallets (owner, staff, customers) on loopback.

use crate::merchant_common;

use merchant_common::{next, raw, shop, CNY};
use wayfare_cli::local::TerminalOptions;
use wayfare_cli::merchant_cmd::attach_owner;
use wayfare_core::{
    HistoryKind, MerchantOperation as Op, MerchantPromptEvent, PromptAttribute as Attr,
    WalletError, WalletEventBody,
};
use wayfare_e2e::connect;

fn wire_keys(attr: Attr) -> &'static [&'static str] {
    match attr {
        Attr::OrderId => &["order_id"],
        Attr::PayerName => &["payer_name"],
        Attr::PayeeName => &["payee_name"],
        Attr::PaymentType => &["payment_type"],
        Attr::Amount => &["amount_minor", "currency"],
        Attr::Time => &["at_ms"],
        Attr::PaymentPlatform => &["payment_platform"],
    }
}

#[tokio::test]
async fn each_staff_phone_receives_only_its_scope_and_renders_it() {
    let s = shop("en").await;
    let mut phones = Vec::new();
    for missing in Attr::ALL {
        let content: Vec<Attr> = Attr::ALL.into_iter().filter(|a| *a != missing).collect();
        phones.push((missing, s.staff(vec![Op::ReceivePrompts], content).await));
    }
    let (order, _) = s.pay(1_250).await;
    for (missing, phone) in &phones {
        let stream = phone.wallet.merchant().prompts();
        let prompt = next(&stream).await;
        let wire = raw(&prompt);
        for key in wire_keys(*missing) {
            assert!(
                wire.get(*key).is_none(),
                "{missing:?}: {key} on the wire: {wire}"
            );
        }
        for other in Attr::ALL.into_iter().filter(|a| a != missing) {
            for key in wire_keys(other) {
                assert!(wire.get(*key).is_some(), "{other:?}: {key} missing: {wire}");
            }
        }
        assert!(wire.get("payment_id").is_none(), "no refund scope: {wire}");
        match missing {
            Attr::PayerName => {
                assert_eq!(prompt.payer_name, None);
                assert!(!prompt.raw_json.contains("Mei") && !prompt.display_text.contains("Mei"));
            }
            Attr::Amount => {
                assert_eq!(prompt.amount_minor, None);
                assert!(
                    !prompt.display_text.contains("12.50"),
                    "{}",
                    prompt.display_text
                );
            }
            Attr::OrderId => assert!(!prompt.display_text.contains(&order)),
            _ => {}
        }
        stream.cancel();
    }
    // The owner sees everything, rendered in the shop's locale.
    let stream = s.owner.wallet.merchant().prompts();
    let prompt = next(&stream).await;
    assert_eq!(prompt.event, MerchantPromptEvent::Payment);
    assert_eq!(prompt.payer_name.as_deref(), Some("Mei"));
    assert_eq!(prompt.order_id.as_deref(), Some(order.as_str()));
    assert_eq!(prompt.speech_text, "Wayfare received 12.50 yuan");
    assert!(
        prompt.display_text.starts_with("Wayfare received ¥12.50"),
        "{}",
        prompt.display_text
    );
    assert!(prompt.show_text && prompt.speak && prompt.vibrate);
    s.pos.shutdown().await;
}

#[tokio::test]
async fn chinese_prompts_follow_the_device_settings() {
    let s = shop("zh").await;
    let staff = s
        .staff(
            vec![Op::ReceivePrompts],
            vec![Attr::Amount, Attr::PaymentPlatform],
        )
        .await;
    staff
        .wallet
        .merchant()
        .set_prompt_settings(wayfare_core::PromptSettings {
            show_text: true,
            speak: true,
            vibrate: false,
        })
        .unwrap();
    s.pay(1_250).await;
    let prompt = next(&staff.wallet.merchant().prompts()).await;
    assert_eq!(prompt.speech_text, "Wayfare到账12.50元");
    assert_eq!(prompt.display_text, "Wayfare到账12.50元");
    assert!(prompt.show_text && prompt.speak && !prompt.vibrate);
    s.pos.shutdown().await;
}

#[tokio::test]
async fn refusals_are_clear_and_other_merchants_cannot_see_or_act() {
    let s = shop("en").await;
    let viewer = s
        .staff(
            vec![Op::ReceivePrompts, Op::ViewHistory],
            vec![Attr::Amount],
        )
        .await;
    let (_, payment) = s.pay(800).await;
    let err = viewer
        .wallet
        .merchant()
        .refund(
            s.shop.merchant_id.clone(),
            payment.clone(),
            None,
            None,
            None,
        )
        .await
        .unwrap_err();
    match &err {
        WalletError::NotPermitted { reason } => assert!(reason.contains("refund"), "{reason}"),
        other => panic!("expected NotPermitted, got {other:?}"),
    }
    let history = viewer
        .wallet
        .merchant()
        .history(s.shop.merchant_id.clone(), 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].amount_minor, history[0].payer_name.as_deref()),
        (Some(800), None)
    );

    // Another shop's owner: not found, whatever it tries.
    let other = s.system.merchant("Other Shop", CNY).await.unwrap();
    let stranger = s.system.rider("Stranger", None).await.unwrap();
    attach_owner(
        s.system.base_url(),
        &s.system.admin_token(),
        &other.merchant_id,
        &stranger.account_id(),
        "en",
    )
    .await
    .unwrap();
    let m = stranger.wallet.merchant();
    let id = s.shop.merchant_id.clone();
    let not_found = |e: WalletError| matches!(e, WalletError::NotFound { .. });
    assert!(not_found(m.history(id.clone(), 10).await.unwrap_err()));
    assert!(not_found(m.list_staff(id.clone()).await.unwrap_err()));
    assert!(not_found(
        m.refund(id.clone(), payment.clone(), None, None, None)
            .await
            .unwrap_err()
    ));
    assert!(not_found(
        m.refund(other.merchant_id.clone(), payment.clone(), None, None, None)
            .await
            .unwrap_err()
    ));
    assert!(not_found(
        m.invite_staff(id.clone(), vec![], vec![], None, None, None)
            .await
            .unwrap_err()
    ));
    assert_eq!(
        s.system
            .admin()
            .account(&s.shop.account_id)
            .await
            .unwrap()
            .balance_minor,
        800
    );
    // And its own stream never carried this shop's prompts: its next prompt
    // is its own shop's first payment.
    let other_pos = s
        .system
        .pos_terminal(&other, CNY, TerminalOptions::default())
        .await
        .unwrap();
    let order = other_pos.new_sale(300, "x").await.unwrap();
    let session = connect(&s.customer, &other_pos).await;
    session.next_payment_request().await.unwrap();
    session.confirm().await.unwrap();
    let prompt = next(&m.prompts()).await;
    assert_eq!(prompt.merchant_id, other.merchant_id);
    assert_eq!(prompt.order_id.as_deref(), Some(order.as_str()));
    other_pos.shutdown().await;
    s.pos.shutdown().await;
}

#[tokio::test]
async fn an_order_is_announced_once_even_across_a_restart() {
    let mut s = shop("en").await;
    let mut staff = s
        .staff(
            vec![Op::ReceivePrompts],
            vec![Attr::OrderId, Attr::Amount, Attr::PaymentPlatform],
        )
        .await;
    let stream = staff.wallet.merchant().prompts();
    let (order1, _) = s.pay(500).await;
    let first = next(&stream).await;
    assert_eq!(first.order_id.as_deref(), Some(order1.as_str()));
    assert_eq!(first.payment_platform.as_deref(), Some("Wayfare"));

    // The same order forwarded from an outside platform: dropped; the next
    // prompt announced is the next order's.
    s.forward("Alipay", &order1, 500).await;
    let (order2, _) = s.pay(600).await;
    assert_eq!(
        next(&stream).await.order_id.as_deref(),
        Some(order2.as_str())
    );
    stream.cancel();

    // Restart the control center and the core, make the server deliver
    // everything again (as after a lost cursor), and notify order 1 once
    // more through another platform.
    s.system.restart_server().await.unwrap();
    staff.reopen(None).await.unwrap();
    staff.wallet.merchant().resync_prompts().unwrap();
    s.forward("WeChat Pay", &order1, 500).await;
    let (order3, _) = s.pay(700).await;
    let stream = staff.wallet.merchant().prompts();
    let after_restart = next(&stream).await;
    assert_eq!(after_restart.order_id.as_deref(), Some(order3.as_str()));

    // The persisted event queue holds one prompt per order.
    let queued = staff
        .wallet
        .events()
        .pending(100)
        .unwrap()
        .into_iter()
        .filter(
            |e| matches!(&e.body, WalletEventBody::MerchantPrompt { prompt } if prompt.order_id.is_some()),
        )
        .count();
    assert_eq!(queued, 3);
    s.pos.shutdown().await;
}

#[tokio::test]
async fn a_background_catch_up_announces_each_prompt_once_and_then_returns() {
    let s = shop("en").await;
    let staff = s
        .staff(
            vec![Op::ReceivePrompts],
            vec![Attr::OrderId, Attr::Amount, Attr::PaymentPlatform],
        )
        .await;
    let m = staff.wallet.merchant();
    assert!(m.sync_prompts().await.unwrap().is_empty());

    // Two payments while the app is closed; woken by a push, it catches up
    // and the call returns (no connection left open).
    let (order1, _) = s.pay(500).await;
    let (order2, _) = s.pay(600).await;
    let caught: Vec<_> = m
        .sync_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.order_id)
        .collect();
    assert_eq!(caught, [Some(order1.clone()), Some(order2)]);
    assert!(m.sync_prompts().await.unwrap().is_empty());

    // The same order from another platform is still dropped, and the live
    // stream resumes after what the catch-up handled.
    s.forward("Alipay", &order1, 500).await;
    let (order3, _) = s.pay(700).await;
    let stream = m.prompts();
    assert_eq!(next(&stream).await.order_id, Some(order3));
    stream.cancel();

    let queued = staff
        .wallet
        .events()
        .pending(100)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(&e.body, WalletEventBody::MerchantPrompt { .. }))
        .count();
    assert_eq!(queued, 3);
    s.pos.shutdown().await;
}

#[tokio::test]
async fn revocation_takes_effect_before_the_next_payment() {
    let s = shop("en").await;
    let staff = s.staff(vec![Op::ReceivePrompts], vec![Attr::OrderId]).await;
    let stream = staff.wallet.merchant().prompts();
    let (order1, _) = s.pay(100).await;
    assert_eq!(
        next(&stream).await.order_id.as_deref(),
        Some(order1.as_str())
    );

    let members = s
        .owner
        .wallet
        .merchant()
        .list_staff(s.shop.merchant_id.clone())
        .await
        .unwrap();
    let member = members
        .iter()
        .find(|m| m.role == wayfare_core::MerchantRole::Staff)
        .unwrap();
    let revoked = s
        .owner
        .wallet
        .merchant()
        .revoke_staff(s.shop.merchant_id.clone(), member.member_id.clone())
        .await
        .unwrap();
    assert!(!revoked.active);
    let (order2, _) = s.pay(200).await;
    // The owner got it...
    let owner_stream = s.owner.wallet.merchant().prompts();
    assert_eq!(
        next(&owner_stream).await.order_id.as_deref(),
        Some(order1.as_str())
    );
    assert_eq!(
        next(&owner_stream).await.order_id.as_deref(),
        Some(order2.as_str())
    );
    // ... the revoked phone did not: invited again, its next prompt is the
    // payment after its return.
    let inv = s
        .invite(vec![Op::ReceivePrompts], vec![Attr::OrderId], None)
        .await;
    staff
        .wallet
        .merchant()
        .accept_invitation(inv.qr_payload)
        .await
        .unwrap();
    let (order3, _) = s.pay(300).await;
    assert_eq!(
        next(&stream).await.order_id.as_deref(),
        Some(order3.as_str())
    );
    s.pos.shutdown().await;
}

#[tokio::test]
async fn refunds_are_partial_or_full_balanced_and_never_exceed_the_payment() {
    let s = shop("zh").await;
    let clerk = s
        .staff(
            vec![Op::ReceivePrompts, Op::Refund],
            vec![Attr::Amount, Attr::PaymentPlatform],
        )
        .await;
    let (_, payment) = s.pay(1_000).await;
    let before = s
        .customer
        .wallet
        .account()
        .balance()
        .await
        .unwrap()
        .balance_minor;
    let m = clerk.wallet.merchant();
    let id = s.shop.merchant_id.clone();

    let partial = m
        .refund(
            id.clone(),
            payment.clone(),
            Some(400),
            Some("too sweet".into()),
            None,
        )
        .await
        .unwrap();
    assert_eq!((partial.amount_minor, partial.remaining_minor), (400, 600));
    let over = m
        .refund(id.clone(), payment.clone(), Some(601), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&over, WalletError::RefundRefused { .. }),
        "{over:?}"
    );
    let full = m
        .refund(id.clone(), payment.clone(), None, None, None)
        .await
        .unwrap();
    assert_eq!((full.amount_minor, full.remaining_minor), (600, 0));
    let again = m
        .refund(id.clone(), payment.clone(), None, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&again, WalletError::RefundRefused { .. }),
        "{again:?}"
    );

    assert_eq!(
        s.customer
            .wallet
            .account()
            .balance()
            .await
            .unwrap()
            .balance_minor,
        before + 1_000
    );
    assert_eq!(
        s.system
            .admin()
            .account(&s.shop.account_id)
            .await
            .unwrap()
            .balance_minor,
        0
    );
    assert_eq!(s.system.admin().ledger_sum().await.unwrap(), 0);
    let refunds: Vec<_> = s
        .customer
        .wallet
        .account()
        .history(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == HistoryKind::Refund)
        .collect();
    assert_eq!(refunds.iter().map(|e| e.amount_minor).sum::<i64>(), 1_000);

    // The clerk's prompts: the payment, then both refunds.
    let stream = m.prompts();
    assert_eq!(next(&stream).await.speech_text, "Wayfare到账10.00元");
    let r1 = next(&stream).await;
    assert_eq!(
        (r1.event, r1.speech_text.as_str()),
        (MerchantPromptEvent::Refund, "Wayfare退款4.00元")
    );
    assert_eq!(next(&stream).await.speech_text, "Wayfare退款6.00元");
    s.pos.shutdown().await;
}
