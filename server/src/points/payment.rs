//! What a payment does with points: the money legs when points pay part of
//! it, the points it earns, and its points movements.

use wayfare_protocol::instruction::InstructionBody;

use super::ledger::{loyalty_account_id, transfer, Transfer};
use super::split::Split;
use crate::db::exec::Exec;
use crate::db::to_i64;
use crate::error::ApiError;
use crate::ledger::Leg;

/// The money legs of paying `body` with `split`: the rider pays the amount
/// less the points' value (covered), the merchant is credited the full
/// amount, and the operator's loyalty account pays the points' value (last:
/// its hot row is locked after the rider's and the merchant's). The rider's
/// leg comes first, even at zero, so the payment shows in their history.
pub(crate) fn money_legs(body: &InstructionBody, merchant_account: &str, split: Split) -> Vec<Leg> {
    let amount = to_i64(body.amount_minor);
    let value = to_i64(split.value_minor);
    let mut legs = vec![
        Leg {
            account_id: body.account_id.clone(),
            amount_minor: value - amount,
            require_cover: true,
            points: 0,
            deferred: false,
        },
        Leg {
            account_id: merchant_account.to_string(),
            amount_minor: amount,
            require_cover: false,
            points: 0,
            deferred: true,
        },
    ];
    if value > 0 {
        legs.push(Leg {
            account_id: loyalty_account_id(&body.currency),
            amount_minor: -value,
            require_cover: false,
            points: 0,
            deferred: true,
        });
    }
    legs
}

/// Points earned: one per whole major unit of the money paid; the part
/// paid with points earns none.
pub(crate) fn points_for(body: &InstructionBody, split: Split) -> i64 {
    let minor_per_major: u64 = if body.currency.code() == "JPY" {
        1
    } else {
        100
    };
    to_i64(body.amount_minor.saturating_sub(split.value_minor) / minor_per_major)
}

/// The payment's points movements, inside its transaction: the spent
/// points go to the loyalty account (refused with `insufficient_points`
/// when the rider has fewer), then the earned ones come back from it, so
/// a payment never pays with the points it earns.
pub(crate) async fn move_points(
    conn: &mut dyn Exec,
    body: &InstructionBody,
    payment_id: &str,
    split: Split,
    earned: i64,
    at_ms: i64,
) -> Result<(), ApiError> {
    let movement = |kind, points, require_cover| Transfer {
        kind,
        movement_id: payment_id,
        payment_id: Some(payment_id),
        account_id: &body.account_id,
        points,
        require_cover,
        currency: &body.currency,
        at_ms,
    };
    let spent = -to_i64(split.points_spent);
    transfer(conn, movement("spend", spent, true)).await?;
    transfer(conn, movement("earn", earned, false)).await
}
