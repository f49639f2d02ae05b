//! Guardian bindings, alerts, the device event stream and daily limits
//! against a real server. Every test runs on SQLite, and on PostgreSQL too
//! when WAYFARE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::guardians::{flat_fare, tap_out_fare};
use common::{database_urls, now_ms, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn consent_lifecycle_and_authorization_on_every_endpoint() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let rider = s.phone_numbered("CNY", "+8613800131234").await;
        let guardian = s.phone("CNY").await;
        let stranger = s.phone("CNY").await;

        let inv = s
            .invite(&rider, "transit_only", json!({"shown_as": "phone_tail"}))
            .await;
        assert_eq!(inv["rider_name"], "The phone ending 1234");
        let code_text = inv["code"].as_str().unwrap();
        assert_eq!(code_text.len(), 9, "{inv}");
        let qr = inv["qr_payload"].as_str().unwrap();
        assert!(qr.starts_with("wayfare:guardian-invite:v2:"), "{qr}");
        assert!(!qr.contains(&code_text.replace('-', "")), "{qr}");
        assert!(!inv.to_string().contains("13800131234"));

        // The rider cannot accept their own invitation; a bad code is unknown.
        let (status, body) = s.accept(&rider, code_text).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(code(&body), "invitation_invalid");
        let (status, _) = s.accept(&guardian, "ZZZZ-ZZZZ").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Accepting with the QR payload creates the binding.
        let (status, b) = s
            .accept(&guardian, inv["qr_payload"].as_str().unwrap())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        assert_eq!(b["role"], "guardian");
        assert_eq!(b["status"], "active");
        assert_eq!(b["scope"], "transit_only");
        assert_eq!(b["rider_name_zh"], "尾号1234的手机");
        assert!(!b.to_string().contains("13800131234"));
        let id = b["binding_id"].as_str().unwrap().to_string();

        // Single use: a second accept (by anyone) fails.
        let (status, body) = s.accept(&stranger, code_text).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(code(&body), "invitation_invalid");

        // Already bound: another invitation accepted by the same guardian.
        let inv2 = s
            .invite(
                &rider,
                "all_payments",
                json!({"shown_as": "nickname", "nickname": "Mia"}),
            )
            .await;
        let (status, body) = s.accept(&guardian, inv2["code"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(code(&body), "already_bound");

        // Both parties see it; the stranger sees nothing and can do nothing.
        let (status, list) = s
            .device(&rider, Method::GET, "/v1/guardians/bindings", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["as_rider"][0]["binding_id"], id.as_str());
        assert_eq!(
            list["as_rider"][0]["counterpart_handle"],
            guardian.handle.as_str()
        );
        let (_, list) = s
            .device(&guardian, Method::GET, "/v1/guardians/bindings", None)
            .await;
        assert_eq!(list["as_guardian"][0]["binding_id"], id.as_str());
        let (_, list) = s
            .device(&stranger, Method::GET, "/v1/guardians/bindings", None)
            .await;
        assert_eq!(list, json!({"as_rider": [], "as_guardian": []}));
        let path = format!("/v1/guardians/bindings/{id}");
        for (method, p, body) in [
            (Method::GET, path.clone(), None),
            (Method::POST, format!("{path}/revoke"), None),
            (Method::POST, format!("{path}/leave"), None),
            (
                Method::PUT,
                format!("{path}/limit"),
                Some(json!({"daily_limit_minor": 1})),
            ),
        ] {
            let (status, body) = s.device(&stranger, method.clone(), &p, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {p}: {body}");
        }
        // Each action belongs to one side.
        let (status, _) = s
            .device(&guardian, Method::POST, &format!("{path}/revoke"), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s
            .device(&rider, Method::POST, &format!("{path}/leave"), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s
            .device(
                &rider,
                Method::PUT,
                &format!("{path}/limit"),
                Some(json!({"daily_limit_minor": 100})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, b) = s
            .device(
                &guardian,
                Method::PUT,
                &format!("{path}/limit"),
                Some(json!({"daily_limit_minor": 1500, "utc_offset_minutes": 480})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert_eq!(b["daily_limit_minor"], 1500);
        let (_, seen) = s.device(&rider, Method::GET, &path, None).await;
        assert_eq!(seen["daily_limit_minor"], 1500);
        assert_eq!(seen["role"], "rider");

        // The rider revokes; it cannot be revoked twice; the guardian may not leave it now.
        let (status, b) = s
            .device(&rider, Method::POST, &format!("{path}/revoke"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "revoked");
        let (status, body) = s
            .device(&guardian, Method::POST, &format!("{path}/leave"), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(code(&body), "binding_ended");
        let (_, list) = s
            .device(&rider, Method::GET, "/v1/guardians/bindings", None)
            .await;
        assert_eq!(list["as_rider"], json!([]));
        let (_, list) = s
            .device(
                &rider,
                Method::GET,
                "/v1/guardians/bindings?include_ended=true",
                None,
            )
            .await;
        assert_eq!(list["as_rider"][0]["status"], "revoked");

        // A new invitation after revocation; this time the guardian leaves.
        let id2 = s.bind(&rider, &guardian, "all_payments").await;
        let (status, b) = s
            .device(
                &guardian,
                Method::POST,
                &format!("/v1/guardians/bindings/{id2}/leave"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "left");
    }
}

#[tokio::test]
async fn expired_invitations_and_bad_requests_are_refused() {
    let s = TestServer::start().await;
    let rider = s.phone("CNY").await;
    let guardian = s.phone("CNY").await;
    let inv = s.expired_invitation(&rider, "Leo").await;
    let (status, body) = s.accept(&guardian, inv["code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "invitation_invalid");

    let no_phone_key = wayfare_protocol::keys::SigningKey::generate().unwrap();
    let reg = json!({"display_name": "Kid", "device_key": no_phone_key.public_key().to_base64()})
        .to_string();
    let (status, kid) = s
        .api()
        .send(
            &no_phone_key,
            "register",
            Method::POST,
            "/v1/devices",
            reg.as_bytes(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let kid = common::Phone {
        key: no_phone_key,
        device_id: kid["device_id"].as_str().unwrap().into(),
        account_id: kid["account_id"].as_str().unwrap().into(),
        handle: kid["handle"].as_str().unwrap().into(),
        currency: "CNY".into(),
    };
    for body in [
        json!({"scope": "transit_only", "shown_as": "phone_tail"}),
        json!({"scope": "everything", "shown_as": "nickname", "nickname": "x"}),
        json!({"scope": "transit_only", "shown_as": "nickname"}),
        json!({"scope": "transit_only", "shown_as": "nickname", "nickname": "x", "expires_in_s": 0}),
        json!({"scope": "transit_only", "shown_as": "nickname", "nickname": "x", "extra": 1}),
    ] {
        let (status, answer) = s
            .device(
                &kid,
                Method::POST,
                "/v1/guardians/invitations",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    let (status, _) = s
        .device(&kid, Method::GET, "/v1/guardians/bindings/bnd_nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn transit_alerts_have_place_time_and_amount_and_respect_scope() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let rider = s.phone_numbered("CNY", "+8613800131234").await;
        let transit_guardian = s.phone("CNY").await;
        let all_guardian = s.phone("CNY").await;
        s.top_up(&rider.account_id, 10_000, "CNY").await;
        s.bind(&rider, &transit_guardian, "transit_only").await;
        let inv = s
            .invite(
                &rider,
                "all_payments",
                json!({"shown_as": "nickname", "nickname": "Mia"}),
            )
            .await;
        let (status, _) = s.accept(&all_guardian, inv["code"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);

        let tram_co = s.merchant("CNY").await;
        let tram = s.tram_terminal(&tram_co, "Central", 480).await;
        let (status, paid) = s
            .pay_fare(&rider, &tram, "fare-1", 200, Some(flat_fare("Central", 4)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");

        let alerts = s.alerts(&transit_guardian).await;
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a["payment_id"], paid["payment_id"]);
        assert_eq!(a["amount_minor"], 200);
        assert_eq!(a["currency"], "CNY");
        assert_eq!(a["transit"]["station"], "Central");
        assert_eq!(a["transit"]["direction_from"], "Airport");
        assert_eq!(a["transit"]["direction_towards"], "Harbour");
        assert_eq!(a["utc_offset"], "+08:00");
        let at = paid["completed_at_ms"].as_i64().unwrap();
        let local = (at + 480 * 60_000).rem_euclid(86_400_000) / 60_000;
        let hhmm = format!("{:02}:{:02}", local / 60, local % 60);
        assert_eq!(a["local_time"], hhmm.as_str());
        assert_eq!(
            a["text_en"],
            format!(
                "The phone ending 1234 paid ¥2.00 at {hhmm}, boarding at Central on the T1 tram \
                 from Airport towards Harbour."
            )
        );
        assert_eq!(
            a["text_zh"],
            format!("尾号1234的手机于{hhmm}支付了¥2.00，在Central登上由Airport开往Harbour的T1有轨电车。")
        );
        let mia = s.alerts(&all_guardian).await;
        assert!(mia[0]["text_en"]
            .as_str()
            .unwrap()
            .starts_with("Mia paid ¥2.00"));

        // A shop purchase: out of scope for the transit-only guardian.
        let shop = s.merchant("CNY").await;
        let till = s.terminal(&shop).await;
        let (status, _) = s.pay_fare(&rider, &till, "coffee-1", 1_250, None).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(s.alerts(&transit_guardian).await.len(), 1);
        let mia = s.alerts(&all_guardian).await;
        assert_eq!(mia.len(), 2);
        assert!(mia[0]["text_en"].as_str().unwrap().contains("¥12.50"));
        assert!(mia[0]["text_en"]
            .as_str()
            .unwrap()
            .ends_with("at Corner Café."));
        assert!(mia[0]["transit"].is_null());

        // A tap-out ride names where it began and ended.
        let exit = s.tram_terminal(&tram_co, "Harbour", 480).await;
        let fare = tap_out_fare(
            "Central",
            "Harbour",
            &wayfare_protocol::ids::new_id("tap").unwrap(),
            now_ms() - 600_000,
        );
        let (status, body) = s.pay_fare(&rider, &exit, "fare-2", 300, Some(fare)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let a = &s.alerts(&transit_guardian).await[0];
        assert_eq!(a["transit"]["mode"], "tap_out");
        assert_eq!(a["transit"]["entry"]["station"], "Central");
        assert_eq!(a["transit"]["station"], "Harbour");
        let en = a["text_en"].as_str().unwrap();
        assert!(
            en.contains("boarding at Central at") && en.contains("leaving at Harbour"),
            "{en}"
        );

        // Revoking stops alerts at once.
        let (_, list) = s
            .device(&rider, Method::GET, "/v1/guardians/bindings", None)
            .await;
        for b in list["as_rider"].as_array().unwrap() {
            let id = b["binding_id"].as_str().unwrap();
            let (status, _) = s
                .device(
                    &rider,
                    Method::POST,
                    &format!("/v1/guardians/bindings/{id}/revoke"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, _) = s
            .pay_fare(&rider, &tram, "fare-3", 200, Some(flat_fare("Central", 4)))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(s.alerts(&transit_guardian).await.len(), 2);
        assert_eq!(s.alerts(&all_guardian).await.len(), 3);
    }
}

#[tokio::test]
async fn the_device_stream_resumes_after_the_last_seen_id_across_a_restart() {
    let s = TestServer::start().await;
    let rider = s.phone("CNY").await;
    let guardian = s.phone("CNY").await;
    s.top_up(&rider.account_id, 10_000, "CNY").await;
    s.bind(&rider, &guardian, "transit_only").await;
    let tram_co = s.merchant("CNY").await;
    let tram = s.tram_terminal(&tram_co, "Central", 0).await;

    // Online: the first ride arrives live.
    let mut live = s.device_stream(&guardian, None).await;
    let (status, _) = s
        .pay_fare(&rider, &tram, "ride-0", 200, Some(flat_fare("Central", 4)))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let first = live.next().await;
    assert_eq!(first.event, "guardian.alert");
    drop(live);

    // Offline for three rides, with a server restart in between.
    for i in 1..=2 {
        let (status, _) = s
            .pay_fare(
                &rider,
                &tram,
                &format!("ride-{i}"),
                200 + i,
                Some(flat_fare("Central", 4)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let s = s.restart().await;
    let (status, _) = s
        .pay_fare(&rider, &tram, "ride-3", 203, Some(flat_fare("Central", 4)))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut resumed = s.device_stream(&guardian, Some(first.number())).await;
    let mut amounts = Vec::new();
    let mut last = first.number();
    for _ in 0..3 {
        let e = resumed.next().await;
        assert!(e.number() > last, "ids increase");
        last = e.number();
        amounts.push(e.data["amount_minor"].as_i64().unwrap());
    }
    assert_eq!(amounts, [201, 202, 203]);
    // Without Last-Event-ID a new device gets everything from the start.
    let mut fresh = s.device_stream(&guardian, None).await;
    assert_eq!(fresh.next().await.id, first.id);
    // A bad Last-Event-ID is a clear error.
    let path = "/v1/devices/me/events";
    let (status, body) = s
        .api()
        .send(
            &guardian.key,
            &guardian.device_id,
            Method::GET,
            path,
            b"",
            &[("last-event-id", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn the_daily_limit_holds_under_concurrent_payments() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let rider = s.phone("CNY").await;
        let guardian = s.phone("CNY").await;
        s.top_up(&rider.account_id, 100_000, "CNY").await;
        let id = s.bind(&rider, &guardian, "transit_only").await;
        let (status, _) = s
            .device(
                &guardian,
                Method::PUT,
                &format!("/v1/guardians/bindings/{id}/limit"),
                Some(json!({"daily_limit_minor": 1_000})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let merchant = s.merchant("CNY").await;
        let terminal = s.terminal(&merchant).await;
        let s = std::sync::Arc::new(s);
        let rider = std::sync::Arc::new(rider);
        let terminal = std::sync::Arc::new(terminal);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (s, rider, terminal) = (s.clone(), rider.clone(), terminal.clone());
            tasks.push(tokio::spawn(async move {
                s.pay_fare(&rider, &terminal, &format!("o-{i}"), 300, None)
                    .await
            }));
        }
        let (mut ok, mut limited) = (0, 0);
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::CREATED => ok += 1,
                StatusCode::PAYMENT_REQUIRED => {
                    assert_eq!(code(&body), "guardian_limit_reached");
                    assert!(body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("daily limit set by your guardian reached"));
                    limited += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!((ok, limited), (3, 9));
        assert_eq!(s.balance(&rider.account_id).await, 100_000 - 900);
        assert_eq!(s.ledger_check().await["balance_mismatches"], 0);
        // A smaller payment still fits under the limit.
        let (status, _) = s.pay_fare(&rider, &terminal, "o-small", 100, None).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = s.pay_fare(&rider, &terminal, "o-over", 1, None).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }
}

#[tokio::test]
async fn a_tap_in_token_pays_one_trip_only() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let rider = s.phone("CNY").await;
        s.top_up(&rider.account_id, 10_000, "CNY").await;
        let tram_co = s.merchant("CNY").await;
        let exit_a = s.tram_terminal(&tram_co, "Harbour", 0).await;
        let exit_b = s.tram_terminal(&tram_co, "Museum", 0).await;
        let entry_at = now_ms() - 60_000;
        let token_id = wayfare_protocol::ids::new_id("tap").unwrap();
        let fare = tap_out_fare("Central", "Harbour", &token_id, entry_at);
        let (ins, idem) =
            rider.instruction_with_fare(&exit_a, "x-1", 300, now_ms() + 60_000, Some(fare.clone()));
        let (status, first) = s.pay(&rider, &ins, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        // The same order retried is the same payment, not a reuse.
        let (status, replay) = s.pay(&rider, &ins, &idem).await;
        assert_eq!(status, StatusCode::OK, "{replay}");
        // Another exit terminal, another order, same token: refused.
        let fare_b = tap_out_fare("Central", "Museum", &token_id, entry_at);
        let (status, body) = s.pay_fare(&rider, &exit_b, "x-2", 300, Some(fare_b)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(code(&body), "tap_in_token_used");
        assert_eq!(s.balance(&rider.account_id).await, 10_000 - 300);
        // A tap-out without its entry is malformed.
        let mut no_entry = fare.clone();
        no_entry.entry = None;
        let (status, _) = s
            .pay_fare(&rider, &exit_b, "x-3", 300, Some(no_entry))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
