//! The scene shared by the merchant tests: a server, a merchant with a
//! terminal, a funded payer and the merchant's owner phone.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{shop, Merchant, Phone, Terminal, TestServer};
use wayfare_testkit::sse::SseReader;

pub const ALL_OPS: [&str; 3] = ["receive_prompts", "view_history", "refund"];
pub const ALL_ATTRS: [&str; 7] = [
    "order_id",
    "payer_name",
    "payee_name",
    "payment_type",
    "amount",
    "time",
    "payment_platform",
];

/// The JSON keys an attribute scope governs.
pub fn keys_of(attr: &str) -> &'static [&'static str] {
    match attr {
        "order_id" => &["order_id"],
        "payer_name" => &["payer_name"],
        "payee_name" => &["payee_name"],
        "payment_type" => &["payment_type"],
        "amount" => &["amount_minor", "currency"],
        "time" => &["at_ms"],
        "payment_platform" => &["payment_platform"],
        other => panic!("unknown attribute {other}"),
    }
}

pub struct Scene {
    pub s: TestServer,
    pub merchant: Merchant,
    pub terminal: Terminal,
    pub payer: Phone,
    pub owner: Phone,
}

pub async fn scene(url: Option<String>) -> Scene {
    scene_on(TestServer::start_with(url).await).await
}

/// The operator makes `owner` the owner of `merchant` (English prompts);
/// it must succeed. Answers the new membership.
pub async fn attach_owner(s: &TestServer, merchant: &Merchant, owner: &Phone) -> Value {
    let (status, body) = s
        .admin(
            Method::POST,
            &format!("/v1/merchants/{}/owner", merchant.merchant_id),
            Some(json!({"account_id": owner.account_id, "locale": "en"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The scene on a server already started (with options of its own).
pub async fn scene_on(s: TestServer) -> Scene {
    let (merchant, terminal, payer) = shop(&s, 100_000).await;
    let owner = s.phone("CNY").await;
    let body = attach_owner(&s, &merchant, &owner).await;
    assert_eq!(body["role"], "owner");
    Scene {
        s,
        merchant,
        terminal,
        payer,
        owner,
    }
}

impl Scene {
    pub fn path(&self, tail: &str) -> String {
        format!("/v1/merchants/{}{tail}", self.merchant.merchant_id)
    }

    pub async fn invite(&self, ops: &[&str], content: &[&str], extra: Value) -> Value {
        let mut body = json!({"operations": ops, "content": content});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, inv) = self
            .s
            .device(
                &self.owner,
                Method::POST,
                &self.path("/invitations"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        inv
    }

    pub async fn accept(&self, phone: &Phone, code: &str) -> (StatusCode, Value) {
        self.s
            .device(
                phone,
                Method::POST,
                "/v1/merchants/invitations/accept",
                Some(json!({ "code": code })),
            )
            .await
    }

    /// A new staff phone with these scopes; returns it and its member id.
    pub async fn staff(&self, ops: &[&str], content: &[&str]) -> (Phone, String) {
        let phone = self.s.phone("CNY").await;
        let inv = self.invite(ops, content, json!({})).await;
        let (status, member) = self
            .accept(&phone, inv["qr_payload"].as_str().unwrap())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        (phone, member["member_id"].as_str().unwrap().to_string())
    }

    pub async fn pay(&self, order: &str, amount: u64) -> String {
        let (ins, idem) = self.payer.instruction(&self.terminal, order, amount);
        let (status, body) = self.s.pay(&self.payer, &ins, &idem).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["payment_id"].as_str().unwrap().to_string()
    }

    pub async fn refund(&self, by: &Phone, body: Value) -> (StatusCode, Value) {
        self.s
            .device(by, Method::POST, &self.path("/refunds"), Some(body))
            .await
    }
}

/// The next merchant prompt on a stream (other kinds skipped).
pub async fn next_prompt(reader: &mut SseReader) -> (i64, Value) {
    loop {
        let e = reader.next().await;
        if e.event == "merchant.prompt" {
            return (e.number(), e.data);
        }
    }
}
