//! Prompts: one `merchant.prompt` event per authorised device, written in
//! the transaction of the payment, refund or forwarded notice that caused
//! it (the device event stream is the outbox). The server builds each
//! device's JSON from its content scope only: an attribute outside the
//! scope is not sent at all (the key is absent), so an app cannot show
//! what it never received.
//!
//! Every prompt carries `dedupe_key`, the same for every notice of one order
//! of the merchant (native payment, forwarded copies, re-deliveries), so
//! phones and announcers announce only the earliest; the key is a salted
//! hash, so it reveals nothing about the order id.
//!
//! A member with a push token also gets an `outbound_messages` row of the
//! same kind, which the outbox sends only by push (`crate::push`): its text
//! is the head of the prompt ("Wayfare received ¥12.50"), rendered from the
//! member's scoped attributes only, so a push says no more than the stream.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;
use utoipa::ToSchema;
use wayfare_protocol::ids::{hex_lower, new_id, redact, sha256};
use wayfare_protocol::prompt::{render, PromptData};

use super::scopes::{Attribute, Operation};
use super::{active_members, owner, Member};
use crate::auth::{Device, Signed};
use crate::db::exec::{sql, Exec};
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, parse_amount, parse_currency, ApiPath};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The event kind on the device stream.
pub const PROMPT_KIND: &str = "merchant.prompt";
/// The platform name of payments made through Wayfare itself.
pub const NATIVE_PLATFORM: &str = "Wayfare";

/// What a prompt can say, before scoping.
#[derive(Clone, Debug)]
pub struct PromptFacts {
    /// `payment`, `refund` or `external`.
    pub event: &'static str,
    /// `payment`, `refund` or `external`: the table `source_id` is in.
    pub source_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The order id (the terminal's, or the outside platform's).
    pub order_id: String,
    /// The payer's name, when known.
    pub payer_name: Option<String>,
    /// The payee's (merchant's) name.
    pub payee_name: String,
    /// pos / tram / gate, or the outside platform's payment type.
    pub payment_type: String,
    /// Amount of the payment (or of the refund), minor units.
    pub amount_minor: i64,
    /// Currency code.
    pub currency: String,
    /// When it happened (Unix ms).
    pub at_ms: i64,
    /// `Wayfare` or the outside platform's name.
    pub payment_platform: String,
    /// The Wayfare payment, for devices that may refund it.
    pub payment_id: Option<String>,
    /// For refunds: the refund id and what is left refundable.
    pub refund_id: Option<String>,
}

/// The JSON one member receives: only the attributes in its content scope.
pub fn scoped_data(facts: &PromptFacts, member: &Member, locale: &str, key: &str) -> Value {
    let s = &member.scopes;
    let mut m = Map::new();
    m.insert("merchant_id".into(), json!(facts.merchant_id));
    m.insert("event".into(), json!(facts.event));
    m.insert("dedupe_key".into(), json!(key));
    m.insert("locale".into(), json!(locale));
    m.insert("role".into(), json!(member.role));
    if s.sees(Attribute::OrderId) {
        m.insert("order_id".into(), json!(facts.order_id));
    }
    if s.sees(Attribute::PayerName) {
        if let Some(name) = &facts.payer_name {
            m.insert("payer_name".into(), json!(name));
        }
    }
    if s.sees(Attribute::PayeeName) {
        m.insert("payee_name".into(), json!(facts.payee_name));
    }
    if s.sees(Attribute::PaymentType) {
        m.insert("payment_type".into(), json!(facts.payment_type));
    }
    if s.sees(Attribute::Amount) {
        m.insert("amount_minor".into(), json!(facts.amount_minor));
        m.insert("currency".into(), json!(facts.currency));
    }
    if s.sees(Attribute::Time) {
        m.insert("at_ms".into(), json!(facts.at_ms));
    }
    if s.sees(Attribute::PaymentPlatform) {
        m.insert("payment_platform".into(), json!(facts.payment_platform));
    }
    if s.allows(Operation::Refund) {
        if let Some(id) = &facts.payment_id {
            m.insert("payment_id".into(), json!(id));
        }
        if let Some(id) = &facts.refund_id {
            m.insert("refund_id".into(), json!(id));
        }
    }
    Value::Object(m)
}

/// The de-duplication key of an order (payments and notices of the same
/// order share it) or of a refund.
pub fn dedupe_key(salt: &str, facts: &PromptFacts) -> String {
    let subject = match (&facts.refund_id, facts.event) {
        (Some(refund), "refund") => format!("refund:{refund}"),
        _ => format!("order:{}", facts.order_id),
    };
    let digest =
        sha256(format!("wayfare-prompt:v1:{salt}:{}:{subject}", facts.merchant_id).as_bytes());
    hex_lower(&digest[..16])
}

/// Writes one prompt per active member allowed to receive prompts; returns
/// the accounts whose streams to wake after the commit.
pub async fn fan_out(conn: &mut dyn Exec, facts: &PromptFacts) -> Result<Vec<String>, ApiError> {
    let receivers = Receivers::load(conn, &facts.merchant_id).await?;
    receivers.write(conn, facts).await
}

/// The members of a merchant who receive prompts, with the merchant's
/// prompt profile: read (and share-locked) before a payment locks the rows
/// every payment of the merchant shares, so that those locks are held for
/// the fewest statements.
pub struct Receivers {
    members: Vec<Member>,
    locale: String,
    salt: String,
    /// The members' accounts with a push token registered.
    push: Vec<String>,
}

impl Receivers {
    /// Reads the merchant's receiving members and its profile.
    pub async fn load(conn: &mut dyn Exec, merchant_id: &str) -> Result<Self, ApiError> {
        let members: Vec<Member> = active_members(conn, merchant_id)
            .await?
            .into_iter()
            .filter(|m| m.scopes.allows(Operation::ReceivePrompts))
            .collect();
        if members.is_empty() {
            return Ok(Self {
                members,
                locale: String::new(),
                salt: String::new(),
                push: Vec::new(),
            });
        }
        let profile: Option<(String, String)> =
            sql("SELECT locale, dedupe_salt FROM merchant_profiles WHERE merchant_id = $1")
                .bind(merchant_id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        let (locale, salt) = profile.unwrap_or_else(|| ("zh".into(), String::new()));
        let push: Vec<(String,)> = sql("SELECT DISTINCT t.account_id FROM push_tokens t \
             JOIN merchant_members m ON m.account_id = t.account_id \
             WHERE m.merchant_id = $1 AND m.status = 'active'")
        .bind(merchant_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        Ok(Self {
            members,
            locale,
            salt,
            push: push.into_iter().map(|(account,)| account).collect(),
        })
    }

    /// Writes one prompt per receiving member; returns the accounts whose
    /// streams to wake after the commit.
    pub async fn write(
        &self,
        conn: &mut dyn Exec,
        facts: &PromptFacts,
    ) -> Result<Vec<String>, ApiError> {
        if self.members.is_empty() {
            return Ok(Vec::new());
        }
        let key = dedupe_key(&self.salt, facts);
        let mut woken = Vec::with_capacity(self.members.len());
        for member in &self.members {
            let scoped = scoped_data(facts, member, &self.locale, &key);
            if self.push.contains(&member.account_id) {
                queue_push(conn, &member.account_id, &scoped, facts.at_ms).await?;
            }
            let data = scoped.to_string();
            let seq = crate::streams::device::append(
                conn,
                &member.account_id,
                PROMPT_KIND,
                &data,
                facts.at_ms,
            )
            .await?;
            sql(
                "INSERT INTO merchant_prompts (merchant_id, account_id, event_seq, source, source_id, \
                 dedupe_key, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(facts.merchant_id.clone())
            .bind(member.account_id.clone())
            .bind(seq)
            .bind(facts.event)
            .bind(facts.source_id.clone())
            .bind(key.clone())
            .bind(facts.at_ms)
            .execute(&mut *conn)
            .await?;
            woken.push(member.account_id.clone());
        }
        Ok(woken)
    }
}

/// The short texts of a prompt's push, English and Chinese: its head
/// (platform, verb, amount) from the member's scoped attributes, without
/// names or the order id.
pub fn push_texts(scoped: &Value) -> (String, String) {
    match serde_json::from_value::<PromptData>(scoped.clone()) {
        Ok(mut head) => {
            head.payer_name = None;
            head.payee_name = None;
            head.order_id = None;
            (render(&head, "en").display, render(&head, "zh").display)
        }
        Err(_) => ("Payment notice".into(), "收款提醒".into()),
    }
}

/// Queues the push of one prompt for `account_id` (the outbox sends
/// `merchant.prompt` rows by push only).
async fn queue_push(
    conn: &mut dyn Exec,
    account_id: &str,
    scoped: &Value,
    at_ms: i64,
) -> Result<(), ApiError> {
    let (text_en, text_zh) = push_texts(scoped);
    let id = new_id("prm").map_err(|e| ApiError::Internal(e.to_string()))?;
    sql(
        "INSERT INTO outbound_messages (id, kind, account_id, data, next_attempt_at_ms, \
         created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(PROMPT_KIND)
    .bind(account_id.to_string())
    .bind(json!({ "text_en": text_en, "text_zh": text_zh }).to_string())
    .bind(at_ms)
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The facts of a completed payment, for [`fan_out`] inside the payment's
/// transaction (`POST /v1/payments` has them all at hand: no read needed).
pub struct PaidFacts<'a> {
    /// The payment.
    pub payment_id: &'a str,
    /// The merchant paid.
    pub merchant_id: &'a str,
    /// The terminal's order id.
    pub order_id: &'a str,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Currency code.
    pub currency: &'a str,
    /// Completion time (Unix ms).
    pub at_ms: i64,
    /// The payer's display name.
    pub payer_name: &'a str,
    /// The merchant's name.
    pub payee_name: &'a str,
    /// The terminal's kind (`pos`, `tram`, `gate`, …).
    pub terminal_kind: &'a str,
}

/// The prompts of a completed payment, inside the payment's transaction;
/// returns the accounts to wake.
pub async fn on_payment(
    conn: &mut dyn Exec,
    receivers: &Receivers,
    paid: PaidFacts<'_>,
) -> Result<Vec<String>, ApiError> {
    let facts = PromptFacts {
        event: "payment",
        source_id: paid.payment_id.to_string(),
        merchant_id: paid.merchant_id.to_string(),
        order_id: paid.order_id.to_string(),
        payer_name: Some(paid.payer_name.to_string()),
        payee_name: paid.payee_name.to_string(),
        payment_type: paid.terminal_kind.to_string(),
        amount_minor: paid.amount_minor,
        currency: paid.currency.to_string(),
        at_ms: paid.at_ms,
        payment_platform: NATIVE_PLATFORM.into(),
        payment_id: Some(paid.payment_id.to_string()),
        refund_id: None,
    };
    receivers.write(conn, &facts).await
}

/// Withdraws the prompts of `merchant_id` that `account_id` has not read
/// yet and will never read (called when the member is revoked).
pub async fn withdraw(
    conn: &mut AnyConnection,
    merchant_id: &str,
    account_id: &str,
) -> Result<(), ApiError> {
    sqlx::query(
        "DELETE FROM account_events WHERE account_id = $1 AND seq IN \
         (SELECT event_seq FROM merchant_prompts WHERE merchant_id = $2 AND account_id = $1)",
    )
    .bind(account_id.to_string())
    .bind(merchant_id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A payment notice captured from an outside platform.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoticeRequest {
    #[schema(schema_with = constraints::id)]
    notice_id: String,
    #[schema(schema_with = constraints::text::<40>)]
    platform: String,
    #[schema(schema_with = constraints::id)]
    order_id: String,
    #[schema(schema_with = constraints::amount)]
    amount_minor: serde_json::Number,
    #[schema(schema_with = constraints::currency)]
    currency: String,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    payer_name: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    payee_name: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    payment_type: Option<String>,
    paid_at_ms: Option<i64>,
}

/// What a forwarded notice did.
#[derive(Serialize, ToSchema)]
pub(crate) struct NoticeForwarded {
    notice_id: String,
    /// How many member devices were prompted.
    prompts: usize,
    /// The same `notice_id` was forwarded before: nothing fanned out.
    duplicate: bool,
}

/// `POST /v1/merchants/{merchant_id}/external-notices` (owner): a payment
/// notice captured from another platform, fanned out like a native payment
/// (same scopes, same de-duplication key for the same order id). The same
/// `notice_id` again is answered 200 and fans out nothing.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/external-notices", operation_id = "forwardExternalNotice", tag = "merchants",
    summary = "Owner: forwards a payment notice captured from an outside platform (P4 claim 1); fanned out like a payment (same scopes; same dedupe_key as a Wayfare payment of the same order id). The same notice_id again: 200, duplicate true, nothing fanned out.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = NoticeRequest,
    responses(
        (status = 201, description = "success", body = NoticeForwarded),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = NoticeForwarded),
        Fails<400, 401, 403, 404, 422>))]
pub(crate) async fn forward_notice(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<NoticeForwarded>), ApiError> {
    let owner = owner(&state, &merchant_id, &request.signer.account_id).await?;
    let req: NoticeRequest = request.json()?;
    check_id("notice_id", &req.notice_id)?;
    check_id("order_id", &req.order_id)?;
    check_text("platform", &req.platform, 40)?;
    let amount = parse_amount("amount_minor", &req.amount_minor)?;
    let currency = parse_currency("currency", &req.currency)?;
    for (field, value) in [
        ("payer_name", &req.payer_name),
        ("payee_name", &req.payee_name),
        ("payment_type", &req.payment_type),
    ] {
        if let Some(v) = value {
            check_text(field, v, 100)?;
        }
    }
    let now = to_i64(now_ms());
    let (merchant_name,): (String,) = sqlx::query_as("SELECT name FROM merchants WHERE id = $1")
        .bind(merchant_id.clone())
        .fetch_one(&state.db().pool)
        .await?;
    let id = new_id("ntc").map_err(|e| ApiError::Internal(e.to_string()))?;
    let facts = PromptFacts {
        event: "external",
        source_id: id.clone(),
        merchant_id: merchant_id.clone(),
        order_id: req.order_id.clone(),
        payer_name: req.payer_name.clone(),
        payee_name: req.payee_name.clone().unwrap_or(merchant_name),
        payment_type: req
            .payment_type
            .clone()
            .unwrap_or_else(|| "external".into()),
        amount_minor: to_i64(amount),
        currency: currency.code().to_string(),
        at_ms: req.paid_at_ms.filter(|t| *t > 0).unwrap_or(now),
        payment_platform: req.platform.clone(),
        payment_id: None,
        refund_id: None,
    };
    let stored = json!({
        "platform": facts.payment_platform, "order_id": facts.order_id,
        "amount_minor": facts.amount_minor, "currency": facts.currency,
        "payer_name": facts.payer_name, "payee_name": facts.payee_name,
        "payment_type": facts.payment_type, "at_ms": facts.at_ms,
    })
    .to_string();
    let args = (
        facts,
        stored,
        req.notice_id.clone(),
        owner.member_id.clone(),
    );
    let result = state
        .db()
        .write_tx(move |conn| {
            let (facts, stored, request_id, member) = args.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO merchant_external_notices (id, request_id, merchant_id, member_id, \
                     data, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(facts.source_id.clone())
                .bind(request_id)
                .bind(facts.merchant_id.clone())
                .bind(member)
                .bind(stored)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                fan_out(conn, &facts).await
            })
        })
        .await;
    match result {
        Ok(accounts) => {
            for account in &accounts {
                state.notify_account(account);
            }
            if !accounts.is_empty() {
                state.notify_outbound();
            }
            tracing::info!(merchant = %redact(&merchant_id), prompts = accounts.len(), "outside notice fanned out");
            Ok((
                StatusCode::CREATED,
                Json(NoticeForwarded {
                    notice_id: req.notice_id,
                    prompts: accounts.len(),
                    duplicate: false,
                }),
            ))
        }
        Err(e) if is_unique_violation(&e) => Ok((
            StatusCode::OK,
            Json(NoticeForwarded {
                notice_id: req.notice_id,
                prompts: 0,
                duplicate: true,
            }),
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::scopes::Scopes;
    use super::*;

    fn facts() -> PromptFacts {
        PromptFacts {
            event: "payment",
            source_id: "pay_1".into(),
            merchant_id: "mer_1".into(),
            order_id: "o-1".into(),
            payer_name: Some("Mei".into()),
            payee_name: "Corner Café".into(),
            payment_type: "pos".into(),
            amount_minor: 1_250,
            currency: "CNY".into(),
            at_ms: 1_700_000_000_000,
            payment_platform: NATIVE_PLATFORM.into(),
            payment_id: Some("pay_1".into()),
            refund_id: None,
        }
    }

    #[test]
    fn each_attribute_is_absent_without_its_scope() {
        let keys = |a: Attribute| -> &'static [&'static str] {
            match a {
                Attribute::OrderId => &["order_id"],
                Attribute::PayerName => &["payer_name"],
                Attribute::PayeeName => &["payee_name"],
                Attribute::PaymentType => &["payment_type"],
                Attribute::Amount => &["amount_minor", "currency"],
                Attribute::Time => &["at_ms"],
                Attribute::PaymentPlatform => &["payment_platform"],
            }
        };
        for missing in Attribute::ALL {
            let mut scopes = Scopes::all();
            scopes.content.remove(&missing);
            let member = Member {
                member_id: "m".into(),
                merchant_id: "mer_1".into(),
                account_id: "a".into(),
                role: "staff".into(),
                scopes,
            };
            let data = scoped_data(&facts(), &member, "en", "k");
            let text = data.to_string();
            for key in keys(missing) {
                assert!(data.get(*key).is_none(), "{key} leaked: {text}");
            }
            for other in Attribute::ALL.into_iter().filter(|a| *a != missing) {
                for key in keys(other) {
                    assert!(data.get(*key).is_some(), "{key} missing: {text}");
                }
            }
        }
    }

    #[test]
    fn the_key_is_shared_by_an_order_and_differs_per_refund() {
        let a = facts();
        let mut b = facts();
        b.event = "external";
        b.payment_platform = "Alipay".into();
        assert_eq!(dedupe_key("s", &a), dedupe_key("s", &b));
        assert_ne!(dedupe_key("s", &a), dedupe_key("t", &a));
        let mut r = facts();
        r.event = "refund";
        r.refund_id = Some("ref_1".into());
        assert_ne!(dedupe_key("s", &a), dedupe_key("s", &r));
        assert!(!dedupe_key("s", &a).contains("o-1"));
    }
}
