//! `GET /v1/platform/express/deny-list`: the revoked allowances that have
//! not expired, signed with the receipt key that terminals pin. Terminals
//! keep the newest version and refuse express taps when theirs is older
//! than they allow.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use wayfare_protocol::express::{DenyList, DenyListBody};

use crate::auth::{Signed, Terminal};
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::openapi::Fails;
use crate::state::AppState;

/// The answer terminals get.
#[derive(Serialize, ToSchema)]
pub struct DenyListAnswer {
    /// The signed list (COSE, base64url).
    pub deny_list: String,
    /// Its version (also inside the signed body).
    pub version: u64,
    /// How many allowances it names.
    pub entries: usize,
}

/// Builds and signs the current deny list.
pub(crate) async fn current(state: &AppState) -> Result<(DenyList, DenyListBody), ApiError> {
    let now = now_ms();
    let pool = &state.db().pool;
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM express_allowances \
         WHERE revoked_at_ms IS NOT NULL AND expires_at_ms > $1 ORDER BY id",
    )
    .bind(to_i64(now))
    .fetch_all(pool)
    .await?;
    let (version,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(revoked_at_ms) FROM express_allowances")
            .fetch_one(pool)
            .await?;
    let body = DenyListBody {
        version: to_u64(version.unwrap_or(0)),
        issued_at_ms: now,
        allowance_ids: ids.into_iter().map(|(id,)| id).collect(),
    };
    let list = DenyList::issue(&state.keys().receipt, &body)
        .map_err(|e| ApiError::Internal(format!("deny list signing: {e}")))?;
    Ok((list, body))
}

/// `GET /v1/platform/express/deny-list` (terminal-signed).
#[utoipa::path(get, path = "/v1/platform/express/deny-list", operation_id = "expressDenyList", tag = "express",
    summary = "The revoked, unexpired allowances, signed with the receipt key (COSE_Sign1, purpose wayfare/express-deny-list/v1). Terminals keep the newest version.",
    security(("terminalSignature" = [])),
    responses((status = 200, description = "success", body = DenyListAnswer), Fails<401>))]
pub(crate) async fn for_terminal(
    State(state): State<AppState>,
    _terminal: Signed<Terminal>,
) -> Result<Json<DenyListAnswer>, ApiError> {
    let (list, body) = current(&state).await?;
    Ok(Json(DenyListAnswer {
        deny_list: list.to_base64(),
        version: body.version,
        entries: body.allowance_ids.len(),
    }))
}
