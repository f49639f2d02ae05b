//! `POST /v1/platform/top-up-confirmations` (terminal): settles a kiosk
//! top-up whose outcome the terminal does not know (the phone said
//! "pending", or left). Only the calling terminal's orders are answered.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use super::store;
use crate::auth::{Signed, Terminal};
use crate::db::now_ms;
use crate::error::ApiError;
use crate::extract::check_id;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// How long after an offer's expiry it is still answered `open`: a claim
/// whose commit-time check passed just before the expiry may still be
/// committing.
pub(super) const SETTLE_GRACE_MS: u64 = 5_000;

/// A top_up terminal's question about one of its offers.
#[derive(Deserialize, ToSchema)]
#[schema(as = KioskConfirmationRequest)]
#[serde(deny_unknown_fields)]
struct ConfirmationRequest {
    /// The terminal's order id of the offer.
    #[schema(schema_with = constraints::id)]
    order_id: String,
    /// The offer's `expires_at_ms` as the terminal signed it: the server
    /// keeps no offer that was never claimed, so the terminal says when
    /// its offer closes. Without it an uncredited offer is answered
    /// `not_credited`, which the terminal may treat as final only after
    /// the offer's expiry plus [`SETTLE_GRACE_MS`].
    #[serde(default)]
    #[schema(schema_with = constraints::unsigned_or_null)]
    expires_at_ms: Option<u64>,
}

/// What a kiosk confirmation can say.
fn kiosk_status() -> RefOr<Schema> {
    constraints::one_of(&["credited", "open", "not_credited"])
}

/// The answer: `credited` (with the receipt), `open` (the offer can still
/// be credited: ask again after `expires_at_ms`) or `not_credited` (final:
/// the offer closed and no claim of it was ever credited).
#[derive(Serialize, ToSchema)]
#[schema(as = KioskConfirmation)]
pub(super) struct TopUpConfirmation {
    credited: bool,
    #[schema(schema_with = kiosk_status)]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_up_id: Option<String>,
    /// COSE_Sign1 TopUpReceipt, base64url
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_minor: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

/// `POST /v1/platform/top-up-confirmations`.
#[utoipa::path(post, path = "/v1/platform/top-up-confirmations", operation_id = "confirmKioskTopUp", tag = "kiosk",
    summary = "The calling top_up terminal asks about one of its own offers (an order of another terminal is never seen): credited (with the receipt), open (not credited yet and the offer may still be credited: ask again after expires_at_ms) or not_credited (no claim was credited; final once the offer's expires_at_ms passed more than 5 s ago — the server never credits an offer after it closed). With expires_at_ms (the offer's, as the terminal signed it) the server answers open until then; without it, not_credited means only \"not credited as of now\".",
    security(("terminalSignature" = [])),
    request_body = ConfirmationRequest,
    responses((status = 200, description = "success", body = TopUpConfirmation), Fails<400, 401, 422>))]
pub(super) async fn confirm(
    State(state): State<AppState>,
    request: Signed<Terminal>,
) -> Result<Json<TopUpConfirmation>, ApiError> {
    let req: ConfirmationRequest = request.json()?;
    check_id("order_id", &req.order_id)?;
    let terminal = &request.signer.terminal_id;
    let answer = match store::find(&state.db().pool, terminal, &req.order_id).await? {
        Some(done) => TopUpConfirmation {
            credited: true,
            status: "credited",
            top_up_id: Some(done.top_up_id),
            receipt: Some(done.receipt),
            amount_minor: Some(done.amount_minor),
            currency: Some(done.currency),
        },
        None => TopUpConfirmation {
            credited: false,
            status: match req.expires_at_ms {
                Some(expiry) if now_ms() <= expiry.saturating_add(SETTLE_GRACE_MS) => "open",
                _ => "not_credited",
            },
            top_up_id: None,
            receipt: None,
            amount_minor: None,
            currency: None,
        },
    };
    Ok(Json(answer))
}
