//! Staff invitations: the owner invites a device with an expiring,
//! single-use code (optionally for one handle only) and a QR payload; a
//! device accepts it and becomes a staff member with the invitation's
//! scopes. Codes, QR secrets and the limit of failed attempts are shared
//! with guardian invitations (`crate::invitations`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;
use wayfare_protocol::ids::{new_id, redact};

use super::scopes::Scopes;
use super::staff::internal;
use super::{owner, view, MemberView, ROLE_STAFF};
use crate::auth::{Device, Signed};
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_text, ApiPath};
use crate::invitations::{self, Presented};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The prefix of the QR payload; a 256-bit secret (hex) follows it.
pub const QR_PREFIX: &str = "wayfare:merchant-invite:v2:";
/// The older QR payload, which carried the short code; still read.
const LEGACY_QR_PREFIX: &str = "wayfare:merchant-invite:v1:";
const DEFAULT_EXPIRY_S: i64 = 600;
const MAX_EXPIRY_S: i64 = 86_400;

/// An owner's invitation of a staff device.
#[derive(Deserialize, ToSchema)]
#[schema(as = StaffInvitationRequest)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    #[schema(schema_with = super::operations_schema)]
    operations: Vec<String>,
    #[schema(schema_with = super::content_schema)]
    content: Vec<String>,
    #[schema(schema_with = constraints::text_or_null::<60>)]
    label: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    invitee_handle: Option<String>,
    #[schema(schema_with = constraints::range_or_null::<1, 86_400>)]
    expires_in_s: Option<i64>,
}

/// A fresh staff invitation.
#[derive(Serialize, ToSchema)]
#[schema(as = StaffInvitation)]
pub(crate) struct Invitation {
    invitation_id: String,
    merchant_id: String,
    code: String,
    qr_payload: String,
    label: String,
    operations: Vec<&'static str>,
    content: Vec<&'static str>,
    expires_at_ms: i64,
}

/// `POST /v1/merchants/{merchant_id}/invitations` (owner).
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/invitations", operation_id = "inviteStaff", tag = "merchants",
    summary = "Owner: invites a staff device with an operation and a content scope. Single-use code and QR payload (wayfare:merchant-invite:v2: + a 256-bit secret, hex), expiring (expires_in_s 1..86400, default 600); with invitee_handle only that device may accept. Staff: 403; non-members: 404.",
    security(("deviceSignature" = [])),
    params(("merchant_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    request_body = InvitationRequest,
    responses((status = 201, description = "success", body = Invitation), Fails<400, 401, 403, 404, 422>))]
pub(crate) async fn invite(
    State(state): State<AppState>,
    ApiPath(merchant_id): ApiPath<String>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<Invitation>), ApiError> {
    let owner = owner(&state, &merchant_id, &request.signer.account_id).await?;
    let req: InvitationRequest = request.json()?;
    let scopes = Scopes::parse(&req.operations, &req.content)?;
    let label = req.label.clone().unwrap_or_else(|| "staff".into());
    check_text("label", &label, 60)?;
    if let Some(h) = &req.invitee_handle {
        check_text("invitee_handle", h, 100)?;
    }
    let expires_in = req.expires_in_s.unwrap_or(DEFAULT_EXPIRY_S);
    if !(1..=MAX_EXPIRY_S).contains(&expires_in) {
        return Err(ApiError::field(
            "expires_in_s",
            format!("must be between 1 and {MAX_EXPIRY_S} seconds"),
        ));
    }
    let now = to_i64(now_ms());
    let expires_at = now + expires_in * 1000;
    let invitation_id = new_id("minv").map_err(internal)?;
    let issued = invitations::store_fresh(QR_PREFIX, |issued| {
        let row = NewStaffInvitation {
            id: invitation_id.clone(),
            code: issued.code.clone(),
            secret_hash: issued.secret_hash.clone(),
            merchant_id: merchant_id.clone(),
            created_by: owner.account_id.clone(),
            label: label.clone(),
            scopes: scopes.clone(),
            invitee_handle: req.invitee_handle.clone(),
        };
        state.db().write_tx(move |conn| {
            let r = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO merchant_invitations (id, code, secret_hash, merchant_id, \
                     created_by, label, operations, content, invitee_handle, created_at_ms, \
                     expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(r.id)
                .bind(r.code)
                .bind(r.secret_hash)
                .bind(r.merchant_id)
                .bind(r.created_by)
                .bind(r.label)
                .bind(r.scopes.operations_stored())
                .bind(r.scopes.content_stored())
                .bind(r.invitee_handle)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
    })
    .await?;
    tracing::info!(merchant = %redact(&merchant_id), invitation = %redact(&invitation_id), "staff invitation created");
    let body = Invitation {
        invitation_id,
        merchant_id,
        code: issued.display_code,
        qr_payload: issued.qr_payload,
        label,
        operations: scopes.operation_names(),
        content: scopes.content_names(),
        expires_at_ms: expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The row a staff invitation is stored as.
#[derive(Clone)]
struct NewStaffInvitation {
    id: String,
    code: String,
    secret_hash: String,
    merchant_id: String,
    created_by: String,
    label: String,
    scopes: Scopes,
    invitee_handle: Option<String>,
}

/// The code (or QR payload) a staff device presents.
#[derive(Deserialize, ToSchema)]
#[schema(as = StaffAcceptRequest)]
#[serde(deny_unknown_fields)]
struct AcceptRequest {
    code: String,
}

/// Where staff invitations are kept; accepting one creates a member.
const INVITATIONS: invitations::Table = invitations::Table {
    name: "merchant_invitations",
    created: "member_id",
};

/// A staff invitation as accepting it reads it.
#[derive(sqlx::FromRow)]
struct StaffInvitation {
    id: String,
    merchant_id: String,
    label: String,
    operations: String,
    content: String,
    invitee_handle: Option<String>,
    expires_at_ms: i64,
    used_at_ms: Option<i64>,
}

impl invitations::Invitation for StaffInvitation {
    fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }
    fn used_at_ms(&self) -> Option<i64> {
        self.used_at_ms
    }
}

/// `POST /v1/merchants/invitations/accept`: the device becomes a staff
/// device of the inviting merchant with the invitation's scopes. Every
/// code that cannot be accepted gets the same `404 invitation_invalid`,
/// and counts against the caller's limit of failed attempts (`429
/// too_many_attempts` past it).
#[utoipa::path(post, path = "/v1/merchants/invitations/accept", operation_id = "acceptStaffInvitation", tag = "merchants",
    summary = "A device accepts a staff invitation (code or QR payload) and becomes a staff device. 404 invitation_invalid for every code that cannot be accepted (unknown, expired, used, for another device than invitee_handle); 409 already_member; 429 too_many_attempts (with retry-after) past the limit of failed attempts, shared with guardian invitations.",
    security(("deviceSignature" = [])),
    request_body = AcceptRequest,
    responses((status = 201, description = "success", body = MemberView), Fails<400, 401, 404, 409, 422, 429>))]
pub(crate) async fn accept(
    State(state): State<AppState>,
    request: Signed<Device>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let account = request.signer.account_id.clone();
    let device = request.signer.device_id.clone();
    let req: AcceptRequest = request.json()?;
    let member_id = new_id("mem").map_err(internal)?;
    let now = to_i64(now_ms());
    let attempt = async {
        let presented = Presented::parse(&req.code, QR_PREFIX, LEGACY_QR_PREFIX)?;
        let args = (presented, account.clone(), member_id.clone());
        let result = state
            .db()
            .write_tx(move |conn| {
                let (presented, account, member) = args.clone();
                Box::pin(async move { claim(conn, &presented, &account, &member, now).await })
            })
            .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(ApiError::AlreadyMember(
                "this device already manages this merchant".into(),
            )),
            other => other,
        }
    };
    invitations::guarded(&state, &account, &device, attempt).await?;
    tracing::info!(member = %redact(&member_id), "staff device joined a merchant");
    Ok((StatusCode::CREATED, Json(view(&state, &member_id).await?)))
}

/// Claims the invitation and adds the member, inside the transaction.
async fn claim(
    conn: &mut AnyConnection,
    presented: &Presented,
    account: &str,
    member: &str,
    now: i64,
) -> Result<(), ApiError> {
    let invitation: StaffInvitation = invitations::find_open(
        conn,
        &INVITATIONS,
        "id, merchant_id, label, operations, content, invitee_handle, expires_at_ms, used_at_ms",
        presented,
        now,
    )
    .await?;
    if let Some(handle) = &invitation.invitee_handle {
        let mine = crate::accounts::store::get(&mut *conn, account)
            .await?
            .handle;
        // Meant for another device: the same answer too.
        if mine.as_deref() != Some(handle.as_str()) {
            return Err(invitations::invalid());
        }
    }
    invitations::mark_used(conn, &INVITATIONS, &invitation.id, member, now).await?;
    sqlx::query(
        "INSERT INTO merchant_members (id, merchant_id, account_id, role, label, \
         operations, content, status, invitation_id, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9)",
    )
    .bind(member.to_string())
    .bind(invitation.merchant_id)
    .bind(account.to_string())
    .bind(ROLE_STAFF)
    .bind(invitation.label)
    .bind(invitation.operations)
    .bind(invitation.content)
    .bind(invitation.id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
