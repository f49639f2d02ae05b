//! Merchants' points rates: what one loyalty point is worth at a merchant
//! and how much of a payment points may cover. The operator sets them
//! (`PUT /v1/admin/merchants/{merchant_id}/points-rate`); a rider's app
//! reads them (`GET /v1/merchants/{merchant_id}/points-rate`) to show the
//! split before the rider confirms.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use utoipa::ToSchema;
use wayfare_protocol::ids::redact;

use crate::auth::{Admin, Device, Signed};
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, ApiJson, ApiPath};
use crate::openapi::Fails;
use crate::state::AppState;

/// The default cap: points may pay a whole payment.
pub(crate) const FULL_SHARE_BPS: u64 = 10_000;

/// A merchant's points rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Minor units one point is worth (0: points not taken).
    pub minor_per_point: u64,
    /// Largest share of a payment points may cover (basis points).
    pub max_share_bps: u64,
}

/// The rate of `merchant_id`, if the operator set one.
pub(crate) async fn find(pool: &AnyPool, merchant_id: &str) -> Result<Option<Rate>, ApiError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT minor_per_point, max_share_bps FROM points_rates WHERE merchant_id = $1",
    )
    .bind(merchant_id.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(rate, cap)| Rate {
        minor_per_point: to_u64(rate),
        max_share_bps: to_u64(cap),
    }))
}

/// The body of `PUT /v1/admin/merchants/{merchant_id}/points-rate`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetRate {
    /// Minor units one point is worth; 0 stops the merchant taking points.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    minor_per_point: i64,
    /// Largest share of a payment points may cover, 1..=10000 basis points
    /// (default 10000).
    #[schema(minimum = 1, maximum = 10_000)]
    max_share_bps: Option<i64>,
}

/// A merchant's rate as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = PointsRate)]
pub(crate) struct RateView {
    merchant_id: String,
    currency: String,
    accepts_points: bool,
    minor_per_point: u64,
    max_share_bps: u64,
}

/// The merchant's settlement currency, or `unknown_merchant`.
async fn merchant_currency(pool: &AnyPool, merchant_id: &str) -> Result<String, ApiError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT currency FROM merchants WHERE id = $1")
        .bind(merchant_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|(c,)| c).ok_or_else(|| {
        ApiError::UnknownMerchant(format!("merchant {} does not exist", redact(merchant_id)))
    })
}

fn view(merchant_id: String, currency: String, rate: Option<Rate>) -> RateView {
    let rate = rate.unwrap_or(Rate {
        minor_per_point: 0,
        max_share_bps: FULL_SHARE_BPS,
    });
    RateView {
        merchant_id,
        currency,
        accepts_points: rate.minor_per_point > 0,
        minor_per_point: rate.minor_per_point,
        max_share_bps: rate.max_share_bps,
    }
}

/// `PUT /v1/admin/merchants/{merchant_id}/points-rate` (admin): sets (or,
/// with 0, withdraws) the merchant's points rate. Payments already made
/// keep the value they were charged at.
#[utoipa::path(put, path = "/v1/admin/merchants/{merchant_id}/points-rate", operation_id = "setPointsRate", tag = "points",
    summary = "Sets what one loyalty point pays at the merchant (minor units; 0 = the merchant takes no points) and the largest share of a payment points may pay (basis points, default 10000). Payments already made keep their value.",
    security(("adminToken" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = SetRate,
    responses((status = 200, description = "success", body = RateView), Fails<400, 401, 404, 422>))]
pub(crate) async fn set(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(merchant_id): ApiPath<String>,
    ApiJson(req): ApiJson<SetRate>,
) -> Result<Json<RateView>, ApiError> {
    check_id("merchant_id", &merchant_id)?;
    if !(0..=1_000_000_000).contains(&req.minor_per_point) {
        return Err(ApiError::field(
            "minor_per_point",
            "must be between 0 and 1000000000 minor units",
        ));
    }
    let cap = req.max_share_bps.unwrap_or(to_i64(FULL_SHARE_BPS));
    if !(1..=10_000).contains(&cap) {
        return Err(ApiError::field(
            "max_share_bps",
            "must be between 1 and 10000 basis points",
        ));
    }
    let pool = &state.db().pool;
    let currency = merchant_currency(pool, &merchant_id).await?;
    let row = (
        merchant_id.clone(),
        req.minor_per_point,
        cap,
        to_i64(now_ms()),
    );
    state
        .db()
        .write_tx(move |conn| {
            let (merchant, rate, cap, now) = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO points_rates (merchant_id, minor_per_point, max_share_bps, \
                     updated_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id) DO UPDATE \
                     SET minor_per_point = excluded.minor_per_point, \
                     max_share_bps = excluded.max_share_bps, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(merchant)
                .bind(rate)
                .bind(cap)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(
        merchant = %redact(&merchant_id),
        minor_per_point = req.minor_per_point,
        max_share_bps = cap,
        "points rate set"
    );
    let rate = Rate {
        minor_per_point: to_u64(req.minor_per_point),
        max_share_bps: to_u64(cap),
    };
    Ok(Json(view(merchant_id, currency, Some(rate))))
}

/// `GET /v1/merchants/{merchant_id}/points-rate` (any registered device):
/// the merchant's rate, so the app can show the split before confirming.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/points-rate", operation_id = "pointsRate", tag = "points",
    summary = "The merchant's points rate, for the app to show how a payment would split between points and money before the rider confirms. accepts_points is false (minor_per_point 0) when no rate is set.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = RateView), Fails<401, 404>))]
pub(crate) async fn get(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    _request: Signed<Device>,
) -> Result<Json<RateView>, ApiError> {
    let pool = &state.db().pool;
    let currency = merchant_currency(pool, &merchant_id).await?;
    let rate = find(pool, &merchant_id).await?;
    Ok(Json(view(merchant_id, currency, rate)))
}
