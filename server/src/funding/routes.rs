//! The rider's and the operator's top-up endpoints: start a top-up
//! (`POST /v1/top-ups`), follow it (`GET /v1/top-ups/{reference}`), list
//! the providers (`GET /v1/top-ups/providers`) and, for the operator, the
//! intents by status (`GET /v1/admin/top-ups`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use wayfare_protocol::ids::{new_id, redact};

use super::config::{Provider, ProviderKind, Providers};
use super::events;
use super::store::{self, Intent};
use crate::auth::{Admin, Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_id, parse_amount, parse_currency, ApiPath, ApiQuery};
use crate::ledger;
use crate::state::AppState;
use crate::top_ups::{self, Channel, Credit};

/// `POST /v1/top-ups` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    provider: String,
    amount_minor: serde_json::Number,
    currency: String,
    idempotency_key: String,
}

/// `POST /v1/top-ups` (device): starts a top-up. A checkout provider's
/// answer is pending with the link where the rider pays; the sandbox
/// provider confirms at once. The same idempotency key again answers 200
/// with the intent as it is now; with other terms, 409.
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(providers): Extension<Providers>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    Ok((status, Json(intent.to_json(now))))
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
pub(crate) async fn status(
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<Value>, ApiError> {
    check_id("reference", &reference).map_err(|_| not_found())?;
    let mut conn = state.db().pool.acquire().await?;
    let intent = store::by_reference(&mut conn, &reference, None)
        .await?
        .filter(|i| i.account_id == request.signer.account_id)
        .ok_or_else(not_found)?;
    Ok(Json(intent.to_json(to_i64(now_ms()))))
}

fn not_found() -> ApiError {
    ApiError::NotFound("reference: this wallet has no top-up with this reference".into())
}

/// `GET /v1/top-ups/providers` (device): what the app may offer.
pub(crate) async fn providers(
    Extension(providers): Extension<Providers>,
    _request: Signed<Device>,
) -> Json<Value> {
    let list: Vec<Value> = providers.all().map(describe).collect();
    Json(json!({ "providers": list }))
}

fn describe(p: &Provider) -> Value {
    json!({
        "id": p.id,
        "kind": match p.kind { ProviderKind::Sandbox => "sandbox", ProviderKind::Checkout => "checkout" },
        "display_name": p.display_name,
        "currencies": p.currencies.iter().map(|c| c.code().to_string()).collect::<Vec<_>>(),
    })
}

/// The query of `GET /v1/admin/top-ups`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/admin/top-ups?status=pending&limit=N` (admin): the newest
/// intents, e.g. the pending ones a provider never answered.
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let rows: Vec<Value> = intents
        .iter()
        .map(|i| {
            let mut v = i.to_json(now);
            v["account_id"] = json!(i.account_id);
            v["provider_reference"] = json!(i.provider_reference);
            v
        })
        .collect();
    Ok(Json(json!({ "top_ups": rows })))
}
