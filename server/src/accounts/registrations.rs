//! Riders' pseudonyms and platform registrations (P2, P3.5).
//!
//! - `GET /v1/wallet/pseudonyms/{merchant_id}` (device): the rider's
//!   pseudonym for a merchant, which the phone shows a terminal of that
//!   merchant in the identity step.
//! - `POST /v1/platform/registrations` (terminal): forwards the rider's
//!   device-signed consent; the server verifies it and registers the rider
//!   with the merchant's platform, idempotently.
//! - `GET /v1/wallet/registrations` and
//!   `POST /v1/wallet/registrations/{registration_id}/revoke` (device): the
//!   rider lists and revokes them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AssertSqlSafe};
use utoipa::ToSchema;
use wayfare_protocol::consent::{ConsentBody, RegistrationConsent, MAX_CONSENT_BYTES};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::ProtocolError;

use crate::auth::{Device, Signed, Terminal};
use crate::db::{is_unique_violation, now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, ApiPath};
use crate::openapi::Fails;
use crate::state::AppState;

/// The caller's pseudonym for a merchant.
#[derive(Serialize, ToSchema)]
pub(crate) struct Pseudonym {
    merchant_id: String,
    pseudonym: String,
}

/// `GET /v1/wallet/pseudonyms/{merchant_id}`: the caller's pseudonym for
/// that merchant.
#[utoipa::path(get, path = "/v1/wallet/pseudonyms/{merchant_id}", operation_id = "walletPseudonym", tag = "accounts",
    summary = "The caller's pseudonym for a merchant (pn_ + 160 bits in base32): what the merchant's terminals see in the identity step and its receipts name the payer by. Stable per rider and merchant, unlinkable across merchants. Unknown merchant: 404 unknown_merchant.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = Pseudonym), Fails<401, 404, 422>))]
pub(crate) async fn pseudonym(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<Pseudonym>, ApiError> {
    check_id("merchant_id", &merchant_id)?;
    let known: Option<(String,)> = sqlx::query_as("SELECT id FROM merchants WHERE id = $1")
        .bind(merchant_id.clone())
        .fetch_optional(&state.db().pool)
        .await?;
    if known.is_none() {
        return Err(ApiError::UnknownMerchant(format!(
            "merchant {} does not exist",
            redact(&merchant_id)
        )));
    }
    let pseudonym = state
        .keys()
        .pseudonym(&request.signer.account_id, &merchant_id);
    Ok(Json(Pseudonym {
        merchant_id,
        pseudonym,
    }))
}

/// A registration as the rider and the platform see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Registration)]
pub(crate) struct RegistrationView {
    registration_id: String,
    merchant_id: String,
    merchant_name: String,
    terminal_id: String,
    #[schema(pattern = "^pn_[a-z2-7]{32}$")]
    pseudonym: String,
    created_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at_ms: Option<u64>,
}

/// A registration with its merchant's name (`SELECT_VIEW`).
#[derive(sqlx::FromRow)]
struct RegistrationRow {
    id: String,
    merchant_id: String,
    name: String,
    terminal_id: String,
    pseudonym: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

const SELECT_VIEW: &str = "SELECT r.id, r.merchant_id, m.name, r.terminal_id, r.pseudonym, \
     r.created_at_ms, r.revoked_at_ms FROM platform_registrations r \
     JOIN merchants m ON m.id = r.merchant_id";

fn view_of(r: RegistrationRow) -> RegistrationView {
    RegistrationView {
        registration_id: r.id,
        merchant_id: r.merchant_id,
        merchant_name: r.name,
        terminal_id: r.terminal_id,
        pseudonym: r.pseudonym,
        created_at_ms: to_u64(r.created_at_ms),
        revoked_at_ms: r.revoked_at_ms.map(to_u64),
    }
}

async fn view_by_id(
    conn: &mut AnyConnection,
    registration_id: &str,
) -> Result<Option<RegistrationView>, ApiError> {
    let row: Option<RegistrationRow> =
        sqlx::query_as(AssertSqlSafe(format!("{SELECT_VIEW} WHERE r.id = $1")))
            .bind(registration_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(view_of))
}

/// A rider's registration a terminal forwards.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    /// RegistrationConsent COSE_Sign1, base64url
    consent: String,
}

/// What a verified consent registers.
#[derive(Clone)]
struct Verified {
    body: ConsentBody,
    account_id: String,
}

/// Checks a consent a terminal forwarded: size, the device's signature,
/// that it was given at this terminal of this merchant, freshness and that
/// the pseudonym is the rider's for that merchant.
async fn verify_consent(
    state: &AppState,
    terminal_id: &str,
    encoded: &str,
) -> Result<Verified, ApiError> {
    // base64url of MAX_CONSENT_BYTES, rounded up.
    if encoded.len() > MAX_CONSENT_BYTES.div_ceil(3) * 4 {
        return Err(ApiError::PayloadTooLarge(format!(
            "consent: a consent has at most {MAX_CONSENT_BYTES} bytes"
        )));
    }
    let consent = RegistrationConsent::from_base64(encoded)
        .map_err(|e| ApiError::from_protocol("consent", e))?;
    if consent.as_bytes().len() > MAX_CONSENT_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "consent: a consent has at most {MAX_CONSENT_BYTES} bytes"
        )));
    }
    let claimed = consent
        .peek()
        .map_err(|e| ApiError::from_protocol("consent", e))?;
    check_id("consent.device_id", &claimed.device_id)?;
    let device: Option<(String, String)> =
        sqlx::query_as("SELECT account_id, public_key FROM devices WHERE id = $1")
            .bind(claimed.device_id.clone())
            .fetch_optional(&state.db().pool)
            .await?;
    let (account_id, key) = device.ok_or_else(|| {
        ApiError::BadSignature("consent: not signed by a registered device".into())
    })?;
    let key = PublicKey::from_base64(&key)
        .map_err(|e| ApiError::Internal(format!("stored device key: {e}")))?;
    let body = consent
        .verify(&key)
        .map_err(|e| ApiError::from_protocol("consent", e))?;
    check_id("consent.consent_id", &body.consent_id)?;

    let merchant: Option<(String,)> =
        sqlx::query_as("SELECT merchant_id FROM terminals WHERE id = $1")
            .bind(terminal_id.to_string())
            .fetch_optional(&state.db().pool)
            .await?;
    let (merchant_id,) = merchant.ok_or_else(|| {
        ApiError::UnknownTerminal(format!("terminal {} does not exist", redact(terminal_id)))
    })?;
    body.check_at(&merchant_id, terminal_id)
        .map_err(|e| match e {
            ProtocolError::InvalidField { field, reason } if field != "consent.pseudonym" => {
                ApiError::Forbidden(format!("{field}: {reason}"))
            }
            e => ApiError::from_protocol("consent", e),
        })?;
    body.check_fresh(now_ms()).map_err(|e| {
        ApiError::StaleRequest(format!(
            "consent: {e}; the phone signs a fresh consent in each identity step"
        ))
    })?;
    if state.keys().pseudonym(&account_id, &merchant_id) != body.pseudonym {
        return Err(ApiError::Forbidden(
            "consent.pseudonym: not the signing rider's pseudonym for this merchant".into(),
        ));
    }
    Ok(Verified { body, account_id })
}

/// What the registration transaction found or made.
enum Outcome {
    Created(RegistrationView),
    Existing(RegistrationView),
    ConsentRevoked,
}

async fn register_tx(
    conn: &mut AnyConnection,
    v: &Verified,
    registration_id: &str,
    now: i64,
) -> Result<Outcome, ApiError> {
    let used: Option<(String,)> =
        sqlx::query_as("SELECT registration_id FROM registration_consents WHERE consent_id = $1")
            .bind(v.body.consent_id.clone())
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((id,)) = used {
        return match view_by_id(conn, &id).await? {
            Some(view) if view.revoked_at_ms.is_none() => Ok(Outcome::Existing(view)),
            _ => Ok(Outcome::ConsentRevoked),
        };
    }
    let live: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM platform_registrations \
         WHERE account_id = $1 AND merchant_id = $2 AND revoked_at_ms IS NULL",
    )
    .bind(v.account_id.clone())
    .bind(v.body.merchant_id.clone())
    .fetch_optional(&mut *conn)
    .await?;
    let (id, created) = match live {
        Some((id,)) => (id, false),
        None => {
            sqlx::query(
                "INSERT INTO platform_registrations (id, account_id, merchant_id, pseudonym, \
                 terminal_id, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(registration_id.to_string())
            .bind(v.account_id.clone())
            .bind(v.body.merchant_id.clone())
            .bind(v.body.pseudonym.clone())
            .bind(v.body.terminal_id.clone())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            (registration_id.to_string(), true)
        }
    };
    sqlx::query(
        "INSERT INTO registration_consents (consent_id, registration_id, device_id, at_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(v.body.consent_id.clone())
    .bind(id.clone())
    .bind(v.body.device_id.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let view = view_by_id(conn, &id)
        .await?
        .ok_or_else(|| ApiError::Internal("the registration vanished".into()))?;
    Ok(if created {
        Outcome::Created(view)
    } else {
        Outcome::Existing(view)
    })
}

/// `POST /v1/platform/registrations` (terminal, P3.5): registers the rider
/// whose consent the terminal forwards. 201 with a new registration, 200
/// with the live one when the rider is already registered with this
/// merchant or the same consent arrives again.
#[utoipa::path(post, path = "/v1/platform/registrations", operation_id = "registerRider", tag = "accounts",
    summary = "A terminal registers a rider with its merchant's platform (P3.5), forwarding the rider's consent: a device-signed COSE_Sign1 (purpose wayfare/registration-consent/v1) over consent_id, pseudonym, merchant_id, terminal_id, device_id and issued_at_ms, base64url, at most 1024 bytes. Refused: tampered or not signed by the named device (401 bad_signature), given at another terminal or merchant, or a pseudonym not the rider's for this merchant (403 forbidden), older than 5 min or from the future (401 stale_request), a consent whose registration the rider revoked (401 replayed_request), oversized (413). 201 with a new registration; 200 with the live one (same rider and merchant, or the same consent again).",
    security(("terminalSignature" = [])),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "success", body = RegistrationView),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = RegistrationView),
        Fails<400, 401, 403, 404, 413, 422>))]
pub(crate) async fn register(
    State(state): State<AppState>,
    request: Signed<Terminal>,
) -> Result<(StatusCode, Json<RegistrationView>), ApiError> {
    let req: RegisterRequest = request.json()?;
    let verified = verify_consent(&state, &request.signer.terminal_id, &req.consent).await?;
    let registration_id = new_id("reg").map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = to_i64(now_ms());
    // A concurrent registration of the same rider (or consent) may win the
    // unique index: the second attempt then finds it.
    for _ in 0..2 {
        let (v, id) = (verified.clone(), registration_id.clone());
        let result = state
            .db()
            .write_tx(move |conn| {
                let (v, id) = (v.clone(), id.clone());
                Box::pin(async move { register_tx(conn, &v, &id, now).await })
            })
            .await;
        match result {
            Ok(Outcome::Created(view)) => {
                tracing::info!(registration = %redact(&view.registration_id), terminal = %redact(&view.terminal_id), "rider registered with the platform (P3.5)");
                return Ok((StatusCode::CREATED, Json(view)));
            }
            Ok(Outcome::Existing(view)) => return Ok((StatusCode::OK, Json(view))),
            Ok(Outcome::ConsentRevoked) => {
                return Err(ApiError::ReplayedRequest(
                    "consent: this consent was already used and the rider has since revoked \
                     the registration; only a fresh consent registers the rider again"
                        .into(),
                ))
            }
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::ServerBusy(
        "the registration raced with another; try again".into(),
    ))
}

/// The caller's live registrations.
#[derive(Serialize, ToSchema)]
pub(crate) struct Registrations {
    registrations: Vec<RegistrationView>,
}

/// `GET /v1/wallet/registrations`: the caller's live registrations, newest
/// first.
#[utoipa::path(get, path = "/v1/wallet/registrations", operation_id = "listRegistrations", tag = "accounts",
    summary = "The caller's live platform registrations, newest first.",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = Registrations), Fails<401>))]
pub(crate) async fn list(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<Registrations>, ApiError> {
    let rows: Vec<RegistrationRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT_VIEW} WHERE r.account_id = $1 AND r.revoked_at_ms IS NULL \
         ORDER BY r.created_at_ms DESC, r.id"
    )))
    .bind(request.signer.account_id.clone())
    .fetch_all(&state.db().pool)
    .await?;
    let registrations: Vec<RegistrationView> = rows.into_iter().map(view_of).collect();
    Ok(Json(Registrations { registrations }))
}

/// `POST /v1/wallet/registrations/{registration_id}/revoke`: the rider
/// ends a registration. Idempotent: revoking a revoked registration
/// answers it again. Another rider's registration is 404.
#[utoipa::path(post, path = "/v1/wallet/registrations/{registration_id}/revoke", operation_id = "revokeRegistration", tag = "accounts",
    summary = "The rider revokes a platform registration: it leaves the list at once and the consent that made it can never register the rider again. Idempotent (a revoked registration answers again, with revoked_at_ms). Not the caller's: 404.",
    security(("deviceSignature" = [])),
    params(("registration_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses(
        (status = 200, description = "success", body = RegistrationView),
        Fails<401, 404, 422>))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    ApiPath(registration_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<RegistrationView>, ApiError> {
    check_id("registration_id", &registration_id)?;
    let me = request.signer.account_id.clone();
    let now = to_i64(now_ms());
    let id = registration_id.clone();
    let view = state
        .db()
        .write_tx(move |conn| {
            let (id, me) = (id.clone(), me.clone());
            Box::pin(async move {
                let owner: Option<(String,)> =
                    sqlx::query_as("SELECT account_id FROM platform_registrations WHERE id = $1")
                        .bind(id.clone())
                        .fetch_optional(&mut *conn)
                        .await?;
                if owner.map(|(o,)| o) != Some(me) {
                    return Err(ApiError::NotFound(
                        "no registration of yours has this id".into(),
                    ));
                }
                sqlx::query(
                    "UPDATE platform_registrations SET revoked_at_ms = $1 \
                     WHERE id = $2 AND revoked_at_ms IS NULL",
                )
                .bind(now)
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
                view_by_id(conn, &id)
                    .await?
                    .ok_or_else(|| ApiError::Internal("the registration vanished".into()))
            })
        })
        .await?;
    tracing::info!(registration = %redact(&registration_id), "platform registration revoked by the rider");
    Ok(Json(view))
}
