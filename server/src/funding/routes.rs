//! The rider's and the operator's top-up endpoints: start a top-up
//! (`POST /v1/top-ups`), follow it (`GET /v1/top-ups/{reference}`), list
//! the providers (`GET /v1/top-ups/providers`) and, for the operator, the
//! intents by status (`GET /v1/admin/top-ups`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};
use wayfare_protocol::ids::{new_id, redact};

use super::config::{Provider, ProviderKind, Providers};
use super::events;
use super::store::{self, Intent};
use crate::auth::{Admin, Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_id, parse_amount, parse_currency, ApiPath, ApiQuery};
use crate::ledger;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;
use crate::top_ups::{self, Channel, Credit};

/// `POST /v1/top-ups` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    provider: String,
    #[schema(schema_with = constraints::amount)]
    amount_minor: serde_json::Number,
    #[schema(schema_with = constraints::currency)]
    currency: String,
    #[schema(schema_with = constraints::id)]
    idempotency_key: String,
}

/// A top-up as the rider's app (and, with `account_id` and
/// `provider_reference`, the operator) sees it.
#[derive(Serialize, ToSchema)]
pub(crate) struct TopUpView {
    reference: String,
    provider: String,
    #[schema(schema_with = shown_status)]
    status: String,
    amount_minor: i64,
    currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_up_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    created_at_ms: i64,
    expires_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at_ms: Option<i64>,
    /// The operator's list only.
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    /// The operator's list only (`null` until the provider named one).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    provider_reference: Option<Option<String>>,
}

/// `Intent::shown_status`'s values.
fn shown_status() -> RefOr<Schema> {
    constraints::one_of(&["pending", "confirmed", "failed", "expired"])
}

/// What the rider's app sees of `intent` at `now_ms`.
fn view(intent: &Intent, now_ms: i64) -> TopUpView {
    TopUpView {
        reference: intent.reference.clone(),
        provider: intent.provider.clone(),
        status: intent.shown_status(now_ms).to_string(),
        amount_minor: intent.amount_minor,
        currency: intent.currency.clone(),
        checkout_url: intent.checkout_url.clone(),
        top_up_id: intent.top_up_id.clone(),
        failure_reason: intent.failure_reason.clone(),
        created_at_ms: intent.created_at_ms,
        expires_at_ms: intent.expires_at_ms,
        completed_at_ms: intent.completed_at_ms,
        account_id: None,
        provider_reference: None,
    }
}

/// `POST /v1/top-ups` (device): starts a top-up. A checkout provider's
/// answer is pending with the link where the rider pays; the sandbox
/// provider confirms at once. The same idempotency key again answers 200
/// with the intent as it is now; with other terms, 409.
#[utoipa::path(post, path = "/v1/top-ups", operation_id = "startTopUp", tag = "funding",
    summary = "Starts an over-the-air top-up through a configured funding provider. A checkout provider answers 201 pending with the checkout_url where the rider pays; money moves only when the provider's signed callback confirms it (then the device stream carries top_up.completed or top_up.failed). The SANDBOX provider (operator test money) answers 201 confirmed. The same idempotency_key again answers 200 with the top-up as it is now; with another provider, amount or currency, 409 idempotency_conflict. Unknown provider 404; a currency the provider or the wallet does not take 422.",
    security(("deviceSignature" = [])),
    request_body = StartRequest,
    responses(
        (status = 201, description = "success", body = TopUpView),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = TopUpView),
        Fails<400, 401, 404, 409, 422>))]
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(providers): Extension<Providers>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<TopUpView>), ApiError> {
    let req: StartRequest = request.json()?;
    check_id("idempotency_key", &req.idempotency_key)?;
    let amount = parse_amount("amount_minor", &req.amount_minor)?;
    let currency = parse_currency("currency", &req.currency)?;
    let provider = providers.get(&req.provider).ok_or_else(|| {
        ApiError::NotFound(format!(
            "provider: no funding provider {:?} is configured on this server",
            req.provider.chars().take(40).collect::<String>()
        ))
    })?;
    if !provider.currencies.contains(&currency) {
        return Err(ApiError::UnsupportedCurrency(format!(
            "currency: provider {} does not take {currency}",
            provider.id
        )));
    }
    let device = request.signer;
    let now = to_i64(now_ms());
    let reference = new_id("fi").map_err(|e| ApiError::Internal(e.to_string()))?;
    let intent = Intent {
        checkout_url: provider.checkout_url(&reference, amount, currency.code()),
        reference,
        account_id: device.account_id.clone(),
        device_id: device.device_id.clone(),
        idempotency_key: req.idempotency_key.clone(),
        provider: provider.id.clone(),
        amount_minor: to_i64(amount),
        currency: currency.code().to_string(),
        status: "pending".into(),
        provider_reference: None,
        top_up_id: None,
        failure_reason: None,
        created_at_ms: now,
        expires_at_ms: now.saturating_add(provider.intent_ttl_ms),
        completed_at_ms: None,
    };
    let sandbox = provider.kind == ProviderKind::Sandbox;
    let description = format!("Top-up via {}", provider.display_name);
    let result = state
        .db()
        .write_tx(move |conn| {
            let (intent, description) = (intent.clone(), description.clone());
            Box::pin(async move {
                if let Some(existing) =
                    store::by_idempotency_key(conn, &intent.account_id, &intent.idempotency_key)
                        .await?
                {
                    return replay(existing, &intent).map(|i| (i, false));
                }
                let currency = parse_currency("currency", &intent.currency)?;
                top_ups::check_account(conn, &intent.account_id, &currency, true).await?;
                if !sandbox {
                    store::insert(conn, &intent).await?;
                    return Ok((intent, true));
                }
                confirm_sandbox(conn, intent, currency, description)
                    .await
                    .map(|i| (i, true))
            })
        })
        .await;
    let (intent, created) = match result {
        // Two first requests with one key raced: the other one won.
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::IdempotencyConflict(
                "idempotency_key: a top-up with this key is being started; retry to read it".into(),
            ))
        }
        other => other?,
    };
    if created {
        tracing::info!(account = %redact(&intent.account_id), reference = %redact(&intent.reference),
            provider = %intent.provider, amount_minor = intent.amount_minor, "top-up started");
        if intent.status == "confirmed" {
            top_ups::settle_debt(&state, &intent.account_id, 0).await;
        }
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&intent, now))))
}

/// The intent a repeated start request refers to, if its terms match.
fn replay(existing: Intent, asked: &Intent) -> Result<Intent, ApiError> {
    let same = existing.provider == asked.provider
        && existing.amount_minor == asked.amount_minor
        && existing.currency == asked.currency;
    if same {
        Ok(existing)
    } else {
        Err(ApiError::IdempotencyConflict(
            "idempotency_key: already used for a top-up with another provider, amount or currency"
                .into(),
        ))
    }
}

/// The sandbox confirms at creation: the intent, the top-up from the
/// sandbox funding account and the event, in the caller's transaction.
async fn confirm_sandbox(
    conn: &mut sqlx::AnyConnection,
    mut intent: Intent,
    currency: wayfare_protocol::money::Currency,
    description: String,
) -> Result<Intent, ApiError> {
    let top_up_id = new_id("top").map_err(|e| ApiError::Internal(e.to_string()))?;
    intent.status = "confirmed".into();
    intent.provider_reference = Some(intent.reference.clone());
    intent.top_up_id = Some(top_up_id.clone());
    intent.completed_at_ms = Some(intent.created_at_ms);
    store::insert(conn, &intent).await?;
    let credit = Credit {
        id: top_up_id,
        reference: Some(format!("{}:{}", intent.provider, intent.reference)),
        channel: Channel::Sandbox,
        source_account_id: ledger::funding_account(conn, &currency, intent.created_at_ms).await?,
        account_id: intent.account_id.clone(),
        amount_minor: crate::db::to_u64(intent.amount_minor),
        currency,
        description,
        at_ms: intent.created_at_ms,
    };
    top_ups::credit(conn, &credit).await?;
    events::append(conn, &intent).await?;
    Ok(intent)
}

/// `GET /v1/top-ups/{reference}` (device): the caller's own top-up.
#[utoipa::path(get, path = "/v1/top-ups/{reference}", operation_id = "getTopUp", tag = "funding",
    summary = "The caller's own top-up (404 for any other); a pending one past expires_at_ms shows as expired (its provider may still confirm it).",
    security(("deviceSignature" = [])),
    params(("reference" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = TopUpView), Fails<401, 404>))]
pub(crate) async fn status(
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<TopUpView>, ApiError> {
    check_id("reference", &reference).map_err(|_| not_found())?;
    let mut conn = state.db().pool.acquire().await?;
    let intent = store::by_reference(&mut conn, &reference, None)
        .await?
        .filter(|i| i.account_id == request.signer.account_id)
        .ok_or_else(not_found)?;
    Ok(Json(view(&intent, to_i64(now_ms()))))
}

fn not_found() -> ApiError {
    ApiError::NotFound("reference: this wallet has no top-up with this reference".into())
}

/// `GET /v1/top-ups/providers` (device): what the app may offer.
#[utoipa::path(get, path = "/v1/top-ups/providers", operation_id = "topUpProviders", tag = "funding",
    summary = "The funding providers this server offers (id, kind sandbox or checkout, display name, currencies).",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = ProviderList), Fails<401>))]
pub(crate) async fn providers(
    Extension(providers): Extension<Providers>,
    _request: Signed<Device>,
) -> Json<ProviderList> {
    Json(ProviderList {
        providers: providers.all().map(describe).collect(),
    })
}

/// The funding providers offered.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProviderList {
    providers: Vec<ProviderView>,
}

/// A funding provider as the app shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProviderView {
    id: String,
    #[schema(schema_with = provider_kind)]
    kind: &'static str,
    display_name: String,
    currencies: Vec<String>,
}

/// [`ProviderKind`]'s names.
fn provider_kind() -> RefOr<Schema> {
    constraints::one_of(&["sandbox", "checkout"])
}

fn describe(p: &Provider) -> ProviderView {
    ProviderView {
        id: p.id.clone(),
        kind: match p.kind {
            ProviderKind::Sandbox => "sandbox",
            ProviderKind::Checkout => "checkout",
        },
        display_name: p.display_name.clone(),
        currencies: p.currencies.iter().map(|c| c.code().to_string()).collect(),
    }
}

/// The query of `GET /v1/admin/top-ups`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[param(schema_with = list_status)]
    status: Option<String>,
    #[param(minimum = 1, maximum = 500, nullable = false)]
    limit: Option<i64>,
}

/// The statuses the list filters on.
fn list_status() -> RefOr<Schema> {
    constraints::one_of(&["pending", "confirmed", "failed"])
}

/// The operator's list of top-ups.
#[derive(Serialize, ToSchema)]
pub(crate) struct TopUpList {
    top_ups: Vec<TopUpView>,
}

/// `GET /v1/admin/top-ups?status=pending&limit=N` (admin): the newest
/// intents, e.g. the pending ones a provider never answered.
#[utoipa::path(get, path = "/v1/admin/top-ups", operation_id = "listTopUps", tag = "funding",
    summary = "The newest over-the-air top-ups, optionally only status=pending|confirmed|failed (limit 1..500, default 100), with account and provider reference.",
    security(("adminToken" = [])),
    params(ListQuery),
    responses((status = 200, description = "success", body = TopUpList), Fails<401, 422>))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<TopUpList>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    if let Some(status) = &query.status {
        if !matches!(status.as_str(), "pending" | "confirmed" | "failed") {
            return Err(ApiError::field(
                "status",
                "must be pending, confirmed or failed",
            ));
        }
    }
    let now = to_i64(now_ms());
    let intents = store::list(&state.db().pool, query.status.as_deref(), limit).await?;
    let top_ups = intents
        .iter()
        .map(|i| TopUpView {
            account_id: Some(i.account_id.clone()),
            provider_reference: Some(i.provider_reference.clone()),
            ..view(i, now)
        })
        .collect();
    Ok(Json(TopUpList { top_ups }))
}
