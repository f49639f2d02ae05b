//! Merchants (P4) over HTTP: content scopes enforced on the wire for every
//! attribute, operation scopes, other merchants, invitations. Runs on
//! SQLite and, when WAYFARE_TEST_DATABASE_URL is set, on PostgreSQL too.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::merchant_scene;

use common::{database_urls, now_ms};
use merchant_scene::{keys_of, next_prompt, scene, ALL_ATTRS, ALL_OPS};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn every_attribute_is_withheld_on_the_wire_without_its_scope() {
    for url in database_urls() {
        let sc = scene(url).await;
        // One staff phone per attribute, holding every other attribute.
        let mut staff = Vec::new();
        for missing in ALL_ATTRS {
            let content: Vec<&str> = ALL_ATTRS.into_iter().filter(|a| *a != missing).collect();
            let (phone, _) = sc.staff(&["receive_prompts", "refund"], &content).await;
            staff.push((missing, phone));
        }
        let payment = sc.pay("ord-wire-1", 1_250).await;
        let (status, _) = sc
            .refund(
                &sc.owner,
                json!({"refund_id": "r-wire", "payment_id": payment, "amount_minor": 250}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) =
            sc.s.device(
                &sc.owner,
                Method::POST,
                &sc.path("/external-notices"),
                Some(
                    json!({"notice_id": "n-wire", "platform": "Alipay", "order_id": "ali-77",
                    "amount_minor": 800, "currency": "CNY", "payer_name": "Ada",
                    "payment_type": "qr_code"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        for (missing, phone) in &staff {
            let mut reader = sc.s.device_stream(phone, None).await;
            for expected in ["payment", "refund", "external"] {
                let (_, data) = next_prompt(&mut reader).await;
                assert_eq!(data["event"], expected, "{data}");
                for key in keys_of(missing) {
                    assert!(data.get(*key).is_none(), "{missing}: {key} sent: {data}");
                }
                for other in ALL_ATTRS.iter().filter(|a| *a != missing) {
                    for key in keys_of(other) {
                        assert!(data.get(*key).is_some(), "{other}: {key} missing: {data}");
                    }
                }
                if *missing == "payer_name" {
                    assert!(
                        !data.to_string().contains("Ada"),
                        "payer's name leaked: {data}"
                    );
                }
            }
        }
        // The owner gets everything.
        let mut reader = sc.s.device_stream(&sc.owner, None).await;
        let (_, data) = next_prompt(&mut reader).await;
        assert_eq!(data["payer_name"], "Ada");
        assert_eq!(data["amount_minor"], 1_250);
        assert_eq!(data["payment_platform"], "Wayfare");
        assert_eq!(data["locale"], "en");
        // A device with only receive_prompts and no content gets no attribute.
        let (bare, _) = sc.staff(&["receive_prompts"], &[]).await;
        sc.pay("ord-wire-2", 100).await;
        let mut reader = sc.s.device_stream(&bare, None).await;
        let (_, data) = next_prompt(&mut reader).await;
        for attr in ALL_ATTRS {
            for key in keys_of(attr) {
                assert!(data.get(*key).is_none(), "{key} sent: {data}");
            }
        }
        assert!(data.get("payment_id").is_none(), "{data}");
        sc.s.server.shutdown().await;
    }
}

#[tokio::test]
async fn scopes_are_enforced_and_other_merchants_see_nothing() {
    for url in database_urls() {
        let sc = scene(url).await;
        let (viewer, viewer_id) = sc
            .staff(&["receive_prompts", "view_history"], &["amount"])
            .await;
        let payment = sc.pay("ord-scope-1", 900).await;

        // No refund scope: a clear refusal, and nothing moved.
        let (status, body) = sc
            .refund(&viewer, json!({"refund_id": "r1", "payment_id": payment}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "missing_scope");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refund"));
        assert_eq!(sc.s.balance(&sc.merchant.account_id).await, 900);

        // History is filtered by content scope too.
        let (status, body) =
            sc.s.device(&viewer, Method::GET, &sc.path("/payments"), None)
                .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let row = &body["payments"][0];
        assert_eq!(row["amount_minor"], 900);
        assert!(
            row.get("payer_name").is_none() && row.get("order_id").is_none(),
            "{row}"
        );

        // Staff can't manage staff or forward notices.
        let (status, _) =
            sc.s.device(&viewer, Method::GET, &sc.path("/staff"), None)
                .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) =
            sc.s.device(
                &viewer,
                Method::POST,
                &sc.path("/invitations"),
                Some(json!({"operations": [], "content": []})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Without view_history: refused.
        let (prompt_only, _) = sc.staff(&["receive_prompts"], &ALL_ATTRS).await;
        let (status, body) =
            sc.s.device(&prompt_only, Method::GET, &sc.path("/payments"), None)
                .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("missing_scope"))
        );

        // Another merchant's owner: this merchant does not exist for it.
        let other = sc.s.merchant("CNY").await;
        let stranger = sc.s.phone("CNY").await;
        let (status, _) =
            sc.s.admin(
                Method::POST,
                &format!("/v1/merchants/{}/owner", other.merchant_id),
                Some(json!({"account_id": stranger.account_id})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, sc.path("/payments"), None),
            (Method::GET, sc.path("/staff"), None),
            (
                Method::POST,
                sc.path("/refunds"),
                Some(json!({"refund_id": "x", "payment_id": payment})),
            ),
            (
                Method::POST,
                sc.path("/invitations"),
                Some(json!({"operations": [], "content": []})),
            ),
            (
                Method::PUT,
                sc.path(&format!("/staff/{viewer_id}")),
                Some(json!({"operations": [], "content": []})),
            ),
            (
                Method::DELETE,
                sc.path(&format!("/staff/{viewer_id}")),
                None,
            ),
            (
                Method::POST,
                sc.path("/external-notices"),
                Some(json!({"notice_id": "n", "platform": "X",
                "order_id": "o", "amount_minor": 1, "currency": "CNY"})),
            ),
        ];
        for (method, path, body) in attempts {
            let (status, answer) = sc.s.device(&stranger, method.clone(), &path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        }
        // ... nor can it refund this merchant's payment through its own merchant.
        let (status, _) =
            sc.s.device(
                &stranger,
                Method::POST,
                &format!("/v1/merchants/{}/refunds", other.merchant_id),
                Some(json!({"refund_id": "y", "payment_id": payment})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Attaching an owner is the operator's: a device signature is not enough.
        let (status, _) =
            sc.s.device(
                &stranger,
                Method::POST,
                &sc.path("/owner"),
                Some(json!({"account_id": stranger.account_id})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // ... and it received no prompt of this merchant (its stream holds nothing).
        let (status, body) =
            sc.s.device(&stranger, Method::GET, "/v1/merchants/mine", None)
                .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["memberships"].as_array().unwrap().len(), 1);
        assert_eq!(
            body["memberships"][0]["merchant_id"],
            other.merchant_id.as_str()
        );
        assert_eq!(sc.s.balance(&sc.merchant.account_id).await, 900);
        sc.s.server.shutdown().await;
    }
}

#[tokio::test]
async fn invitations_expire_are_single_use_and_can_name_the_device() {
    for url in database_urls() {
        let sc = scene(url).await;
        let staff = sc.s.phone("CNY").await;
        // Reused.
        let inv = sc.invite(&ALL_OPS, &ALL_ATTRS, json!({})).await;
        let code = inv["code"].as_str().unwrap();
        assert_eq!(sc.accept(&staff, code).await.0, StatusCode::CREATED);
        let other = sc.s.phone("CNY").await;
        let (status, body) = sc.accept(&other, code).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("invitation_invalid"))
        );
        // Already a member.
        let inv = sc.invite(&ALL_OPS, &[], json!({})).await;
        let (status, body) = sc.accept(&staff, inv["code"].as_str().unwrap()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_member"))
        );
        // Wrong account: the invitation names another device's handle.
        let intended = sc.s.phone("CNY").await;
        let inv = sc
            .invite(
                &["receive_prompts"],
                &[],
                json!({"invitee_handle": intended.handle}),
            )
            .await;
        let (status, body) = sc.accept(&other, inv["code"].as_str().unwrap()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("invitation_invalid"))
        );
        assert_eq!(
            sc.accept(&intended, inv["code"].as_str().unwrap()).await.0,
            StatusCode::CREATED
        );
        // Unknown and malformed codes.
        let (status, _) = sc.accept(&other, "ABCD-EFGH").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = sc.accept(&other, "x").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Bad scopes are refused when inviting.
        let (status, body) =
            sc.s.device(
                &sc.owner,
                Method::POST,
                &sc.path("/invitations"),
                Some(json!({"operations": ["fly"], "content": []})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        // Expired: wait on the clock (not on the system under test).
        let inv = sc
            .invite(&["receive_prompts"], &[], json!({"expires_in_s": 1}))
            .await;
        let expires_at = inv["expires_at_ms"].as_u64().unwrap();
        while now_ms() <= expires_at {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (status, body) = sc.accept(&other, inv["code"].as_str().unwrap()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("invitation_invalid"))
        );
        sc.s.server.shutdown().await;
    }
}
