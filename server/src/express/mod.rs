//! The express tap's server side (issue 9.2): allowances for a device's
//! tap keys ([`allowances`]), the signed deny list terminals sync
//! ([`deny_list`]), the taps terminals upload after opening the gate
//! offline ([`settle`]), and the debt a tap leaves when the balance could
//! not cover it ([`debts`]).
//!
//! Money rules: a tap is charged once, keyed by (allowance, counter), and
//! its payment's order id is derived from that key, so a retried upload or
//! a crash between the payment and the tap's row never charges twice. What
//! the balance cannot cover becomes debt: the device's allowances are
//! revoked and none is issued until a top-up pays it.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) mod allowances;
pub(crate) mod debts;
pub(crate) mod deny_list;
pub(crate) mod settle;

/// The express routes and operations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(allowances::issue, allowances::switch_off))
        .routes(routes!(allowances::status))
        .routes(routes!(deny_list::for_terminal))
        .routes(routes!(settle::upload))
        .routes(routes!(debts::revoke_device))
        .routes(routes!(debts::list))
}

/// Revokes the device's live allowances (on the deny list until they
/// expire); returns how many.
pub(crate) async fn revoke_live(
    conn: &mut sqlx::AnyConnection,
    device_id: &str,
    reason: &str,
    now: i64,
) -> Result<u64, crate::error::ApiError> {
    let done = sqlx::query(
        "UPDATE express_allowances SET revoked_at_ms = $1, revoked_reason = $2 \
         WHERE device_id = $3 AND revoked_at_ms IS NULL AND expires_at_ms > $1",
    )
    .bind(now)
    .bind(reason.to_string())
    .bind(device_id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
