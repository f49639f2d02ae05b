//! `POST /v1/platform/confirmations` (terminal, P3.3): did a payment
//! complete at this terminal for this order? How a terminal settles a
//! sale whose answer it lost.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::auth::{Signed, Terminal};
use crate::db::to_u64;
use crate::error::ApiError;
use crate::extract::check_id;
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// A terminal's question about a sale.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmationRequest {
    /// The payment the phone's receipt names; absent when the terminal asks
    /// about an order whose outcome it does not know (an in-doubt sale).
    #[serde(default)]
    #[schema(schema_with = constraints::id_or_null)]
    payment_id: Option<String>,
    #[schema(schema_with = constraints::id)]
    order_id: String,
    /// For an exit whose trip was already paid elsewhere (a lost answer at
    /// another gate of the operator): the tap-in token the payment used.
    /// The payment is then confirmed if it paid this token's trip for this
    /// terminal's operator, whichever of its terminals took it.
    #[serde(default)]
    #[schema(schema_with = constraints::id_or_null)]
    token_id: Option<String>,
}

/// What a confirmation can say.
fn confirmation_status() -> RefOr<Schema> {
    constraints::one_of(&["completed", "order_mismatch", "not_paid"])
}

/// The answer: whether the sale was paid.
#[derive(Serialize, ToSchema)]
pub(crate) struct Confirmation {
    confirmed: bool,
    #[schema(schema_with = confirmation_status)]
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_minor: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

/// `POST /v1/platform/confirmations` (terminal): did this payment complete
/// at this terminal for this order? A payment of another terminal is
/// answered as not found, so terminals learn nothing about each other.
/// Without `payment_id` it answers for the order itself: `completed` with
/// the payment, or `not_paid` (an in-doubt sale is settled from this; the
/// payment server never commits a payment after its request expired).
#[utoipa::path(post, path = "/v1/platform/confirmations", operation_id = "confirmPayment", tag = "terminals",
    summary = "P3.3: confirmed is true only for a completed payment made at the calling terminal for that order. A payment of another terminal is 404. Without payment_id, answers for the order (an in-doubt sale): completed with its payment, or not_paid.",
    security(("terminalSignature" = [])),
    request_body = ConfirmationRequest,
    responses((status = 200, description = "success", body = Confirmation), Fails<400, 401, 404, 422>))]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    request: Signed<Terminal>,
) -> Result<Json<Confirmation>, ApiError> {
    let req: ConfirmationRequest = request.json()?;
    check_id("order_id", &req.order_id)?;
    // Checked even when unused (no payment_id): a bad field is refused alike.
    if let Some(token_id) = &req.token_id {
        check_id("token_id", token_id)?;
    }
    let terminal = &request.signer.terminal_id;
    let Some(payment_id) = req.payment_id else {
        let row: Option<PaidRow> = sqlx::query_as(
            "SELECT id, status, amount_minor, currency FROM payments \
             WHERE terminal_id = $1 AND order_id = $2",
        )
        .bind(terminal.clone())
        .bind(req.order_id.clone())
        .fetch_optional(&state.db().pool)
        .await?;
        return Ok(Json(match row {
            Some(paid) => Confirmation {
                confirmed: paid.status == "completed",
                status: paid.status,
                payment_id: Some(paid.id),
                amount_minor: Some(to_u64(paid.amount_minor)),
                currency: Some(paid.currency),
            },
            None => Confirmation {
                confirmed: false,
                status: "not_paid".into(),
                payment_id: None,
                amount_minor: None,
                currency: None,
            },
        }));
    };
    check_id("payment_id", &payment_id)?;
    if let Some(token_id) = &req.token_id {
        let row: Option<PaidRow> = sqlx::query_as(
            "SELECT p.id, p.status, p.amount_minor, p.currency FROM used_tap_in_tokens u \
             JOIN payments p ON p.id = u.payment_id \
             JOIN terminals t ON t.id = $3 AND t.merchant_id = p.merchant_id \
             WHERE u.token_id = $1 AND u.payment_id = $2",
        )
        .bind(token_id.clone())
        .bind(payment_id.clone())
        .bind(terminal.clone())
        .fetch_optional(&state.db().pool)
        .await?;
        return match row {
            Some(paid) => Ok(Json(Confirmation {
                confirmed: paid.status == "completed",
                status: paid.status,
                payment_id: Some(paid.id),
                amount_minor: Some(to_u64(paid.amount_minor)),
                currency: Some(paid.currency),
            })),
            None => Err(ApiError::NotFound(
                "no payment of this operator paid that tap-in token's trip".into(),
            )),
        };
    }
    let row: Option<TakenRow> = sqlx::query_as(
        "SELECT terminal_id, order_id, status, amount_minor, currency FROM payments WHERE id = $1",
    )
    .bind(payment_id.clone())
    .fetch_optional(&state.db().pool)
    .await?;
    match row {
        Some(taken) if &taken.terminal_id == terminal => {
            let same_order = taken.order_id == req.order_id;
            Ok(Json(Confirmation {
                confirmed: same_order && taken.status == "completed",
                status: if same_order {
                    taken.status
                } else {
                    "order_mismatch".into()
                },
                payment_id: Some(payment_id),
                amount_minor: Some(to_u64(taken.amount_minor)),
                currency: Some(taken.currency),
            }))
        }
        _ => Err(ApiError::NotFound(
            "no payment with this id was made at this terminal".into(),
        )),
    }
}

/// A payment as a confirmation answers it.
#[derive(sqlx::FromRow)]
struct PaidRow {
    id: String,
    status: String,
    amount_minor: i64,
    currency: String,
}

/// A payment looked up by id: which terminal and order it was for.
#[derive(sqlx::FromRow)]
struct TakenRow {
    terminal_id: String,
    order_id: String,
    status: String,
    amount_minor: i64,
    currency: String,
}
