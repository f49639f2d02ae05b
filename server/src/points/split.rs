//! How a payment splits between points and money, and how refunds return
//! both in proportion. Pure arithmetic plus one rate lookup.

use sqlx::AnyPool;

use super::rates::{self, Rate};
use crate::error::ApiError;

/// What a payment's points cover: `value_minor` of its amount is paid by
/// `points_spent` points; the rider's money pays the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// Points the rider spends.
    pub points_spent: u64,
    /// Their value at the merchant's rate, in minor units.
    pub value_minor: u64,
}

/// The split of paying `amount_minor` at `merchant_id` with `points_spent`
/// points, at the merchant's current rate. Refused (typed) when the
/// merchant takes no points or the value would exceed the merchant's cap
/// or the amount. Whether the rider has the points is decided in the
/// payment's transaction.
pub(crate) async fn quote(
    pool: &AnyPool,
    merchant_id: &str,
    points_spent: u64,
    amount_minor: u64,
) -> Result<Split, ApiError> {
    if points_spent == 0 {
        return Ok(Split::default());
    }
    let rate = rates::find(pool, merchant_id).await?;
    split_at(rate, points_spent, amount_minor)
}

/// [`quote`]'s arithmetic for a known rate.
pub(crate) fn split_at(
    rate: Option<Rate>,
    points_spent: u64,
    amount_minor: u64,
) -> Result<Split, ApiError> {
    let rate = match rate {
        Some(r) if r.minor_per_point > 0 => r,
        _ => {
            return Err(ApiError::PointsNotAccepted(
                "this merchant does not take loyalty points; pay with money only".into(),
            ))
        }
    };
    let field = "instruction.points_spent";
    let value = points_spent
        .checked_mul(rate.minor_per_point)
        .filter(|v| *v <= amount_minor)
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!(
                    "{points_spent} points are worth more than the amount of {amount_minor} \
                     minor units at {} per point",
                    rate.minor_per_point
                ),
            )
        })?;
    let cap = u128::from(amount_minor) * u128::from(rate.max_share_bps) / 10_000;
    if u128::from(value) > cap {
        return Err(ApiError::field(
            field,
            format!(
                "points may cover at most {} basis points of a payment here ({cap} of \
                 {amount_minor} minor units); {points_spent} points are worth {value}",
                rate.max_share_bps
            ),
        ));
    }
    Ok(Split {
        points_spent,
        value_minor: value,
    })
}

/// The part of `total` (points or their value) attributable to `refunded`
/// of a payment's `paid` amount, rounded down: the increments across
/// several partial refunds add up to `total` exactly at a full refund and
/// never exceed it.
pub(crate) fn share(total: i64, refunded: i64, paid: i64) -> i64 {
    if paid <= 0 {
        return 0;
    }
    let share = i128::from(total) * i128::from(refunded) / i128::from(paid);
    i64::try_from(share).unwrap_or(0)
}

/// The increment of [`share`] brought by a refund of `amount` that took the
/// refunded total to `refunded_now`.
pub(crate) fn share_of_refund(total: i64, refunded_now: i64, amount: i64, paid: i64) -> i64 {
    share(total, refunded_now, paid) - share(total, refunded_now - amount, paid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(minor_per_point: u64, max_share_bps: u64) -> Option<Rate> {
        Some(Rate {
            minor_per_point,
            max_share_bps,
        })
    }

    #[test]
    fn value_is_points_times_rate_within_cap_and_amount() {
        let s = split_at(rate(2, 5_000), 100, 1_000).unwrap();
        assert_eq!((s.points_spent, s.value_minor), (100, 200));
        // Exactly the cap, exactly the amount.
        assert_eq!(
            split_at(rate(2, 5_000), 250, 1_000).unwrap().value_minor,
            500
        );
        assert_eq!(
            split_at(rate(1, 10_000), 1_000, 1_000).unwrap().value_minor,
            1_000
        );
    }

    #[test]
    fn refusals_are_typed() {
        let code = |r: Result<Split, ApiError>| r.unwrap_err().code_and_status().0;
        assert_eq!(code(split_at(None, 1, 100)), "points_not_accepted");
        assert_eq!(
            code(split_at(rate(0, 10_000), 1, 100)),
            "points_not_accepted"
        );
        assert_eq!(code(split_at(rate(2, 5_000), 251, 1_000)), "invalid_field");
        assert_eq!(
            code(split_at(rate(1, 10_000), 1_001, 1_000)),
            "invalid_field"
        );
        assert_eq!(
            code(split_at(rate(u64::MAX, 10_000), 2, 1_000)),
            "invalid_field"
        );
    }

    #[test]
    fn refunds_return_in_proportion_never_more() {
        // 10 points for 1000: refunds of 300, 300, 400 return 3, 3, 4.
        assert_eq!(share_of_refund(10, 300, 300, 1_000), 3);
        assert_eq!(share_of_refund(10, 600, 300, 1_000), 3);
        assert_eq!(share_of_refund(10, 1_000, 400, 1_000), 4);
        // 2 points for 250: 1 + 1 across two 125 refunds.
        assert_eq!(share_of_refund(2, 125, 125, 250), 1);
        assert_eq!(share(2, 250, 250), 2);
        assert_eq!(share(5, 10, 0), 0);
    }
}
