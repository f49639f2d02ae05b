//! `POST /v1/funding/{provider}/callbacks`: the provider tells the outcome
//! of a checkout. Checked in this order, each failure moving nothing: the
//! provider exists and takes callbacks (404), the body fits (413), the
//! signature matches under the provider's secret (401 `bad_signature`), it
//! was made within the window (401 `stale_request`), the body is a callback
//! (400/422), the reference is one of the provider's top-ups (404), and
//! amount, currency and outcome agree with it (409 `callback_mismatch`
//! naming the field). Then, in one transaction, the intent is confirmed,
//! the money moves from the provider's clearing account (`top_ups::credit`,
//! referenced `provider:provider_reference`) and the wallet's event is
//! queued; or the intent is failed and the event queued. The same callback
//! again answers 200 with the same result and moves nothing.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::money::Currency;

use super::config::Providers;
use super::events;
use super::signature::{self, SignatureError, SIGNATURE_HEADER};
use super::store::{self, Intent};
use crate::db::{is_unique_violation, now_ms, to_i64, to_u64, RowLock};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, parse_amount, parse_currency, parse_json, ApiPath};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;
use crate::top_ups::{self, Channel, Credit};

/// The largest callback body accepted, in bytes.
pub(crate) const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// The callback body.
#[derive(Deserialize, ToSchema)]
#[schema(as = FundingCallback)]
#[serde(deny_unknown_fields)]
struct Callback {
    #[schema(schema_with = constraints::id)]
    provider_reference: String,
    #[schema(schema_with = constraints::id)]
    reference: String,
    #[schema(schema_with = constraints::amount)]
    amount_minor: serde_json::Number,
    #[schema(schema_with = constraints::currency)]
    currency: String,
    status: Outcome,
    #[serde(default)]
    #[schema(schema_with = constraints::text_or_null::<200>)]
    reason: Option<String>,
}

/// What a callback answers: the top-up's outcome as recorded.
#[derive(Serialize, ToSchema)]
pub(crate) struct CallbackAnswer {
    reference: String,
    provider_reference: Option<String>,
    #[schema(schema_with = recorded)]
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_up_id: Option<String>,
}

/// The outcomes a callback records.
fn recorded() -> RefOr<Schema> {
    constraints::one_of(&["confirmed", "failed"])
}

/// The outcome a provider reports.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[schema(as = FundingOutcome)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Succeeded,
    Failed,
}

/// A checked callback.
#[derive(Clone)]
struct Checked {
    provider_reference: String,
    reference: String,
    amount_minor: u64,
    currency: Currency,
    outcome: Outcome,
    reason: String,
}

/// `POST /v1/funding/{provider}/callbacks` (provider, signed).
#[utoipa::path(post, path = "/v1/funding/{provider}/callbacks", operation_id = "fundingCallback", tag = "funding",
    summary = "The funding provider reports a checkout's outcome. Header wayfare-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(provider secret, \"t.body\")> over the exact body (several v1 allowed while rotating). Bad or missing signature 401 bad_signature; signed more than 300 s from the server's clock 401 stale_request; unknown provider or reference 404; body over 16 KiB 413; amount, currency or an outcome already recorded that disagree 409 callback_mismatch naming the field. succeeded: in one transaction the top-up is confirmed and credited from the provider's clearing account; failed: it is marked failed. The same callback again answers 200 with the same result and moves nothing; a provider_reference settles one top-up only.",
    params(("provider" = String, Path, pattern = "^[!-~]{1,128}$"),
        ("wayfare-signature" = String, Header,
            description = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"t.body\")>")),
    request_body = Callback,
    responses((status = 200, description = "success", body = CallbackAnswer), Fails<400, 401, 404, 409, 422>))]
pub(crate) async fn receive(
    State(state): State<AppState>,
    Extension(providers): Extension<Providers>,
    ApiPath(provider_id): ApiPath<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<CallbackAnswer>), ApiError> {
    let provider = providers.get(&provider_id).ok_or_else(|| {
        ApiError::NotFound("no funding provider with this id is configured".into())
    })?;
    let key = provider.key.as_ref().ok_or_else(|| {
        ApiError::NotFound(format!(
            "provider {} confirms at creation and takes no callbacks",
            provider.id
        ))
    })?;
    let body = Bytes::from_request(request, &()).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "a callback body is at most {MAX_CALLBACK_BYTES} bytes"
            ))
        } else {
            ApiError::MalformedJson(format!("could not read the callback body: {e}"))
        }
    })?;
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::BadSignature(format!(
                "missing {SIGNATURE_HEADER} header; send t=<unix seconds>,v1=<hex hmac-sha256>"
            ))
        })?;
    let now_s = to_i64(now_ms()) / 1000;
    signature::verify(key, header, &body, now_s).map_err(|e| match e {
        e @ SignatureError::Stale { .. } => ApiError::StaleRequest(e.to_string()),
        e => {
            tracing::warn!(provider = %provider.id, "funding callback with a bad signature refused");
            ApiError::BadSignature(e.to_string())
        }
    })?;
    let checked = check(parse_json::<Callback>(&body)?)?;
    let provider_id = provider.id.clone();
    let display = provider.display_name.clone();
    let result = state
        .db()
        .write_tx(move |conn| {
            let (c, p, d) = (checked.clone(), provider_id.clone(), display.clone());
            Box::pin(async move { apply(conn, &p, &d, &c).await })
        })
        .await;
    let applied = match result {
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::CallbackMismatch(
                "provider_reference: this provider reference already settled another top-up; nothing was credited".into(),
            ))
        }
        other => other?,
    };
    if applied.changed {
        tracing::info!(provider = %provider.id, reference = %redact(&applied.intent.reference),
            status = %applied.intent.status, "funding callback applied");
        if applied.intent.status == "confirmed" {
            top_ups::settle_debt(&state, &applied.intent.account_id, 0).await;
        } else {
            state.notify_account(&applied.intent.account_id);
        }
    } else {
        tracing::debug!(provider = %provider.id, reference = %redact(&applied.intent.reference), "funding callback replayed");
    }
    Ok((StatusCode::OK, Json(answer(&applied.intent))))
}

/// Validates the callback's fields.
fn check(cb: Callback) -> Result<Checked, ApiError> {
    check_id("provider_reference", &cb.provider_reference)?;
    check_id("reference", &cb.reference)?;
    let reason = match (&cb.status, cb.reason) {
        (Outcome::Failed, Some(reason)) => {
            check_text("reason", &reason, 200)?;
            reason
        }
        (Outcome::Failed, None) => "the provider declined the payment".into(),
        (Outcome::Succeeded, _) => String::new(),
    };
    Ok(Checked {
        provider_reference: cb.provider_reference,
        reference: cb.reference,
        amount_minor: parse_amount("amount_minor", &cb.amount_minor)?,
        currency: parse_currency("currency", &cb.currency)?,
        outcome: cb.status,
        reason,
    })
}

/// What the provider is answered (the same for a replay).
fn answer(intent: &Intent) -> CallbackAnswer {
    CallbackAnswer {
        reference: intent.reference.clone(),
        provider_reference: intent.provider_reference.clone(),
        status: intent.status.clone(),
        top_up_id: intent.top_up_id.clone(),
    }
}

struct Applied {
    intent: Intent,
    changed: bool,
}

async fn apply(
    conn: &mut AnyConnection,
    provider: &str,
    display_name: &str,
    c: &Checked,
) -> Result<Applied, ApiError> {
    let intent = store::by_reference(conn, &c.reference, Some(RowLock::Update))
        .await?
        .filter(|i| i.provider == provider)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "reference: provider {provider} has no top-up with this reference"
            ))
        })?;
    if to_u64(intent.amount_minor) != c.amount_minor {
        return Err(mismatch(format!(
            "amount_minor: the callback says {}, the top-up was started for {}",
            c.amount_minor, intent.amount_minor
        )));
    }
    if intent.currency != c.currency.code() {
        return Err(mismatch(format!(
            "currency: the callback says {}, the top-up was started in {}",
            c.currency, intent.currency
        )));
    }
    let same_reference =
        intent.provider_reference.as_deref() == Some(c.provider_reference.as_str());
    match (intent.status.as_str(), c.outcome) {
        ("pending", Outcome::Succeeded) => confirm(conn, intent, display_name, c).await,
        ("pending", Outcome::Failed) => fail(conn, intent, c).await,
        ("confirmed", Outcome::Succeeded) | ("failed", Outcome::Failed) if same_reference => {
            Ok(Applied {
                intent,
                changed: false,
            })
        }
        ("confirmed", _) => Err(mismatch(
            "status: this top-up was already confirmed by another callback".to_string(),
        )),
        _ => Err(mismatch(
            "status: this top-up already failed; start a new one".to_string(),
        )),
    }
}

fn mismatch(reason: String) -> ApiError {
    ApiError::CallbackMismatch(format!("{reason}; nothing was credited"))
}

async fn confirm(
    conn: &mut AnyConnection,
    mut intent: Intent,
    display_name: &str,
    c: &Checked,
) -> Result<Applied, ApiError> {
    let now = to_i64(now_ms());
    let top_up_id = new_id("top").map_err(|e| ApiError::Internal(e.to_string()))?;
    store::mark_confirmed(
        conn,
        &intent.reference,
        &c.provider_reference,
        &top_up_id,
        now,
    )
    .await?;
    let credit = Credit {
        id: top_up_id.clone(),
        reference: Some(format!("{}:{}", intent.provider, c.provider_reference)),
        channel: Channel::Provider,
        source_account_id: store::clearing_account(conn, &intent.provider, &c.currency, now)
            .await?,
        account_id: intent.account_id.clone(),
        amount_minor: c.amount_minor,
        currency: c.currency.clone(),
        description: format!("Top-up via {display_name}"),
        at_ms: now,
    };
    top_ups::credit(conn, &credit).await?;
    intent.status = "confirmed".into();
    intent.provider_reference = Some(c.provider_reference.clone());
    intent.top_up_id = Some(top_up_id);
    intent.completed_at_ms = Some(now);
    events::append(conn, &intent).await?;
    Ok(Applied {
        intent,
        changed: true,
    })
}

async fn fail(
    conn: &mut AnyConnection,
    mut intent: Intent,
    c: &Checked,
) -> Result<Applied, ApiError> {
    let now = to_i64(now_ms());
    store::mark_failed(
        conn,
        &intent.reference,
        &c.provider_reference,
        &c.reason,
        now,
    )
    .await?;
    intent.status = "failed".into();
    intent.provider_reference = Some(c.provider_reference.clone());
    intent.failure_reason = Some(c.reason.clone());
    intent.completed_at_ms = Some(now);
    events::append(conn, &intent).await?;
    Ok(Applied {
        intent,
        changed: true,
    })
}
