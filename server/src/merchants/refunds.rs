//! Refunds and the merchant's payment history. A refund is one transaction:
//! a conditional update of the payment's refunded amount (so concurrent
//! refunds can never exceed what was paid), a double-entry movement from
//! the merchant back to the payer (kind `refund`, linked to the payment, so
//! the rider's history shows it), the refund row and its prompts. A
//! payment partly paid with points gets both back in proportion: points to
//! the rider, their value to the operator's loyalty account (`points`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AssertSqlSafe};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::money::Currency;

use super::prompts::{fan_out, PromptFacts, NATIVE_PLATFORM};
use super::scopes::{Attribute, Operation};
use super::{member_with, Member};
use crate::auth::{Device, Signed};
use crate::db::{is_unique_violation, lock_clause, now_ms, to_i64, RowLock};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, parse_amount, ApiPath, ApiQuery};
use crate::ledger::{self, Leg, Movement};
use crate::openapi::{constraints, Fails};
use crate::points::ledger::loyalty_account_id;
use crate::points::refund::RefundPoints;
use crate::points::split::share_of_refund;
use crate::state::AppState;

/// A member's refund of a payment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefundRequest {
    #[schema(schema_with = constraints::id)]
    refund_id: String,
    #[schema(schema_with = constraints::id)]
    payment_id: String,
    #[schema(schema_with = constraints::amount_or_null)]
    amount_minor: Option<serde_json::Number>,
    #[schema(schema_with = reason_or_null)]
    reason: Option<String>,
}

/// A refund's reason: empty, text of at most 200 characters, or `null`.
fn reason_or_null() -> RefOr<Schema> {
    RefOr::T(Schema::AnyOf(
        AnyOfBuilder::new()
            .item(constraints::one_of(&[""]))
            .item(constraints::text::<200>())
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    ))
}

/// The answer to a refund, new or replayed.
#[derive(Serialize, Clone, Debug, ToSchema)]
pub(crate) struct RefundResult {
    refund_id: String,
    payment_id: String,
    amount_minor: i64,
    currency: String,
    refunded_total_minor: i64,
    remaining_minor: i64,
    created_at_ms: i64,
}

/// The payment a refund is for, with who pays it back.
#[derive(sqlx::FromRow)]
struct RefundedPayment {
    payer: String,
    order_id: String,
    amount_minor: i64,
    refunded_minor: i64,
    currency: String,
    merchant_account: String,
    merchant_name: String,
    payer_name: String,
}

/// A refund made before under the same request id.
#[derive(sqlx::FromRow)]
struct EarlierRefund {
    id: String,
    payment_id: String,
    amount_minor: i64,
    currency: String,
    created_at_ms: i64,
}

async fn write_refund(
    conn: &mut AnyConnection,
    member: &Member,
    req_id: &str,
    payment_id: &str,
    amount: Option<i64>,
    reason: &str,
    now: i64,
) -> Result<(RefundResult, Vec<String>, bool), ApiError> {
    let merchant_id = member.merchant_id.clone();
    // The payment row is locked first (PostgreSQL; SQLite runs one writer at
    // a time), so two concurrent refunds of one payment run one after the
    // other and the second sees the first's row: the same refund_id is then
    // answered with the first's result, never a unique violation.
    sqlx::query(AssertSqlSafe(format!(
        "SELECT id FROM payments WHERE id = $1 AND merchant_id = $2{}",
        lock_clause(conn, RowLock::Update)
    )))
    .bind(payment_id.to_string())
    .bind(merchant_id.clone())
    .fetch_optional(&mut *conn)
    .await?;
    let payment: Option<RefundedPayment> = sqlx::query_as(
        "SELECT p.account_id AS payer, p.order_id, p.amount_minor, p.refunded_minor, \
         p.currency, m.account_id AS merchant_account, m.name AS merchant_name, \
         a.display_name AS payer_name FROM payments p \
         JOIN merchants m ON m.id = p.merchant_id JOIN accounts a ON a.id = p.account_id \
         WHERE p.id = $1 AND p.merchant_id = $2",
    )
    .bind(payment_id.to_string())
    .bind(merchant_id.clone())
    .fetch_optional(&mut *conn)
    .await?;
    let existing: Option<EarlierRefund> = sqlx::query_as(
        "SELECT id, payment_id, amount_minor, currency, created_at_ms FROM merchant_refunds \
         WHERE merchant_id = $1 AND request_id = $2",
    )
    .bind(merchant_id.clone())
    .bind(req_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let RefundedPayment {
        payer,
        order_id,
        amount_minor: paid,
        refunded_minor: refunded,
        currency,
        merchant_account,
        merchant_name,
        payer_name,
    } = payment
        .ok_or_else(|| ApiError::NotFound("this merchant has no payment with this id".into()))?;
    if let Some(EarlierRefund {
        id,
        payment_id: pid,
        amount_minor: amt,
        currency: cur,
        created_at_ms: at,
    }) = existing
    {
        if pid != payment_id || amount.is_some_and(|a| a != amt) {
            return Err(ApiError::IdempotencyConflict(
                "this refund_id was already used for a different refund".into(),
            ));
        }
        let result = RefundResult {
            refund_id: id,
            payment_id: pid,
            amount_minor: amt,
            currency: cur,
            refunded_total_minor: refunded,
            remaining_minor: paid - refunded,
            created_at_ms: at,
        };
        return Ok((result, Vec::new(), false));
    }
    let amount = amount.unwrap_or(paid - refunded);
    if amount <= 0 {
        return Err(ApiError::RefundExceedsPayment(
            "this payment was already refunded in full".into(),
        ));
    }
    // One conditional statement: under concurrency, PostgreSQL re-checks it
    // after the row lock and SQLite runs one writer at a time.
    let updated = sqlx::query(
        "UPDATE payments SET refunded_minor = refunded_minor + $1 \
         WHERE id = $2 AND refunded_minor + $1 <= amount_minor",
    )
    .bind(amount)
    .bind(payment_id.to_string())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(ApiError::RefundExceedsPayment(format!(
            "a refund of {amount} minor units exceeds what is left to refund ({} of {paid})",
            paid - refunded
        )));
    }
    // Read back under the row lock: the current total, and the loyalty
    // points the payment earned and spent (with their value), each taken
    // back or returned in proportion to the refund.
    let (refunded_now, points_awarded, points_spent, points_value): (i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT refunded_minor, points_awarded, points_spent, points_value_minor \
             FROM payments WHERE id = $1",
        )
        .bind(payment_id.to_string())
        .fetch_one(&mut *conn)
        .await?;
    let part = |total| share_of_refund(total, refunded_now, amount, paid);
    let back = RefundPoints {
        clawback: part(points_awarded),
        returned: part(points_spent),
        value_minor: part(points_value),
    };
    let refund_id = new_id("ref").map_err(|e| ApiError::Internal(e.to_string()))?;
    let code = Currency::parse(&currency).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut legs = vec![
        Leg {
            account_id: merchant_account,
            amount_minor: -amount,
            require_cover: true,
            points: 0,
            deferred: true,
        },
        Leg {
            account_id: payer.clone(),
            amount_minor: amount - back.value_minor,
            require_cover: false,
            points: 0,
            deferred: false,
        },
    ];
    if back.value_minor > 0 {
        legs.push(Leg {
            account_id: loyalty_account_id(&code),
            amount_minor: back.value_minor,
            require_cover: false,
            points: 0,
            deferred: true,
        });
    }
    ledger::post(
        conn,
        &Movement {
            kind: "refund",
            movement_id: refund_id.clone(),
            payment_id: Some(payment_id.to_string()),
            description: format!("Refund from {merchant_name}"),
            currency: code.clone(),
            at_ms: now,
            legs,
        },
    )
    .await?;
    back.post(conn, &refund_id, payment_id, &payer, &code, now)
        .await?;
    sqlx::query(
        "INSERT INTO merchant_refunds (id, request_id, merchant_id, payment_id, member_id, \
         amount_minor, currency, reason, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(refund_id.clone())
    .bind(req_id.to_string())
    .bind(merchant_id.clone())
    .bind(payment_id.to_string())
    .bind(member.member_id.clone())
    .bind(amount)
    .bind(currency.clone())
    .bind(reason.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let (payment_type,): (String,) = sqlx::query_as(
        "SELECT t.kind FROM payments p JOIN terminals t ON t.id = p.terminal_id WHERE p.id = $1",
    )
    .bind(payment_id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let woken = fan_out(
        conn,
        &PromptFacts {
            event: "refund",
            source_id: refund_id.clone(),
            merchant_id,
            order_id,
            payer_name: Some(payer_name),
            payee_name: merchant_name,
            payment_type,
            amount_minor: amount,
            currency: currency.clone(),
            at_ms: now,
            payment_platform: NATIVE_PLATFORM.into(),
            payment_id: Some(payment_id.to_string()),
            refund_id: Some(refund_id.clone()),
        },
    )
    .await?;
    let result = RefundResult {
        refund_id,
        payment_id: payment_id.to_string(),
        amount_minor: amount,
        currency,
        refunded_total_minor: refunded_now,
        remaining_minor: paid - refunded_now,
        created_at_ms: now,
    };
    Ok((result, woken, true))
}

/// `POST /v1/merchants/{merchant_id}/refunds` (a member with the refund
/// scope): refunds `amount_minor` (default: everything left) of a payment.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/refunds", operation_id = "refundPayment", tag = "merchants",
    summary = "Members with refund: refunds amount_minor of a payment (default: all that is left), crediting the payer and debiting the merchant in one double-entry movement, with prompts. refund_id is the idempotency key (200 on replay, also for a concurrent duplicate; 409 idempotency_conflict for other terms or another payment). More than is left: 409 refund_exceeds_payment. Without the scope: 403 missing_scope.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = RefundRequest,
    responses(
        (status = 201, description = "success", body = RefundResult),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = RefundResult),
        Fails<400, 401, 402, 403, 404, 409, 422>))]
pub(crate) async fn refund(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<RefundResult>), ApiError> {
    let member = member_with(
        &state,
        &merchant_id,
        &request.signer.account_id,
        Operation::Refund,
    )
    .await?;
    let req: RefundRequest = request.json()?;
    check_id("refund_id", &req.refund_id)?;
    check_id("payment_id", &req.payment_id)?;
    let amount = match &req.amount_minor {
        Some(n) => Some(to_i64(parse_amount("amount_minor", n)?)),
        None => None,
    };
    let reason = req.reason.clone().unwrap_or_default();
    if !reason.is_empty() {
        check_text("reason", &reason, 200)?;
    }
    let now = to_i64(now_ms());
    let mut first_attempt = true;
    let (result, woken, created) = loop {
        let args = (
            member.clone(),
            req.refund_id.clone(),
            req.payment_id.clone(),
            reason.clone(),
        );
        let outcome = state
            .db()
            .write_tx(move |conn| {
                let (member, req_id, pid, reason) = args.clone();
                Box::pin(async move {
                    write_refund(conn, &member, &req_id, &pid, amount, &reason, now).await
                })
            })
            .await;
        match outcome {
            // The same refund_id used at the same moment for another
            // payment: the other request committed first; running again
            // answers its result or the conflict.
            Err(e) if first_attempt && is_unique_violation(&e) => first_attempt = false,
            other => break other?,
        }
    };
    for account in &woken {
        state.notify_account(account);
    }
    if !woken.is_empty() {
        // Prompts of members with a push token wait in the outbox.
        state.notify_outbound();
    }
    if created {
        tracing::info!(
            refund = %redact(&result.refund_id),
            payment = %redact(&result.payment_id),
            amount_minor = result.amount_minor,
            "payment refunded"
        );
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)))
}

/// The query of `GET /v1/merchants/{merchant_id}/payments`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    #[param(minimum = 1, maximum = 500, nullable = false)]
    limit: Option<i64>,
}

/// A payment as a member sees it: `payment_id` and only the attributes of
/// the member's content scope.
#[derive(Serialize, ToSchema)]
pub(crate) struct MerchantPayment {
    payment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refunded_minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payee_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_platform: Option<&'static str>,
}

/// The merchant's payments, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct MerchantPayments {
    payments: Vec<MerchantPayment>,
}

/// A payment as the merchant's history shows it.
#[derive(sqlx::FromRow)]
struct HistoryRow {
    id: String,
    order_id: String,
    amount_minor: i64,
    refunded_minor: i64,
    currency: String,
    completed_at_ms: i64,
    payer_name: String,
    payee_name: String,
    payment_type: String,
}

/// `GET /v1/merchants/{merchant_id}/payments?limit=N` (a member with the
/// view_history scope): the merchant's payments, newest first, each with
/// `payment_id` and only the attributes of the device's
/// content scope (`refunded_minor` goes with `amount`).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/payments", operation_id = "merchantPayments", tag = "merchants",
    summary = "Members with view_history: the merchant's payments, newest first (limit 1..500, default 50), each with payment_id and only the attributes of the caller's content scope (refunded_minor goes with amount). Without the scope: 403 missing_scope.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$"), HistoryQuery),
    responses((status = 200, description = "success", body = MerchantPayments), Fails<401, 403, 404, 422>))]
pub(crate) async fn history(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
    request: Signed<Device>,
) -> Result<Json<MerchantPayments>, ApiError> {
    let member = member_with(
        &state,
        &merchant_id,
        &request.signer.account_id,
        Operation::ViewHistory,
    )
    .await?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let rows: Vec<HistoryRow> = sqlx::query_as(
        "SELECT p.id, p.order_id, p.amount_minor, p.refunded_minor, p.currency, \
         p.completed_at_ms, a.display_name AS payer_name, m.name AS payee_name, \
         t.kind AS payment_type FROM payments p \
         JOIN accounts a ON a.id = p.account_id JOIN merchants m ON m.id = p.merchant_id \
         JOIN terminals t ON t.id = p.terminal_id \
         WHERE p.merchant_id = $1 ORDER BY p.completed_at_ms DESC, p.id DESC LIMIT $2",
    )
    .bind(merchant_id)
    .bind(limit)
    .fetch_all(&state.db().pool)
    .await?;
    let s = &member.scopes;
    let payments = rows
        .into_iter()
        .map(|r| {
            let amount = s.sees(Attribute::Amount);
            MerchantPayment {
                payment_id: r.id,
                order_id: s.sees(Attribute::OrderId).then_some(r.order_id),
                amount_minor: amount.then_some(r.amount_minor),
                refunded_minor: amount.then_some(r.refunded_minor),
                currency: amount.then_some(r.currency),
                at_ms: s.sees(Attribute::Time).then_some(r.completed_at_ms),
                payer_name: s.sees(Attribute::PayerName).then_some(r.payer_name),
                payee_name: s.sees(Attribute::PayeeName).then_some(r.payee_name),
                payment_type: s.sees(Attribute::PaymentType).then_some(r.payment_type),
                payment_platform: s
                    .sees(Attribute::PaymentPlatform)
                    .then_some(NATIVE_PLATFORM),
            }
        })
        .collect();
    Ok(Json(MerchantPayments { payments }))
}
