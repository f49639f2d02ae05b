//! Counter and kiosk top-ups (issue 12.1): a top_up terminal's signed cash
//! offer, the rider's signed claim, the float-to-wallet movement once per
//! (terminal, order), the terminal's confirmation and the settlement's
//! cash floats; every refusal moves nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::kiosk_support as support;

use common::{days, now_ms, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{
    assert_ledger_balanced, claim, claim_body, confirm, float_balance, kiosk, kiosk_of_kind,
    operator_key, receipt_key, send, send_raw, sign_offer, top_up, Kiosk,
};
use wayfare_protocol::certificate::TerminalCertificate;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::top_up::{TopUpClaim, TopUpOffer, TopUpReceipt};

#[tokio::test]
async fn a_kiosk_top_up_is_credited_once_and_replayed_with_the_same_receipt() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let merchant = s.merchant("CNY").await;
        let counter = kiosk(&s, &merchant).await;
        let rider = s.phone("CNY").await;
        let other = s.phone_numbered("CNY", "+8613900139000").await;

        let offer = counter.offer("cash-1", 2_500);
        let signed_claim = claim(&rider, &offer);
        let (status, first) = send(&s, &rider, &offer.to_base64(), &signed_claim.to_base64()).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["amount_minor"], 2_500);
        assert_eq!(first["currency"], "CNY");
        assert_eq!(first["balance_minor"], 2_500);
        assert_eq!(s.balance(&rider.account_id).await, 2_500);
        assert_eq!(float_balance(&s, &counter).await, -2_500);
        assert_ledger_balanced(&s).await;

        // The receipt is the server's, for exactly this offer, naming the
        // rider's pseudonym for this merchant.
        let receipt = TopUpReceipt::from_base64(first["receipt"].as_str().unwrap()).unwrap();
        let body = receipt.verify(&receipt_key(&s).await).unwrap();
        body.matches(&counter.offer_body("cash-1", 2_500)).unwrap();
        assert_eq!(body.top_up_id, first["top_up_id"].as_str().unwrap());
        assert!(body.payer.starts_with("pn_"), "{}", body.payer);
        assert!(!body.payer.contains(&rider.account_id));

        // The same claim again, and a fresh claim by the same wallet: the
        // same answer, nothing moves.
        for again in [signed_claim.clone(), claim(&rider, &offer)] {
            let (status, replay) = send(&s, &rider, &offer.to_base64(), &again.to_base64()).await;
            assert_eq!(status, StatusCode::OK, "{replay}");
            assert_eq!(replay["top_up_id"], first["top_up_id"]);
            assert_eq!(replay["receipt"], first["receipt"]);
            assert_eq!(replay["balance_minor"], 2_500);
        }

        // Another wallet claiming the same cash: refused, nothing moves.
        let (status, error) = top_up(&s, &other, &offer).await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["code"], "top_up_already_claimed");
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another wallet"));
        assert_eq!(s.balance(&other.account_id).await, 0);
        assert_eq!(s.balance(&rider.account_id).await, 2_500);
        assert_eq!(float_balance(&s, &counter).await, -2_500);

        // The wallet's history shows one top-up.
        let (status, history) = s
            .device(&rider, Method::GET, "/v1/wallet/history?limit=10", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let entries = history["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{history}");
        assert_eq!(entries[0]["kind"], "top_up");
        assert_eq!(entries[0]["amount_minor"], 2_500);

        // A second offer of the same counter adds up in the same float.
        let (status, second) = top_up(&s, &rider, &counter.offer("cash-2", 1_000)).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_eq!(second["balance_minor"], 3_500);
        assert_eq!(float_balance(&s, &counter).await, -3_500);
        assert_ledger_balanced(&s).await;
    }
}

#[tokio::test]
async fn bad_offers_and_claims_are_refused_and_move_nothing() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let merchant = s.merchant("CNY").await;
        let counter = kiosk(&s, &merchant).await;
        let till = kiosk_of_kind(&s, &merchant, "pos").await;
        let rider = s.phone("CNY").await;
        let thief = s.phone_numbered("CNY", "+8613700137000").await;
        let offer = counter.offer("cash-bad", 2_000);
        let good_claim = claim(&rider, &offer);

        let mut refusals: Vec<(&str, StatusCode, Value)> = Vec::new();
        // Tampered offer: one byte of its signature flipped.
        let mut bytes = offer.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let tampered = TopUpOffer::from_bytes(bytes);
        let (st, b) = send(&s, &rider, &tampered.to_base64(), &good_claim.to_base64()).await;
        refusals.push(("tampered offer", st, b));
        // A claim signed by another key than the device's.
        let forged = TopUpClaim::sign(&thief.key, &claim_body(&rider, &offer)).unwrap();
        let (st, b) = send(&s, &rider, &offer.to_base64(), &forged.to_base64()).await;
        refusals.push(("forged claim", st, b));
        // The rider's claim sent by another device.
        let (st, b) = send(&s, &thief, &offer.to_base64(), &good_claim.to_base64()).await;
        refusals.push(("another device", st, b));
        // A claim of another offer.
        let other_offer = counter.offer("cash-other", 2_000);
        let (st, b) = send(
            &s,
            &rider,
            &offer.to_base64(),
            &claim(&rider, &other_offer).to_base64(),
        )
        .await;
        refusals.push(("claim of another offer", st, b));
        // A claim with another amount than the offer's.
        let mut more = claim_body(&rider, &offer);
        more.amount_minor = 20_000;
        let more = TopUpClaim::sign(&rider.key, &more).unwrap();
        let (st, b) = send(&s, &rider, &offer.to_base64(), &more.to_base64()).await;
        refusals.push(("mismatched amount", st, b));
        // A claim for another wallet than the device's.
        let mut elsewhere = claim_body(&rider, &offer);
        elsewhere.account_id = thief.account_id.clone();
        let elsewhere = TopUpClaim::sign(&rider.key, &elsewhere).unwrap();
        let (st, b) = send(&s, &rider, &offer.to_base64(), &elsewhere.to_base64()).await;
        refusals.push(("another account", st, b));
        // An expired offer.
        let mut stale = counter.offer_body("cash-stale", 2_000);
        stale.created_at_ms = now_ms() - 300_000;
        stale.expires_at_ms = now_ms() - 1_000;
        let stale = sign_offer(&counter.key, stale);
        let (st, b) = top_up(&s, &rider, &stale).await;
        refusals.push(("expired offer", st, b));
        // A POS terminal's offer (its certificate says pos).
        let (st, b) = top_up(&s, &rider, &till.offer("cash-pos", 2_000)).await;
        refusals.push(("pos terminal's offer", st, b));
        // The operator's certificate for a terminal never registered.
        let operator = operator_key(&s);
        let ghost_key = SigningKey::generate().unwrap();
        let mut cert = counter.certificate_body(&operator);
        cert.terminal_id = "term_ghost".into();
        cert.terminal_key = ghost_key.public_key();
        let ghost = Kiosk {
            terminal_id: "term_ghost".into(),
            merchant_id: counter.merchant_id.clone(),
            certificate: TerminalCertificate::issue(&operator, &cert).unwrap(),
            key: ghost_key,
        };
        let (st, b) = top_up(&s, &rider, &ghost.offer("cash-ghost", 2_000)).await;
        refusals.push(("unknown terminal", st, b));
        // A certificate of the registered terminal under a key it no
        // longer holds (revoked or registered again).
        let old_key = SigningKey::generate().unwrap();
        let mut cert = counter.certificate_body(&operator);
        cert.terminal_key = old_key.public_key();
        let rekeyed = Kiosk {
            terminal_id: counter.terminal_id.clone(),
            merchant_id: counter.merchant_id.clone(),
            certificate: TerminalCertificate::issue(&operator, &cert).unwrap(),
            key: old_key,
        };
        let (st, b) = top_up(&s, &rider, &rekeyed.offer("cash-rekeyed", 2_000)).await;
        refusals.push(("revoked terminal key", st, b));
        // Truncated and garbage base64, oversized fields and body, bad JSON.
        let text = offer.to_base64();
        let (st, b) = send(&s, &rider, &text[..text.len() / 2], &good_claim.to_base64()).await;
        refusals.push(("truncated offer", st, b));
        let (st, b) = send(&s, &rider, &offer.to_base64(), "!!not base64!!").await;
        refusals.push(("garbage claim", st, b));
        let (st, b) = send(&s, &rider, &"A".repeat(9_000), &good_claim.to_base64()).await;
        refusals.push(("oversized offer", st, b));
        let huge = json!({"offer": "A".repeat(70_000), "claim": ""}).to_string();
        let (st, b) = send_raw(&s, &rider, huge.as_bytes()).await;
        refusals.push(("oversized body", st, b));
        let (st, b) = send_raw(&s, &rider, b"{\"offer\": ").await;
        refusals.push(("malformed json", st, b));
        let (st, b) = send_raw(&s, &rider, b"{\"offer\": \"x\"}").await;
        refusals.push(("missing claim", st, b));

        let expected = [
            ("tampered offer", StatusCode::UNAUTHORIZED, "bad_signature"),
            ("forged claim", StatusCode::UNAUTHORIZED, "bad_signature"),
            ("another device", StatusCode::FORBIDDEN, "forbidden"),
            (
                "claim of another offer",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                "mismatched amount",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            ("another account", StatusCode::FORBIDDEN, "forbidden"),
            ("expired offer", StatusCode::GONE, "offer_expired"),
            (
                "pos terminal's offer",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                "unknown terminal",
                StatusCode::NOT_FOUND,
                "unknown_terminal",
            ),
            ("revoked terminal key", StatusCode::FORBIDDEN, "forbidden"),
            (
                "truncated offer",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                "garbage claim",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                "oversized offer",
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
            (
                "oversized body",
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
            ("malformed json", StatusCode::BAD_REQUEST, "malformed_json"),
            (
                "missing claim",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
        ];
        assert_eq!(refusals.len(), expected.len());
        for ((what, status, body), (name, want_status, want_code)) in
            refusals.iter().zip(expected.iter())
        {
            assert_eq!(what, name);
            assert_eq!(
                (*status, body["error"]["code"].as_str()),
                (*want_status, Some(*want_code)),
                "{what}: {body}"
            );
            assert!(
                !body["error"]["message"].as_str().unwrap().is_empty(),
                "{what}"
            );
        }
        assert_eq!(
            refusals[7].2["error"]["message"]
                .as_str()
                .map(|m| m.contains("pos")),
            Some(true),
            "{}",
            refusals[7].2
        );

        // Nothing moved anywhere.
        assert_eq!(s.balance(&rider.account_id).await, 0);
        assert_eq!(s.balance(&thief.account_id).await, 0);
        assert_eq!(float_balance(&s, &counter).await, 0);
        assert_ledger_balanced(&s).await;

        // The genuine claim still works afterwards, once.
        let (status, ok) = send(&s, &rider, &offer.to_base64(), &good_claim.to_base64()).await;
        assert_eq!(status, StatusCode::CREATED, "{ok}");
        assert_eq!(s.balance(&rider.account_id).await, 2_000);
    }
}

#[tokio::test]
async fn a_terminal_settles_its_own_top_ups_only() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let merchant = s.merchant("CNY").await;
        let counter = kiosk(&s, &merchant).await;
        let other_counter = kiosk(&s, &merchant).await;
        let rider = s.phone("CNY").await;

        let offer = counter.offer("cash-c", 700);
        let (status, credited) = top_up(&s, &rider, &offer).await;
        assert_eq!(status, StatusCode::CREATED, "{credited}");

        let (status, answer) = confirm(&s, &counter, json!({"order_id": "cash-c"})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["credited"], true);
        assert_eq!(answer["status"], "credited");
        assert_eq!(answer["receipt"], credited["receipt"]);
        assert_eq!(answer["top_up_id"], credited["top_up_id"]);
        assert_eq!(
            (answer["amount_minor"].clone(), answer["currency"].clone()),
            (json!(700), json!("CNY"))
        );

        // An offer still open, then one that closed: open, then final.
        let open = now_ms() + 60_000;
        let (_, answer) = confirm(
            &s,
            &counter,
            json!({"order_id": "cash-open", "expires_at_ms": open}),
        )
        .await;
        assert_eq!(
            (answer["credited"].clone(), answer["status"].clone()),
            (json!(false), json!("open")),
            "{answer}"
        );
        let closed = now_ms() - 10_000;
        let (_, answer) = confirm(
            &s,
            &counter,
            json!({"order_id": "cash-open", "expires_at_ms": closed}),
        )
        .await;
        assert_eq!(answer["status"], "not_credited", "{answer}");
        assert!(answer.get("receipt").is_none());

        // Another terminal never sees this terminal's order.
        let (status, answer) = confirm(
            &s,
            &other_counter,
            json!({"order_id": "cash-c", "expires_at_ms": closed}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["credited"], false);
        assert_eq!(answer["status"], "not_credited");
        assert!(answer.get("receipt").is_none() && answer.get("top_up_id").is_none());

        // Bad input.
        let (status, answer) = confirm(&s, &counter, json!({"order_id": ""})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let (status, answer) = confirm(&s, &counter, json!({"order": "x"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        // A phone cannot ask.
        let (status, _) = s
            .api()
            .send(
                &rider.key,
                &rider.device_id,
                Method::POST,
                "/v1/platform/top-up-confirmations",
                json!({"order_id": "cash-c"}).to_string().as_bytes(),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_settlement_shows_each_cash_float_and_the_days_top_ups() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let merchant = s.merchant("CNY").await;
        let counter = kiosk(&s, &merchant).await;
        let rider = s.phone("CNY").await;
        for (order, amount) in [("day-1", 2_000), ("day-2", 550)] {
            let (status, body) = top_up(&s, &rider, &counter.offer(order, amount)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let date = days::today();
        let (status, day) = s
            .admin(Method::GET, &format!("/v1/settlements?date={date}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{day}");
        assert!(day["records"].is_array());
        let line = day["cash_floats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["terminal_id"] == counter.terminal_id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no cash float for the terminal: {day}"));
        assert_eq!(line["merchant_id"], merchant.merchant_id.as_str());
        assert_eq!(line["merchant_name"], "Corner Café");
        assert_eq!(line["currency"], "CNY");
        assert_eq!(line["top_up_count"], 2);
        assert_eq!(line["top_up_minor"], 2_550);
        assert_eq!(line["float_balance_minor"], -2_550);

        // A past day, before the float existed, lists no float of it.
        let (past, _) = days::unused_past_day();
        let (status, old) = s
            .admin(Method::GET, &format!("/v1/settlements?date={past}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{old}");
        assert!(!old["cash_floats"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["terminal_id"] == counter.terminal_id.as_str()));
    }
}

#[tokio::test]
async fn racing_claims_of_one_offer_are_one_top_up() {
    for url in common::database_urls() {
        let s = TestServer::start_with(url).await;
        let merchant = s.merchant("CNY").await;
        let counter = kiosk(&s, &merchant).await;
        let rider = s.phone("CNY").await;
        let other = s.phone_numbered("CNY", "+8613600136000").await;
        let offer = counter.offer("cash-race", 900);
        let mine: Vec<String> = (0..4).map(|_| claim(&rider, &offer).to_base64()).collect();
        let theirs = claim(&other, &offer).to_base64();
        let offer_text = offer.to_base64();
        let (answers, their_answer) = tokio::join!(
            futures::future::join_all(mine.iter().map(|c| send(&s, &rider, &offer_text, c))),
            send(&s, &other, &offer_text, &theirs)
        );
        let credited_to_rider = answers.iter().any(|(st, _)| *st == StatusCode::CREATED);
        if credited_to_rider {
            assert_eq!(their_answer.0, StatusCode::CONFLICT, "{}", their_answer.1);
            let ids: std::collections::HashSet<_> = answers
                .iter()
                .map(|(_, b)| b["top_up_id"].to_string())
                .collect();
            assert_eq!(ids.len(), 1, "{answers:?}");
            assert_eq!(s.balance(&rider.account_id).await, 900);
            assert_eq!(s.balance(&other.account_id).await, 0);
        } else {
            assert_eq!(their_answer.0, StatusCode::CREATED, "{}", their_answer.1);
            for (status, body) in &answers {
                assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            }
            assert_eq!(s.balance(&other.account_id).await, 900);
            assert_eq!(s.balance(&rider.account_id).await, 0);
        }
        assert_eq!(float_balance(&s, &counter).await, -900);
        assert_ledger_balanced(&s).await;
    }
}
