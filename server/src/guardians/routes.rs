//! Guardian bindings over HTTP (P1). Every endpoint is signed by a device;
//! a binding is visible only to its rider and its guardian (anybody else
//! gets `404 not_found`, the same as for an id that does not exist), and
//! each action is reserved to one side (`403 forbidden` for the other).
//!
//! Consent: the rider creates an invitation (a short code to type and a QR
//! payload carrying a long secret, expiring, single use) choosing the scope
//! and how they are shown; a binding exists only once a guardian accepts
//! it. Codes, secrets and the limit of failed attempts are in
//! `invitations`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyConnection;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, ToSchema};
use wayfare_protocol::ids::{new_id, redact};

use crate::auth::{Device, Signed};
use crate::civil::check_offset;
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_text, parse_amount, ApiPath, ApiQuery};
use crate::guardians::{self, phone_tail, BindingView, Scope, ShownAs};
use crate::invitations::{self, Presented};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The prefix of the QR payload; a 256-bit secret (hex) follows it.
pub const QR_PREFIX: &str = "wayfare:guardian-invite:v2:";
/// The older QR payload, which carried the short code; still read.
const LEGACY_QR_PREFIX: &str = "wayfare:guardian-invite:v1:";
/// Default and bounds of an invitation's lifetime, in seconds.
const DEFAULT_EXPIRY_S: i64 = 600;
const MAX_EXPIRY_S: i64 = 86_400;

/// A rider's invitation of a guardian. A nickname is required with
/// `shown_as: nickname`: a conditional `crate::openapi` adds to this
/// schema (utoipa has none).
#[derive(Deserialize, ToSchema)]
#[schema(as = GuardianInvitationRequest)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    #[schema(schema_with = guardians::scope_schema)]
    scope: String,
    #[schema(schema_with = guardians::shown_as_schema)]
    shown_as: String,
    #[schema(schema_with = constraints::text_or_null::<40>)]
    nickname: Option<String>,
    #[schema(schema_with = constraints::range_or_null::<1, 86_400>)]
    expires_in_s: Option<i64>,
}

/// A fresh invitation, answered to the rider.
#[derive(Serialize, ToSchema)]
#[schema(as = GuardianInvitation)]
pub(crate) struct Invitation {
    invitation_id: String,
    code: String,
    qr_payload: String,
    scope: String,
    shown_as: String,
    rider_name: String,
    expires_at_ms: i64,
}

/// `POST /v1/guardians/invitations` (rider).
#[utoipa::path(post, path = "/v1/guardians/invitations", operation_id = "createGuardianInvitation", tag = "guardians",
    summary = "The rider invites a guardian: scope transit_only|all_payments, shown_as phone_tail (needs a registered phone; only the last 4 digits are ever shown) or nickname. Answers a short code to type and a QR payload (wayfare:guardian-invite:v2: + a 256-bit secret, hex), single use, expiring (expires_in_s 1..86400, default 600).",
    security(("deviceSignature" = [])),
    request_body = InvitationRequest,
    responses((status = 201, description = "success", body = Invitation), Fails<400, 401, 422>))]
pub(crate) async fn invite(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<Invitation>), ApiError> {
    let rider = request.signer.account_id.clone();
    let req: InvitationRequest = request.json()?;
    let scope = Scope::parse(&req.scope)?;
    // A nickname is checked as sent, whether or not it is shown (the API
    // fuzzer found one over 40 characters accepted with phone_tail), and
    // kept without surrounding white space.
    if let Some(nickname) = &req.nickname {
        check_text("nickname", nickname, 40)?;
    }
    let shown_as = match req.shown_as.as_str() {
        "nickname" => {
            let nickname = req
                .nickname
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_string();
            check_text("nickname", &nickname, 40)?;
            ShownAs::Nickname(nickname)
        }
        "phone_tail" => {
            let phone = crate::accounts::store::get(&state.db().pool, &rider)
                .await?
                .phone_number;
            let tail = phone.as_deref().and_then(phone_tail).ok_or_else(|| {
                ApiError::field(
                    "shown_as",
                    "no phone number is registered for this wallet; choose a nickname",
                )
            })?;
            ShownAs::PhoneTail(tail)
        }
        _ => {
            return Err(ApiError::field(
                "shown_as",
                "must be \"phone_tail\" or \"nickname\"",
            ))
        }
    };
    let expires_in = req.expires_in_s.unwrap_or(DEFAULT_EXPIRY_S);
    if !(1..=MAX_EXPIRY_S).contains(&expires_in) {
        return Err(ApiError::field(
            "expires_in_s",
            format!("must be between 1 and {MAX_EXPIRY_S} seconds"),
        ));
    }
    let now = to_i64(now_ms());
    let expires_at = now + expires_in * 1000;
    let invitation_id = new_id("inv").map_err(|e| ApiError::Internal(e.to_string()))?;
    let issued = invitations::store_fresh(QR_PREFIX, |issued| {
        let row = (
            invitation_id.clone(),
            issued.code.clone(),
            issued.secret_hash.clone(),
            rider.clone(),
            shown_as.clone(),
        );
        state.db().write_tx(move |conn| {
            let (id, code, secret_hash, rider, shown) = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO guardian_invitations (id, code, secret_hash, \
                     rider_account_id, scope, shown_as, shown_value, created_at_ms, \
                     expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(code)
                .bind(secret_hash)
                .bind(rider)
                .bind(scope.as_str())
                .bind(shown.kind())
                .bind(shown.value().to_string())
                .bind(now)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
    })
    .await?;
    tracing::info!(invitation = %redact(&invitation_id), "guardian invitation created");
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            invitation_id,
            code: issued.display_code,
            qr_payload: issued.qr_payload,
            scope: scope.as_str().into(),
            shown_as: shown_as.kind().into(),
            rider_name: shown_as.english(),
            expires_at_ms: expires_at,
        }),
    ))
}

/// The code (or QR payload) a guardian presents.
#[derive(Deserialize, ToSchema)]
#[schema(as = GuardianAcceptRequest)]
#[serde(deny_unknown_fields)]
struct AcceptRequest {
    code: String,
}

/// `POST /v1/guardians/invitations/accept` (guardian): consents to the
/// rider's invitation and creates the binding. Every code that cannot be
/// accepted gets the same `404 invitation_invalid`, and counts against the
/// caller's limit of failed attempts (`429 too_many_attempts` past it).
#[utoipa::path(post, path = "/v1/guardians/invitations/accept", operation_id = "acceptGuardianInvitation", tag = "guardians",
    summary = "The guardian accepts an invitation (code in any case, with or without the dash, or the whole QR payload) and the binding is created. 404 invitation_invalid for every code that cannot be accepted (unknown, expired, used, the rider's own); 409 already_bound; 429 too_many_attempts (with retry-after) past the limit of failed attempts per account, per device and overall.",
    security(("deviceSignature" = [])),
    request_body = AcceptRequest,
    responses((status = 201, description = "success", body = BindingView), Fails<400, 401, 404, 409, 422, 429>))]
pub(crate) async fn accept(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<BindingView>), ApiError> {
    let guardian = request.signer.account_id.clone();
    let device = request.signer.device_id.clone();
    let req: AcceptRequest = request.json()?;
    let binding_id = new_id("bnd").map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = to_i64(now_ms());
    let attempt = async {
        let presented = Presented::parse(&req.code, QR_PREFIX, LEGACY_QR_PREFIX)?;
        let args = (presented, guardian.clone(), binding_id.clone());
        state
            .db()
            .write_tx(move |conn| {
                let (presented, guardian, binding_id) = args.clone();
                Box::pin(async move { claim(conn, &presented, &guardian, &binding_id, now).await })
            })
            .await
    };
    invitations::guarded(&state, &guardian, &device, attempt).await?;
    tracing::info!(binding = %redact(&binding_id), "guardian binding created");
    let binding = guardians::load_for(&state.db().pool, &binding_id, &guardian).await?;
    let view = guardians::view(&state.db().pool, &binding, &guardian).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Where guardian invitations are kept; accepting one creates a binding.
const INVITATIONS: invitations::Table = invitations::Table {
    name: "guardian_invitations",
    created: "binding_id",
};

/// A guardian invitation as accepting it reads it.
#[derive(sqlx::FromRow)]
struct GuardianInvitation {
    id: String,
    rider_account_id: String,
    scope: String,
    shown_as: String,
    shown_value: String,
    expires_at_ms: i64,
    used_at_ms: Option<i64>,
}

impl invitations::Invitation for GuardianInvitation {
    fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }
    fn used_at_ms(&self) -> Option<i64> {
        self.used_at_ms
    }
}

/// Claims the invitation and creates the binding, inside the transaction.
async fn claim(
    conn: &mut AnyConnection,
    presented: &Presented,
    guardian: &str,
    binding_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    let invitation: GuardianInvitation = invitations::find_open(
        conn,
        &INVITATIONS,
        "id, rider_account_id, scope, shown_as, shown_value, expires_at_ms, used_at_ms",
        presented,
        now,
    )
    .await?;
    // The rider's own: the same answer as an unknown code.
    if invitation.rider_account_id == guardian {
        return Err(invitations::invalid());
    }
    invitations::mark_used(conn, &INVITATIONS, &invitation.id, binding_id, now).await?;
    let inserted = sqlx::query(
        "INSERT INTO guardian_bindings (id, invitation_id, rider_account_id, \
         guardian_account_id, scope, shown_as, shown_value, status, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8)",
    )
    .bind(binding_id.to_string())
    .bind(invitation.id)
    .bind(invitation.rider_account_id)
    .bind(guardian.to_string())
    .bind(invitation.scope)
    .bind(invitation.shown_as)
    .bind(invitation.shown_value)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(ApiError::AlreadyBound(
            "you are already this rider's guardian".into(),
        )),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// The query of `GET /v1/guardians/bindings`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[param(nullable = false)]
    include_ended: Option<bool>,
}

/// The caller's bindings, as rider and as guardian.
#[derive(Serialize, ToSchema)]
pub(crate) struct Bindings {
    as_rider: Vec<BindingView>,
    as_guardian: Vec<BindingView>,
}

/// `GET /v1/guardians/bindings` (either side): the caller's bindings as
/// rider and as guardian.
#[utoipa::path(get, path = "/v1/guardians/bindings", operation_id = "listGuardianBindings", tag = "guardians",
    summary = "The caller's bindings as rider and as guardian (active only unless include_ended=true).",
    security(("deviceSignature" = [])),
    params(ListQuery),
    responses((status = 200, description = "success", body = Bindings), Fails<401, 422>))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
    request: Signed<Device>,
) -> Result<Json<Bindings>, ApiError> {
    let me = &request.signer.account_id;
    let pool = &state.db().pool;
    let ended = query.include_ended.unwrap_or(false);
    let mut as_rider = Vec::new();
    for b in guardians::list(pool, me, true, ended).await? {
        as_rider.push(guardians::view(pool, &b, me).await?);
    }
    let mut as_guardian = Vec::new();
    for b in guardians::list(pool, me, false, ended).await? {
        as_guardian.push(guardians::view(pool, &b, me).await?);
    }
    Ok(Json(Bindings {
        as_rider,
        as_guardian,
    }))
}

/// `GET /v1/guardians/bindings/{binding_id}` (either side).
#[utoipa::path(get, path = "/v1/guardians/bindings/{binding_id}", operation_id = "getGuardianBinding", tag = "guardians",
    summary = "One binding, for its rider or guardian only (anyone else: 404).",
    security(("deviceSignature" = [])),
    params(("binding_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = BindingView), Fails<401, 404>))]
pub(crate) async fn inspect(
    State(state): State<AppState>,
    ApiPath(binding_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<BindingView>, ApiError> {
    let me = &request.signer.account_id;
    let binding = guardians::load_for(&state.db().pool, &binding_id, me).await?;
    Ok(Json(guardians::view(&state.db().pool, &binding, me).await?))
}

/// Ends an active binding as `status`; only `allowed_side` may.
async fn end(
    state: &AppState,
    binding_id: &str,
    me: &str,
    as_rider: bool,
) -> Result<BindingView, ApiError> {
    let pool = &state.db().pool;
    let binding = guardians::load_for(pool, binding_id, me).await?;
    let is_rider = binding.rider_account_id == me;
    if is_rider != as_rider {
        return Err(ApiError::Forbidden(if as_rider {
            "only the rider can revoke a binding; a guardian leaves it instead".into()
        } else {
            "only the guardian can leave a binding; a rider revokes it instead".into()
        }));
    }
    let status = if as_rider { "revoked" } else { "left" };
    let now = to_i64(now_ms());
    let id = binding.id.clone();
    let changed = state
        .db()
        .write_tx(move |conn| {
            let id = id.clone();
            Box::pin(async move {
                Ok(sqlx::query(
                    "UPDATE guardian_bindings SET status = $1, ended_at_ms = $2 \
                     WHERE id = $3 AND status = 'active'",
                )
                .bind(status)
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected())
            })
        })
        .await?;
    if changed == 0 {
        return Err(ApiError::BindingEnded(
            "this binding has already ended".into(),
        ));
    }
    tracing::info!(binding = %redact(binding_id), status, "guardian binding ended");
    let binding = guardians::load_for(pool, binding_id, me).await?;
    guardians::view(pool, &binding, me).await
}

/// `POST /v1/guardians/bindings/{binding_id}/revoke` (rider): alerts stop
/// with the commit of this request.
#[utoipa::path(post, path = "/v1/guardians/bindings/{binding_id}/revoke", operation_id = "revokeGuardianBinding", tag = "guardians",
    summary = "The rider revokes the binding; no alert is made after this commits. Guardian: 403; anyone else: 404; already ended: 409 binding_ended.",
    security(("deviceSignature" = [])),
    params(("binding_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = BindingView), Fails<401, 403, 404, 409>))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    ApiPath(binding_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<BindingView>, ApiError> {
    Ok(Json(
        end(&state, &binding_id, &request.signer.account_id, true).await?,
    ))
}

/// `POST /v1/guardians/bindings/{binding_id}/leave` (guardian).
#[utoipa::path(post, path = "/v1/guardians/bindings/{binding_id}/leave", operation_id = "leaveGuardianBinding", tag = "guardians",
    summary = "The guardian leaves the binding. Rider: 403; anyone else: 404; already ended: 409 binding_ended.",
    security(("deviceSignature" = [])),
    params(("binding_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = BindingView), Fails<401, 403, 404, 409>))]
pub(crate) async fn leave(
    State(state): State<AppState>,
    ApiPath(binding_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<BindingView>, ApiError> {
    Ok(Json(
        end(&state, &binding_id, &request.signer.account_id, false).await?,
    ))
}

/// A guardian's daily limit for the rider.
#[derive(Deserialize, ToSchema)]
#[schema(as = GuardianLimit)]
#[serde(deny_unknown_fields)]
struct LimitRequest {
    #[schema(schema_with = constraints::amount_or_null)]
    daily_limit_minor: Option<serde_json::Number>,
    #[schema(schema_with = constraints::offset_or_null)]
    utc_offset_minutes: Option<i64>,
}

/// `PUT /v1/guardians/bindings/{binding_id}/limit` (guardian): sets or
/// clears (`null`) the rider's daily spending limit.
#[utoipa::path(put, path = "/v1/guardians/bindings/{binding_id}/limit", operation_id = "setGuardianLimit", tag = "guardians",
    summary = "The guardian sets (or clears, with null or by leaving daily_limit_minor out) the rider's daily spending limit, counted over the local day at utc_offset_minutes (default 0). Payments beyond it get 402 guardian_limit_reached.",
    security(("deviceSignature" = [])),
    params(("binding_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = LimitRequest,
    responses((status = 200, description = "success", body = BindingView), Fails<400, 401, 403, 404, 409, 422>))]
pub(crate) async fn set_limit(
    State(state): State<AppState>,
    ApiPath(binding_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<BindingView>, ApiError> {
    let me = request.signer.account_id.clone();
    let req: LimitRequest = request.json()?;
    let limit = match &req.daily_limit_minor {
        Some(n) => Some(to_i64(parse_amount("daily_limit_minor", n)?)),
        None => None,
    };
    let offset = check_offset("utc_offset_minutes", req.utc_offset_minutes.unwrap_or(0))?;
    let pool = &state.db().pool;
    let binding = guardians::load_for(pool, &binding_id, &me).await?;
    if binding.guardian_account_id != me {
        return Err(ApiError::Forbidden(
            "only the guardian can set the daily limit".into(),
        ));
    }
    let id = binding.id.clone();
    let changed = state
        .db()
        .write_tx(move |conn| {
            let id = id.clone();
            Box::pin(async move {
                Ok(sqlx::query(
                    "UPDATE guardian_bindings SET daily_limit_minor = $1, \
                     limit_utc_offset_minutes = $2 WHERE id = $3 AND status = 'active'",
                )
                .bind(limit)
                .bind(offset)
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected())
            })
        })
        .await?;
    if changed == 0 {
        return Err(ApiError::BindingEnded(
            "this binding has ended; its limit no longer applies".into(),
        ));
    }
    let binding = guardians::load_for(pool, &binding_id, &me).await?;
    Ok(Json(guardians::view(pool, &binding, &me).await?))
}

/// The query of `GET /v1/guardians/alerts`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertsQuery {
    #[param(minimum = 1, maximum = 500, nullable = false)]
    limit: Option<i64>,
}

/// The alerts made for a guardian, each as stored (the `Alert` schema,
/// written in `crate::openapi`) with its `event_id`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Alerts {
    #[schema(schema_with = alert_list)]
    alerts: Vec<Value>,
}

/// An array of `Alert`s.
fn alert_list() -> RefOr<Schema> {
    RefOr::T(Schema::Array(
        ArrayBuilder::new()
            .items(Ref::from_schema_name("Alert"))
            .build(),
    ))
}

/// `GET /v1/guardians/alerts` (guardian): the alerts made for the caller,
/// newest first.
#[utoipa::path(get, path = "/v1/guardians/alerts", operation_id = "listGuardianAlerts", tag = "guardians",
    summary = "The alerts made for the caller as guardian, newest first (limit 1..500, default 50); each also carries its event_id on the device stream.",
    security(("deviceSignature" = [])),
    params(AlertsQuery),
    responses((status = 200, description = "success", body = Alerts), Fails<401, 422>))]
pub(crate) async fn alerts(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AlertsQuery>,
    request: Signed<Device>,
) -> Result<Json<Alerts>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT event_seq, data FROM guardian_alerts WHERE guardian_account_id = $1 \
         ORDER BY event_seq DESC LIMIT $2",
    )
    .bind(request.signer.account_id.clone())
    .bind(limit)
    .fetch_all(&state.db().pool)
    .await?;
    let mut alerts = Vec::with_capacity(rows.len());
    for (seq, data) in rows {
        let mut value: Value =
            serde_json::from_str(&data).map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.insert("event_id".into(), Value::from(seq));
        }
        alerts.push(value);
    }
    Ok(Json(Alerts { alerts }))
}
