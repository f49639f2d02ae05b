//! `GET /v1/accounts/{account_id}` (admin): an account as the operator
//! sees it, its balance and points counting the pending entries not yet
//! folded (decision 0020).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::openapi::Fails;
use crate::state::AppState;

/// An account as the operator sees it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountView {
    account_id: String,
    #[schema(schema_with = account_kind)]
    kind: String,
    display_name: String,
    balance_minor: i64,
    currency: String,
    points: i64,
}

/// The kinds of account.
fn account_kind() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::openapi::constraints::one_of(&["user", "merchant", "funding", "loyalty", "cash_float"])
}

/// `GET /v1/accounts/{account_id}`.
#[utoipa::path(get, path = "/v1/accounts/{account_id}", operation_id = "getAccount", tag = "accounts",
    summary = "Any account.",
    security(("adminToken" = [])),
    params(("account_id" = String, Path, pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "success", body = AccountView), Fails<401, 404>))]
pub(crate) async fn account(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(account_id): ApiPath<String>,
) -> Result<Json<AccountView>, ApiError> {
    // Pending entries (a merchant's credits not yet folded) count at once.
    let row: Option<AccountRow> = sqlx::query_as(
        "SELECT a.id, a.kind, a.display_name, CAST(a.balance_minor + COALESCE((SELECT \
         SUM(p.amount_minor) FROM pending_entries p WHERE p.account_id = a.id), 0) AS BIGINT) \
         AS balance_minor, a.currency, CAST(a.points + COALESCE((SELECT SUM(p.points) \
         FROM pending_entries p WHERE p.account_id = a.id), 0) AS BIGINT) AS points \
         FROM accounts a WHERE a.id = $1",
    )
    .bind(account_id)
    .fetch_optional(&state.db().pool)
    .await?;
    let account = row.ok_or_else(|| ApiError::NotFound("no account has this id".into()))?;
    Ok(Json(AccountView {
        account_id: account.id,
        kind: account.kind,
        display_name: account.display_name,
        balance_minor: account.balance_minor,
        currency: account.currency,
        points: account.points,
    }))
}

/// An account with its pending entries counted.
#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    kind: String,
    display_name: String,
    balance_minor: i64,
    currency: String,
    points: i64,
}
