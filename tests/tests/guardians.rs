//! Guardians end to end (P1): the consent lifecycle through the core's API,
//! authorization for a third account, alerts with place, time and amount,
//! scope, delivery to an offline guardian across a server restart, and the
//! daily limit under concurrent payments. Real control center, terminals and
//! wallets on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions};
use wayfare_core::{
    BindingRole, BindingStatus, GuardianAlert, GuardianScope, ListenerError, PaymentFailure,
    PaymentOutcome, PaymentRequestInfo, RiderName, TapOutcome, WalletError, WalletEventBody,
    WalletListener,
};
use wayfare_e2e::connect;
use wayfare_terminal::RunningTerminal;

const CNY: &str = "CNY";

/// Boards the tram (flat fare) and pays.
async fn ride(rider: &RiderWallet, tram: &RunningTerminal) -> PaymentOutcome {
    let session = connect(rider, tram).await;
    match session.tap().await.unwrap() {
        TapOutcome::PaymentRequested { .. } => {}
        other => panic!("expected a fare, got {other:?}"),
    }
    session.confirm().await.unwrap()
}

async fn next_alert(stream: &wayfare_core::GuardianAlertStream) -> GuardianAlert {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("no alert within 20 s")
        .unwrap()
}

/// Wall-clock time `HH:MM` at `at_ms` in the transit network's time zone
/// (the harness enrolls terminals at UTC+8).
fn local_hhmm(at_ms: i64) -> String {
    let offset_ms = wayfare_cli::local::LOCAL_UTC_OFFSET_MINUTES * 60_000;
    let minutes = (at_ms + offset_ms).rem_euclid(86_400_000) / 60_000;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[derive(Default)]
struct Recorder {
    alerts: Mutex<Vec<GuardianAlert>>,
}

impl WalletListener for Recorder {
    fn on_payment_request(&self, _r: PaymentRequestInfo) -> Result<(), ListenerError> {
        Ok(())
    }
    fn on_payment_completed(&self, _o: PaymentOutcome) -> Result<(), ListenerError> {
        Ok(())
    }
    fn on_payment_failed(&self, _f: PaymentFailure) -> Result<(), ListenerError> {
        Ok(())
    }
    fn on_guardian_alert(&self, alert: GuardianAlert) -> Result<(), ListenerError> {
        self.alerts.lock().unwrap().push(alert);
        Ok(())
    }
}

#[tokio::test]
async fn consent_lifecycle_authorization_and_revocation_stop_alerts() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let rider = system.rider("Mei", Some("+8613800131234")).await.unwrap();
    let guardian = system.rider("Dad", Some("+8613911112222")).await.unwrap();
    let stranger = system.rider("Eve", None).await.unwrap();
    system.fund(&rider, 10_000).await.unwrap();
    let tram = wayfare_e2e::city_tram(&system).await;
    let (r, g, s) = (
        rider.wallet.guardians(),
        guardian.wallet.guardians(),
        stranger.wallet.guardians(),
    );

    // No binding without the guardian's consent: an invitation alone binds nothing.
    let inv = r
        .create_invitation(GuardianScope::TransitOnly, RiderName::PhoneTail, None)
        .await
        .unwrap();
    assert_eq!(inv.rider_name, "The phone ending 1234");
    assert!(r.bindings(false).await.unwrap().as_rider.is_empty());
    ride(&rider, &tram).await;
    assert!(g.sync_alerts().await.unwrap().is_empty());

    // The rider cannot accept their own invitation.
    // Every wrong code gets one answer, whatever the reason (issue 8.3).
    let err = r.accept_invitation(inv.code.clone()).await.unwrap_err();
    assert!(matches!(err, WalletError::InvitationInvalid), "{err:?}");
    // The guardian accepts (by QR payload); the code is then spent.
    let b = g.accept_invitation(inv.qr_payload.clone()).await.unwrap();
    assert_eq!(
        (b.role, b.status),
        (BindingRole::Guardian, BindingStatus::Active)
    );
    assert_eq!(b.rider_name_zh, "尾号1234的手机");
    let err = s.accept_invitation(inv.code.clone()).await.unwrap_err();
    assert!(matches!(err, WalletError::InvitationInvalid), "{err:?}");

    // An expired invitation is refused.
    let short = r
        .create_invitation(
            GuardianScope::AllPayments,
            RiderName::Nickname {
                nickname: "Mia".into(),
            },
            Some(1),
        )
        .await
        .unwrap();
    while (wayfare_testkit::now_ms() as i64) <= short.expires_at_ms + 5 {
        // Nothing to poll: the clock has to pass the expiry.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = s.accept_invitation(short.code).await.unwrap_err();
    assert!(matches!(err, WalletError::InvitationInvalid), "{err:?}");

    // Both parties see the binding; a third account sees and does nothing.
    let mine = r.bindings(false).await.unwrap();
    assert_eq!(mine.as_rider.len(), 1);
    assert_eq!(mine.as_rider[0].counterpart_name, "Dad");
    let id = mine.as_rider[0].binding_id.clone();
    assert_eq!(
        g.binding(id.clone()).await.unwrap().role,
        BindingRole::Guardian
    );
    let theirs = s.bindings(true).await.unwrap();
    assert!(theirs.as_rider.is_empty() && theirs.as_guardian.is_empty());
    for err in [
        s.binding(id.clone()).await.unwrap_err(),
        s.revoke(id.clone()).await.unwrap_err(),
        s.leave(id.clone()).await.unwrap_err(),
        s.set_daily_limit(id.clone(), Some(1), None)
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, WalletError::NotFound { .. }), "{err:?}");
    }
    // Each side may only do its own actions.
    let err = g.revoke(id.clone()).await.unwrap_err();
    assert!(matches!(err, WalletError::NotPermitted { .. }), "{err:?}");
    let err = r.leave(id.clone()).await.unwrap_err();
    assert!(matches!(err, WalletError::NotPermitted { .. }), "{err:?}");
    let err = r
        .set_daily_limit(id.clone(), Some(100), None)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::NotPermitted { .. }), "{err:?}");

    // Bound: a ride is alerted.
    let paid = ride(&rider, &tram).await;
    let alerts = g.sync_alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].payment_id, paid.payment_id);

    // Revoked: the very next ride makes no alert.
    let revoked = r.revoke(id.clone()).await.unwrap();
    assert_eq!(revoked.status, BindingStatus::Revoked);
    ride(&rider, &tram).await;
    assert!(g.sync_alerts().await.unwrap().is_empty());
    assert_eq!(g.alerts(50).unwrap().len(), 1);
    assert!(g.bindings(false).await.unwrap().as_guardian.is_empty());
    assert_eq!(
        g.bindings(true).await.unwrap().as_guardian[0].status,
        BindingStatus::Revoked
    );
}

#[tokio::test]
async fn a_ride_alert_has_station_direction_time_and_amount_and_scope_holds() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let rider = system.rider("Mei", Some("+8613800131234")).await.unwrap();
    let transit_guardian = system.rider("Dad", None).await.unwrap();
    let all_guardian = system.rider("Gran", None).await.unwrap();
    system.fund(&rider, 10_000).await.unwrap();
    let r = rider.wallet.guardians();
    let inv = r
        .create_invitation(GuardianScope::TransitOnly, RiderName::PhoneTail, None)
        .await
        .unwrap();
    transit_guardian
        .wallet
        .guardians()
        .accept_invitation(inv.code)
        .await
        .unwrap();
    let inv = r
        .create_invitation(
            GuardianScope::AllPayments,
            RiderName::Nickname {
                nickname: "Mia".into(),
            },
            None,
        )
        .await
        .unwrap();
    all_guardian
        .wallet
        .guardians()
        .accept_invitation(inv.code)
        .await
        .unwrap();

    let recorder = Arc::new(Recorder::default());
    transit_guardian.wallet.set_listener(recorder.clone());
    let stream = transit_guardian.wallet.guardians().alert_stream();

    let tram = wayfare_e2e::city_tram(&system).await;
    let paid = ride(&rider, &tram).await;
    let a = next_alert(&stream).await;
    assert_eq!(a.payment_id, paid.payment_id);
    assert_eq!((a.amount_minor, a.currency.as_str()), (200, CNY));
    assert_eq!(a.amount_text, "¥2.00");
    assert_eq!(a.merchant_name, "City Tram");
    let t = a.transit.clone().unwrap();
    assert_eq!(t.station, "Central Square");
    assert_eq!(t.line, "T1");
    assert_eq!(t.vehicle, "tram 1207");
    assert_eq!(
        (t.direction_from.as_str(), t.direction_towards.as_str()),
        ("Harbour", "University")
    );
    // The terminal was enrolled at UTC+8: the alert speaks local time.
    assert_eq!(a.utc_offset, "+08:00");
    let hhmm = local_hhmm(a.at_ms);
    assert_eq!(a.local_time, hhmm);
    assert_eq!(
        a.text_en,
        format!(
            "The phone ending 1234 paid ¥2.00 at {hhmm}, boarding at Central Square on \
             the T1 tram from Harbour towards University."
        )
    );
    assert_eq!(
        a.text_zh,
        format!(
            "尾号1234的手机于{hhmm}支付了¥2.00，在Central Square登上由Harbour开往University的T1有轨电车。"
        )
    );
    assert_eq!(recorder.alerts.lock().unwrap().len(), 1);
    assert!(transit_guardian
        .wallet
        .events()
        .pending(10)
        .unwrap()
        .iter()
        .any(|e| matches!(&e.body, WalletEventBody::GuardianAlert { alert } if alert.alert_id == a.alert_id)));

    // A coffee is out of scope for the transit-only guardian, in scope for "all".
    let cafe = system.merchant("Corner Café", CNY).await.unwrap();
    let pos = system
        .pos_terminal(&cafe, CNY, TerminalOptions::default())
        .await
        .unwrap();
    let (session, _) = wayfare_e2e::ring_up(&rider, &pos, 1_250, "Flat white").await;
    let coffee = session.confirm().await.unwrap();
    let all = all_guardian.wallet.guardians().sync_alerts().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].payment_id, coffee.payment_id);
    assert!(all[1].transit.is_none());
    assert!(all[1].text_en.starts_with("Mia paid ¥12.50 at"));
    assert!(all[1].text_en.ends_with("at Corner Café."));
    // Another ride proves the stream is live; the coffee never came in between.
    let paid = ride(&rider, &tram).await;
    let next = next_alert(&stream).await;
    assert_eq!(next.payment_id, paid.payment_id);
    assert!(transit_guardian
        .wallet
        .guardians()
        .alerts(10)
        .unwrap()
        .iter()
        .all(|a| a.payment_id != coffee.payment_id));
    stream.cancel();
}

#[tokio::test]
async fn an_offline_guardian_gets_three_rides_in_order_once_across_a_server_restart() {
    wayfare_e2e::init();
    let mut system = LocalSystem::start().await.unwrap();
    let (rider, mut guardian) = wayfare_e2e::guarded_rider(&system).await;
    let tram = wayfare_e2e::city_tram(&system).await;

    // The guardian's phone goes offline (app closed).
    guardian.wallet.close().await;
    let mut paid = vec![ride(&rider, &tram).await.payment_id];
    paid.push(ride(&rider, &tram).await.payment_id);
    system.restart_server().await.unwrap();
    paid.push(ride(&rider, &tram).await.payment_id);

    // Back online: the stream resumes and delivers all three, in order.
    guardian.reopen(None).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    guardian.wallet.set_listener(recorder.clone());
    let stream = guardian.wallet.guardians().alert_stream();
    let mut got = Vec::new();
    let mut last = 0;
    for _ in 0..3 {
        let a = next_alert(&stream).await;
        assert!(a.event_id > last);
        last = a.event_id;
        got.push(a.payment_id);
    }
    stream.cancel();
    assert_eq!(got, paid);

    // Once: nothing new on a catch-up, after a restart of the wallet too.
    assert!(guardian
        .wallet
        .guardians()
        .sync_alerts()
        .await
        .unwrap()
        .is_empty());
    guardian.reopen(None).await.unwrap();
    assert!(guardian
        .wallet
        .guardians()
        .sync_alerts()
        .await
        .unwrap()
        .is_empty());
    let kept: Vec<String> = guardian
        .wallet
        .guardians()
        .alerts(50)
        .unwrap()
        .into_iter()
        .map(|a| a.payment_id)
        .collect();
    assert_eq!(kept, paid);
    assert_eq!(recorder.alerts.lock().unwrap().len(), 3);
    let queued = guardian
        .wallet
        .events()
        .pending(50)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.body, WalletEventBody::GuardianAlert { .. }))
        .count();
    assert_eq!(queued, 3);
}

#[tokio::test]
async fn the_daily_limit_holds_under_concurrent_payments() {
    wayfare_e2e::init();
    let system = LocalSystem::start().await.unwrap();
    let rider = system.rider("Mei", Some("+8613800131234")).await.unwrap();
    let guardian = system.rider("Dad", None).await.unwrap();
    system.fund(&rider, 10_000).await.unwrap();
    let inv = rider
        .wallet
        .guardians()
        .create_invitation(GuardianScope::AllPayments, RiderName::PhoneTail, None)
        .await
        .unwrap();
    let b = guardian
        .wallet
        .guardians()
        .accept_invitation(inv.code)
        .await
        .unwrap();
    let b = guardian
        .wallet
        .guardians()
        .set_daily_limit(b.binding_id, Some(1_000), None)
        .await
        .unwrap();
    assert_eq!(b.daily_limit_minor, Some(1_000));
    assert_eq!(
        rider
            .wallet
            .guardians()
            .bindings(false)
            .await
            .unwrap()
            .as_rider[0]
            .daily_limit_minor,
        Some(1_000)
    );

    // Four tills ask for ¥3.00 each at once: only three fit under ¥10.00.
    let cafe = system.merchant("Corner Café", CNY).await.unwrap();
    let mut sessions = Vec::new();
    let mut tills = Vec::new();
    for _ in 0..4 {
        let pos = system
            .pos_terminal(&cafe, CNY, TerminalOptions::default())
            .await
            .unwrap();
        let (session, _) = wayfare_e2e::ring_up(&rider, &pos, 300, "Snack").await;
        sessions.push(session);
        tills.push(pos);
    }
    let results = futures::future::join_all(sessions.iter().map(|s| s.confirm())).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok, 3, "{limited:?}");
    assert_eq!(limited.len(), 1);
    match limited[0] {
        WalletError::GuardianLimitReached { reason } => {
            assert!(
                reason.starts_with("daily limit set by your guardian reached"),
                "{reason}"
            )
        }
        other => panic!("expected GuardianLimitReached, got {other:?}"),
    }
    assert_eq!(rider.balance().await.unwrap(), 10_000 - 900);
    assert_eq!(system.admin().ledger_sum().await.unwrap(), 0);
    assert_eq!(
        tills
            .iter()
            .map(|t| t.status().linkage_activations)
            .sum::<u64>(),
        3
    );
}
