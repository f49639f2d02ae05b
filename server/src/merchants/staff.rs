//! The owner and the staff devices: the operator attaches the owner
//! (`POST /v1/merchants/{id}/owner`, admin); the owner lists the staff,
//! changes their scopes and revokes them. Inviting and accepting staff is
//! `staff_invitations`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::ids::{hex_lower, new_id, redact};
use wayfare_protocol::keys::random_bytes;

use super::scopes::Scopes;
use super::{owner, view, views, MemberView, ROLE_OWNER};
use crate::auth::{Admin, Device, Signed};
use crate::db::{lock_clause, now_ms, to_i64, RowLock};
use crate::error::ApiError;
use crate::extract::{check_text, ApiJson, ApiPath};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// Locales prompts can be rendered in.
pub const LOCALES: [&str; 2] = ["zh", "en"];

/// An unexpected failure (id generation, randomness) as a 500.
pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The merchant's new owner.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerRequest {
    account_id: String,
    #[schema(schema_with = locale_or_null)]
    locale: Option<String>,
}

/// The prompt locales, or `null`.
fn locale_or_null() -> RefOr<Schema> {
    constraints::one_of_or_null(&["zh", "en"])
}

/// The memberships of the calling device.
#[derive(Serialize, ToSchema)]
pub(crate) struct Memberships {
    memberships: Vec<MemberView>,
}

/// Every member of a merchant.
#[derive(Serialize, ToSchema)]
pub(crate) struct Members {
    members: Vec<MemberView>,
}

/// `POST /v1/merchants/{merchant_id}/owner` (admin): makes a registered
/// device's account the merchant's owner (replacing any previous owner) and
/// sets the prompt locale.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/owner", operation_id = "setMerchantOwner", tag = "merchants",
    summary = "Makes a registered device's account the merchant's owner (the main management terminal; every scope), replacing any previous owner, and sets the prompt locale (zh default, or en). Unknown merchant: 404; an account_id no registered device has: 422.",
    security(("adminToken" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = OwnerRequest,
    responses((status = 200, description = "success", body = MemberView), Fails<400, 401, 404, 422>))]
pub(crate) async fn set_owner(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(merchant_id): ApiPath<String>,
    ApiJson(req): ApiJson<OwnerRequest>,
) -> Result<Json<MemberView>, ApiError> {
    let locale = req.locale.clone().unwrap_or_else(|| "zh".into());
    if !LOCALES.contains(&locale.as_str()) {
        return Err(ApiError::field("locale", "must be \"zh\" or \"en\""));
    }
    let pool = &state.db().pool;
    let merchant: Option<(String,)> = sqlx::query_as("SELECT id FROM merchants WHERE id = $1")
        .bind(merchant_id.clone())
        .fetch_optional(pool)
        .await?;
    if merchant.is_none() {
        return Err(ApiError::UnknownMerchant("no merchant has this id".into()));
    }
    let device: Option<(String,)> = sqlx::query_as("SELECT id FROM devices WHERE account_id = $1")
        .bind(req.account_id.clone())
        .fetch_optional(pool)
        .await?;
    if device.is_none() {
        return Err(ApiError::field(
            "account_id",
            "no registered device has this account",
        ));
    }
    let member_id = new_id("mem").map_err(internal)?;
    let salt = hex_lower(&random_bytes::<16>().map_err(internal)?);
    let now = to_i64(now_ms());
    let args = (
        merchant_id.clone(),
        req.account_id.clone(),
        member_id.clone(),
    );
    state
        .db()
        .write_tx(move |conn| {
            let (merchant, account, member) = args.clone();
            let (locale, salt) = (locale.clone(), salt.clone());
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO merchant_profiles (merchant_id, locale, dedupe_salt, created_at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id) DO UPDATE SET locale = $2",
                )
                .bind(merchant.clone())
                .bind(locale)
                .bind(salt)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                // The previous owner, and this account's staff membership,
                // end here: one active membership per account and merchant.
                sqlx::query(
                    "UPDATE merchant_members SET status = 'revoked', ended_at_ms = $1 \
                     WHERE merchant_id = $2 AND status = 'active' \
                     AND (role = 'owner' OR account_id = $3)",
                )
                .bind(now)
                .bind(merchant.clone())
                .bind(account.clone())
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO merchant_members (id, merchant_id, account_id, role, label, \
                     operations, content, status, created_at_ms) \
                     VALUES ($1, $2, $3, $4, 'owner', '', '', 'active', $5)",
                )
                .bind(member)
                .bind(merchant)
                .bind(account)
                .bind(ROLE_OWNER)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(merchant = %redact(&merchant_id), "merchant owner attached");
    Ok(Json(view(&state, &member_id).await?))
}

/// `GET /v1/merchants/mine`: the merchants this device manages.
#[utoipa::path(get, path = "/v1/merchants/mine", operation_id = "myMerchants", tag = "merchants",
    summary = "The merchants the calling device manages (active memberships).",
    security(("deviceSignature" = [])),
    responses((status = 200, description = "success", body = Memberships), Fails<401>))]
pub(crate) async fn mine(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<Json<Memberships>, ApiError> {
    let list = views(
        &state,
        "mm.account_id = $1 AND mm.status = 'active'",
        &request.signer.account_id,
        None,
    )
    .await?;
    Ok(Json(Memberships { memberships: list }))
}

/// `GET /v1/merchants/{merchant_id}/staff` (owner): every member, active
/// and revoked.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/staff", operation_id = "listStaff", tag = "merchants",
    summary = "Owner: every member device, active and revoked.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = Members), Fails<401, 403, 404>))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<Json<Members>, ApiError> {
    owner(&state, &merchant_id, &request.signer.account_id).await?;
    let members = views(&state, "mm.merchant_id = $1", &merchant_id, None).await?;
    Ok(Json(Members { members }))
}

/// A staff device's new scopes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ScopeUpdate {
    #[schema(schema_with = super::operations_schema)]
    operations: Vec<String>,
    #[schema(schema_with = super::content_schema)]
    content: Vec<String>,
    #[schema(schema_with = constraints::text_or_null::<60>)]
    label: Option<String>,
}

/// A staff member of this merchant (not the owner), or `404`.
async fn staff_member(
    state: &AppState,
    merchant_id: &str,
    member_id: &str,
) -> Result<MemberView, ApiError> {
    views(
        state,
        "mm.merchant_id = $1 AND mm.id = $2 AND mm.role = 'staff'",
        merchant_id,
        Some(member_id),
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| ApiError::NotFound("this merchant has no staff device with this id".into()))
}

/// `PUT /v1/merchants/{merchant_id}/staff/{member_id}` (owner): replaces
/// the scopes; the next prompt already follows them.
#[utoipa::path(put, path = "/v1/merchants/{merchant_id}/staff/{member_id}", operation_id = "setStaffScopes", tag = "merchants",
    summary = "Owner: replaces a staff device's scopes; the next prompt follows them.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$"), ("member_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = ScopeUpdate,
    responses((status = 200, description = "success", body = MemberView), Fails<400, 401, 403, 404, 422>))]
pub(crate) async fn update(
    State(state): State<AppState>,
    ApiPath((merchant_id, member_id)): ApiPath<(String, String)>,
    request: Signed<Device>,
) -> Result<Json<MemberView>, ApiError> {
    owner(&state, &merchant_id, &request.signer.account_id).await?;
    let req: ScopeUpdate = request.json()?;
    let scopes = Scopes::parse(&req.operations, &req.content)?;
    if let Some(label) = &req.label {
        check_text("label", label, 60)?;
    }
    let current = staff_member(&state, &merchant_id, &member_id).await?;
    if current.status != "active" {
        return Err(ApiError::Forbidden(
            "this staff device was revoked; invite it again".into(),
        ));
    }
    let label = req.label.clone().unwrap_or(current.label);
    let id = member_id.clone();
    state
        .db()
        .write_tx(move |conn| {
            let (id, scopes, label) = (id.clone(), scopes.clone(), label.clone());
            Box::pin(async move {
                sqlx::query(
                    "UPDATE merchant_members SET operations = $1, content = $2, label = $3 \
                     WHERE id = $4 AND status = 'active'",
                )
                .bind(scopes.operations_stored())
                .bind(scopes.content_stored())
                .bind(label)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(member = %redact(&member_id), "staff scopes changed");
    Ok(Json(view(&state, &member_id).await?))
}

/// `DELETE /v1/merchants/{merchant_id}/staff/{member_id}` (owner): the
/// device stops receiving at once; prompts it has not read yet are
/// withdrawn from its event stream.
#[utoipa::path(delete, path = "/v1/merchants/{merchant_id}/staff/{member_id}", operation_id = "revokeStaff", tag = "merchants",
    summary = "Owner: revokes a staff device. It gets no prompt after this commits, and prompts it has not read yet are withdrawn from its stream.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$"), ("member_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = MemberView), Fails<401, 403, 404>))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    ApiPath((merchant_id, member_id)): ApiPath<(String, String)>,
    request: Signed<Device>,
) -> Result<Json<MemberView>, ApiError> {
    owner(&state, &merchant_id, &request.signer.account_id).await?;
    staff_member(&state, &merchant_id, &member_id).await?;
    let now = to_i64(now_ms());
    let args = (merchant_id.clone(), member_id.clone());
    state
        .db()
        .write_tx(move |conn| {
            let (merchant, member) = args.clone();
            Box::pin(async move {
                // Locked: a payment prompting this member right now
                // (share lock) commits first, and its prompt is withdrawn
                // below; none follows once this revocation returned.
                let row: Option<(String,)> = sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT account_id FROM merchant_members WHERE id = $1 AND status = 'active'{}",
                    lock_clause(conn, RowLock::Update)
                )))
                .bind(member.clone())
                .fetch_optional(&mut *conn)
                .await?;
                let Some((account,)) = row else {
                    return Ok(());
                };
                sqlx::query(
                    "UPDATE merchant_members SET status = 'revoked', ended_at_ms = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(member)
                .execute(&mut *conn)
                .await?;
                super::prompts::withdraw(conn, &merchant, &account).await
            })
        })
        .await?;
    tracing::info!(member = %redact(&member_id), "staff device revoked");
    Ok(Json(view(&state, &member_id).await?))
}
