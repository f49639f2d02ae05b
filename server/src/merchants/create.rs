//! `POST /v1/merchants` (admin): a merchant and its settlement account, with
//! the operator it settles under and its settlement fee.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::money::Currency;

use crate::auth::Admin;
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_text, parse_currency, ApiJson};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// A new merchant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMerchant {
    #[schema(schema_with = constraints::text::<100>)]
    name: String,
    #[schema(schema_with = constraints::currency)]
    currency: String,
    /// The operator the merchant settles under (default `default`).
    #[schema(schema_with = constraints::text_or_null::<100>)]
    operator: Option<String>,
    /// Settlement fee in basis points (0 to 10000, default 0).
    #[schema(schema_with = constraints::range_or_null::<0, 10_000>)]
    fee_bps: Option<i64>,
}

/// A created merchant.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedMerchant {
    merchant_id: String,
    account_id: String,
    name: String,
    currency: String,
    operator: String,
    fee_bps: i64,
}

/// `POST /v1/merchants`.
#[utoipa::path(post, path = "/v1/merchants", operation_id = "createMerchant", tag = "merchants",
    summary = "Creates a merchant and its settlement account.",
    security(("adminToken" = [])),
    request_body = NewMerchant,
    responses((status = 201, description = "success", body = CreatedMerchant), Fails<400, 401, 422>))]
pub(crate) async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<NewMerchant>,
) -> Result<(StatusCode, Json<CreatedMerchant>), ApiError> {
    check_text("name", &req.name, 100)?;
    let currency = parse_currency("currency", &req.currency)?;
    let operator = req.operator.clone().unwrap_or_else(|| "default".into());
    check_text("operator", &operator, 100)?;
    let fee_bps = req.fee_bps.unwrap_or(0);
    if !(0..=10_000).contains(&fee_bps) {
        return Err(ApiError::field(
            "fee_bps",
            "must be between 0 and 10000 basis points",
        ));
    }
    let internal = |e: wayfare_protocol::ProtocolError| ApiError::Internal(e.to_string());
    let merchant_id = new_id("mer").map_err(internal)?;
    let account_id = new_id("acc").map_err(internal)?;
    let now = to_i64(now_ms());
    let row = (
        merchant_id.clone(),
        account_id.clone(),
        req.name.clone(),
        currency.code().to_string(),
        operator.clone(),
    );
    state
        .db()
        .write_tx(move |conn| {
            let r = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO accounts (id, kind, display_name, currency, created_at_ms) \
                     VALUES ($1, 'merchant', $2, $3, $4)",
                )
                .bind(r.1.clone())
                .bind(r.2.clone())
                .bind(r.3.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO merchants (id, account_id, name, currency, created_at_ms, \
                     operator_name, fee_bps) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(r.0)
                .bind(r.1)
                .bind(r.2)
                .bind(r.3.clone())
                .bind(now)
                .bind(r.4)
                .bind(fee_bps)
                .execute(&mut *conn)
                .await?;
                // Every payment to the merchant earns points against the
                // loyalty account of its currency: created here once, not
                // checked by every payment.
                let code = Currency::parse(&r.3).map_err(|e| ApiError::Internal(e.to_string()))?;
                crate::points::ledger::loyalty_account(conn, &code, now).await?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(merchant = %redact(&merchant_id), "merchant created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedMerchant {
            merchant_id,
            account_id,
            name: req.name,
            currency: currency.code().to_string(),
            operator,
            fee_bps,
        }),
    ))
}
