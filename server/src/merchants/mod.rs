//! Merchants (P4): the owner's device is the main management terminal; it
//! invites staff devices (sub management terminals) and sets, per device, an
//! operation scope and a content scope (see [`scopes`]). Every completed
//! payment, every refund and every notice the owner forwards from an
//! outside platform becomes one prompt per authorised device, written in the
//! same transaction to the device event stream (`GET /v1/devices/me/events`,
//! kind `merchant.prompt`) with only the attributes of the device's content
//! scope (see [`prompts`]).
//!
//! Authorization: a device that is not an active member of the merchant
//! gets `404 not_found` for everything of that merchant (as for a merchant
//! that does not exist); a member without the needed operation gets
//! `403 missing_scope`; owner-only actions answer `403 forbidden` to staff.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::db::exec::{sql, Exec};
use crate::db::{lock_clause, RowLock};
use crate::error::ApiError;
use crate::state::AppState;

mod create;
pub mod prompts;
mod refunds;
pub mod scopes;
mod staff;
mod staff_invitations;

use scopes::{Operation, Scopes};

/// The routes of the merchant area and their OpenAPI operations, merged
/// into the `/v1` router.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(create::create))
        .routes(utoipa_axum::routes!(staff::mine))
        .routes(utoipa_axum::routes!(staff_invitations::accept))
        .routes(utoipa_axum::routes!(staff::set_owner))
        .routes(utoipa_axum::routes!(staff_invitations::invite))
        .routes(utoipa_axum::routes!(staff::list))
        .routes(utoipa_axum::routes!(staff::update, staff::revoke))
        .routes(utoipa_axum::routes!(refunds::history))
        .routes(utoipa_axum::routes!(refunds::refund))
        .routes(utoipa_axum::routes!(prompts::forward_notice))
}

/// Role of a member device.
pub const ROLE_OWNER: &str = "owner";
/// Role of a staff device.
pub const ROLE_STAFF: &str = "staff";

/// An active member of a merchant, as loaded for authorization.
#[derive(Clone, Debug)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The member device's account.
    pub account_id: String,
    /// `owner` or `staff`.
    pub role: String,
    /// Its scopes (every scope for the owner).
    pub scopes: Scopes,
}

impl Member {
    /// True for the owner.
    pub fn is_owner(&self) -> bool {
        self.role == ROLE_OWNER
    }
}

/// A member as `SELECT_MEMBER` reads it.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct MemberRow {
    id: String,
    merchant_id: String,
    account_id: String,
    role: String,
    operations: String,
    content: String,
}

fn member_from(r: MemberRow) -> Member {
    let scopes = if r.role == ROLE_OWNER {
        Scopes::all()
    } else {
        Scopes::from_stored(&r.operations, &r.content)
    };
    Member {
        member_id: r.id,
        merchant_id: r.merchant_id,
        account_id: r.account_id,
        role: r.role,
        scopes,
    }
}

const SELECT_MEMBER: &str = "SELECT id, merchant_id, account_id, role, operations, content \
    FROM merchant_members WHERE status = 'active'";

/// The active member `account_id` of `merchant_id`, or `404 not_found`.
pub async fn member(
    state: &AppState,
    merchant_id: &str,
    account_id: &str,
) -> Result<Member, ApiError> {
    let row: Option<MemberRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT_MEMBER} AND merchant_id = $1 AND account_id = $2"
    )))
    .bind(merchant_id.to_string())
    .bind(account_id.to_string())
    .fetch_optional(&state.db().pool)
    .await?;
    row.map(member_from).ok_or_else(not_a_member)
}

/// Like [`member`], then requires `op` (`403 missing_scope` without it).
pub async fn member_with(
    state: &AppState,
    merchant_id: &str,
    account_id: &str,
    op: Operation,
) -> Result<Member, ApiError> {
    let m = member(state, merchant_id, account_id).await?;
    if !m.scopes.allows(op) {
        return Err(ApiError::MissingScope(format!(
            "this device's operation scope does not include {}; ask the merchant's owner to grant it",
            op.as_str()
        )));
    }
    Ok(m)
}

/// Like [`member`], and the member must be the owner (`403 forbidden`).
pub async fn owner(
    state: &AppState,
    merchant_id: &str,
    account_id: &str,
) -> Result<Member, ApiError> {
    let m = member(state, merchant_id, account_id).await?;
    if !m.is_owner() {
        return Err(ApiError::Forbidden(
            "only the merchant's owner device can do this".into(),
        ));
    }
    Ok(m)
}

/// The active members of a merchant, read inside a transaction and
/// share-locked until it commits (PostgreSQL; SQLite runs one writer at a
/// time): a revocation or scope change, which updates the row, waits for a
/// payment already prompting, and a payment that starts after it committed
/// sees the new state. So no prompt follows a revocation that has returned.
pub async fn active_members(
    conn: &mut dyn Exec,
    merchant_id: &str,
) -> Result<Vec<Member>, ApiError> {
    let lock = lock_clause(conn, RowLock::Share);
    let rows: Vec<MemberRow> = sql(format!(
        "{SELECT_MEMBER} AND merchant_id = $1 ORDER BY created_at_ms, id{lock}"
    ))
    .bind(merchant_id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(member_from).collect())
}

/// The answer for a merchant the caller does not manage.
pub fn not_a_member() -> ApiError {
    ApiError::NotFound("no merchant managed by this device has this id".into())
}

/// A member as answered to clients.
#[derive(Serialize, Clone, Debug, utoipa::ToSchema)]
#[schema(as = Member)]
pub struct MemberView {
    /// Member id.
    pub member_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The merchant's name.
    pub merchant_name: String,
    /// The locale prompts are rendered in (`zh` or `en`).
    #[schema(schema_with = locale_schema)]
    pub locale: String,
    /// `owner` or `staff`.
    #[schema(schema_with = role_schema)]
    pub role: String,
    /// The member device's pseudonymous handle.
    pub handle: String,
    /// The owner's label for the device.
    pub label: String,
    /// Operation scope.
    #[schema(schema_with = operations_schema)]
    pub operations: Vec<String>,
    /// Content scope.
    #[schema(schema_with = content_schema)]
    pub content: Vec<String>,
    /// `active` or `revoked`.
    #[schema(schema_with = status_schema)]
    pub status: String,
    /// When the device joined (Unix ms).
    pub created_at_ms: i64,
}

/// The locales prompts are rendered in.
fn locale_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::one_of(&["zh", "en"])
}

/// A member's roles.
fn role_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::one_of(&[ROLE_OWNER, ROLE_STAFF])
}

/// A member's statuses.
fn status_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::one_of(&["active", "revoked"])
}

/// The operation scope's names (`scopes::Operation`).
pub(crate) fn operations_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::array_of(&["receive_prompts", "view_history", "refund"])
}

/// The content scope's names (`scopes::Attribute`).
pub(crate) fn content_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::array_of(&[
        "order_id",
        "payer_name",
        "payee_name",
        "payment_type",
        "amount",
        "time",
        "payment_platform",
    ])
}

/// A member with its merchant's name and locale, as `SELECT_VIEW` reads it.
#[derive(sqlx::FromRow)]
struct ViewRow {
    id: String,
    merchant_id: String,
    name: String,
    handle: Option<String>,
    role: String,
    label: String,
    operations: String,
    content: String,
    status: String,
    created_at_ms: i64,
    locale: Option<String>,
}

const SELECT_VIEW: &str = "SELECT mm.id, mm.merchant_id, m.name, a.handle, mm.role, mm.label, \
    mm.operations, mm.content, mm.status, mm.created_at_ms, p.locale \
    FROM merchant_members mm JOIN merchants m ON m.id = mm.merchant_id \
    JOIN accounts a ON a.id = mm.account_id \
    LEFT JOIN merchant_profiles p ON p.merchant_id = mm.merchant_id";

fn view_from(r: ViewRow) -> MemberView {
    let scopes = if r.role == ROLE_OWNER {
        Scopes::all()
    } else {
        Scopes::from_stored(&r.operations, &r.content)
    };
    MemberView {
        member_id: r.id,
        merchant_id: r.merchant_id,
        merchant_name: r.name,
        handle: r.handle.unwrap_or_default(),
        role: r.role,
        label: r.label,
        operations: scopes
            .operation_names()
            .into_iter()
            .map(String::from)
            .collect(),
        content: scopes
            .content_names()
            .into_iter()
            .map(String::from)
            .collect(),
        status: r.status,
        created_at_ms: r.created_at_ms,
        locale: r.locale.unwrap_or_else(|| "zh".into()),
    }
}

/// Member views matching `filter` (a constant SQL condition on `mm`, with
/// `$1`/`$2`; never built from client input).
pub async fn views(
    state: &AppState,
    filter: &'static str,
    a: &str,
    b: Option<&str>,
) -> Result<Vec<MemberView>, ApiError> {
    let sql = format!("{SELECT_VIEW} WHERE {filter} ORDER BY mm.created_at_ms, mm.id");
    let mut q = sqlx::query_as::<_, ViewRow>(AssertSqlSafe(sql)).bind(a.to_string());
    if let Some(b) = b {
        q = q.bind(b.to_string());
    }
    Ok(q.fetch_all(&state.db().pool)
        .await?
        .into_iter()
        .map(view_from)
        .collect())
}

/// The view of one member.
pub async fn view(state: &AppState, member_id: &str) -> Result<MemberView, ApiError> {
    views(state, "mm.id = $1", member_id, None)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound("no such staff device".into()))
}
