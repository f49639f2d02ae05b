//! Transit facts of a payment (P1, P3.6): checks on the fare context a
//! device signs, and the one-payment-per-tap-in-token rule.
//!
//! How a tap-in/tap-out trip reaches the control center: the entry terminal
//! charges nothing and records nothing with the server except its report
//! (kind `tap_in`, through its durable report queue); the phone keeps the
//! signed tap-in token. The exit terminal verifies the token, prices the
//! trip and puts the entry (station, time, token id) into the payment
//! request's fare context, which the device signs into its instruction and
//! the receipt repeats. So the exit payment alone carries where the ride
//! began and ended, and the server refuses a second payment naming the same
//! token id, whichever exit terminal it comes from.

use wayfare_protocol::fare::{FareContext, FareMode};
use wayfare_protocol::instruction::InstructionBody;

use crate::db::exec::{sql, Exec};
use crate::error::ApiError;
use crate::extract::{check_id, check_text};

/// Validates the text of a fare context (it ends up in alerts).
pub fn validate_fare(fare: &FareContext) -> Result<(), ApiError> {
    for (name, value) in [
        ("instruction.fare.line", &fare.line),
        ("instruction.fare.vehicle", &fare.vehicle),
        ("instruction.fare.station", &fare.station),
        ("instruction.fare.direction.from", &fare.direction.from),
        (
            "instruction.fare.direction.towards",
            &fare.direction.towards,
        ),
    ] {
        check_text(name, value, 100)?;
    }
    if fare.mode == FareMode::TapIn {
        return Err(ApiError::field(
            "instruction.fare.mode",
            "tap_in records an entry; it is never paid",
        ));
    }
    match (&fare.mode, &fare.entry) {
        (FareMode::TapOut, None) => Err(ApiError::field(
            "instruction.fare.entry",
            "a tap_out fare must name its entry",
        )),
        (_, Some(entry)) => {
            check_text("instruction.fare.entry.station", &entry.station, 100)?;
            check_id("instruction.fare.entry.token_id", &entry.token_id)
        }
        _ => Ok(()),
    }
}

/// Records that `payment_id` used the fare's tap-in token; a token already
/// used by another payment is `409 tap_in_token_used`. Runs inside the
/// payment transaction, after the payment row exists.
pub async fn claim_tap_in_token(
    conn: &mut dyn Exec,
    body: &InstructionBody,
    payment_id: &str,
    at_ms: i64,
) -> Result<(), ApiError> {
    let Some((fare, entry)) = body
        .fare
        .as_ref()
        .and_then(|f| f.entry.as_ref().map(|e| (f, e)))
    else {
        return Ok(());
    };
    let inserted = sql(
        "INSERT INTO used_tap_in_tokens (token_id, payment_id, used_at_ms) VALUES ($1, $2, $3)",
    )
    .bind(entry.token_id.clone())
    .bind(payment_id.to_string())
    .bind(at_ms)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {
            let completion = crate::journeys::Completion {
                token_id: &entry.token_id,
                account_id: &body.account_id,
                device_id: &body.device_id,
                terminal_id: &body.terminal_id,
                merchant_id: &body.merchant_id,
                line: &fare.line,
                station: &entry.station,
                entered_at_ms: i64::try_from(entry.at_ms).unwrap_or(i64::MAX),
                currency: body.currency.code(),
            };
            crate::journeys::close_entry(conn, &completion, payment_id).await
        }
        Err(e) if crate::db::is_unique_violation(&e) => Err(ApiError::TapInTokenUsed(
            "this tap-in token was already used to pay a trip; tap in again at the entry".into(),
        )),
        Err(e) => Err(e),
    }
}
