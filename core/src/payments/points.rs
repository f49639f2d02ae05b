//! Paying with loyalty points: a merchant's points rate, read so the app
//! can show the split before the rider confirms (`confirm_with_points`),
//! and the split's arithmetic, the same as the server's.

use reqwest::Method;
use wayfare_protocol::ids::redact;

use super::PaymentsApi;
use crate::error::WalletError;
use crate::http::PointsRateJson;

/// What loyalty points are worth at a merchant.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PointsRate {
    /// The merchant.
    pub merchant_id: String,
    /// The merchant's currency (ISO 4217).
    pub currency: String,
    /// False when the merchant takes no points (then `minor_per_point`
    /// is 0).
    pub accepts_points: bool,
    /// Minor units one point pays.
    pub minor_per_point: u64,
    /// The largest share of a payment points may pay, in basis points
    /// (10000 = all of it).
    pub max_share_bps: u64,
}

/// How a payment splits between points and money.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PointsSplit {
    /// Points spent.
    pub points_spent: u64,
    /// What they pay, in minor units.
    pub points_value_minor: u64,
    /// What the balance pays, in minor units.
    pub money_minor: u64,
}

/// The split of paying `amount_minor` with `points` at `rate`, or `None`
/// when the server would refuse it (points not taken, over the merchant's
/// cap or over the amount). Shows the rider the split before confirming.
#[uniffi::export]
pub fn points_split(rate: &PointsRate, amount_minor: u64, points: u64) -> Option<PointsSplit> {
    if points == 0 {
        return Some(PointsSplit {
            points_spent: 0,
            points_value_minor: 0,
            money_minor: amount_minor,
        });
    }
    if !rate.accepts_points || rate.minor_per_point == 0 {
        return None;
    }
    let value = points.checked_mul(rate.minor_per_point)?;
    let cap = u128::from(amount_minor) * u128::from(rate.max_share_bps) / 10_000;
    if value > amount_minor || u128::from(value) > cap {
        return None;
    }
    Some(PointsSplit {
        points_spent: points,
        points_value_minor: value,
        money_minor: amount_minor - value,
    })
}

/// The most points the rider can spend on `amount_minor` at `rate` when
/// holding `available` points (0 when the merchant takes none).
#[uniffi::export]
pub fn max_points_for(rate: &PointsRate, amount_minor: u64, available: i64) -> u64 {
    if !rate.accepts_points || rate.minor_per_point == 0 {
        return 0;
    }
    let cap = u128::from(amount_minor) * u128::from(rate.max_share_bps.min(10_000)) / 10_000;
    let by_cap = u64::try_from(cap / u128::from(rate.minor_per_point)).unwrap_or(u64::MAX);
    by_cap.min(u64::try_from(available).unwrap_or(0))
}

#[uniffi::export(async_runtime = "tokio")]
impl PaymentsApi {
    /// The points rate of `merchant_id` (the payment request's merchant):
    /// what one point pays there and the largest share points may pay.
    /// Errors: `NotRegistered`, `Network`, `Server` (`unknown_merchant`).
    pub async fn points_rate(&self, merchant_id: String) -> Result<PointsRate, WalletError> {
        let (_, id) = self.inner.device()?;
        if merchant_id.is_empty()
            || !merchant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(WalletError::invalid("the merchant id is not valid"));
        }
        let (_, rate): (_, PointsRateJson) = self
            .inner
            .api
            .signed::<(), _>(
                Method::GET,
                &format!("/v1/merchants/{merchant_id}/points-rate"),
                None,
                &id.signer(),
                &[],
            )
            .await?;
        tracing::debug!(target: "wayfare_core::payments", merchant = %redact(&merchant_id), accepts = rate.accepts_points, "points rate read");
        Ok(PointsRate {
            merchant_id: rate.merchant_id,
            currency: rate.currency,
            accepts_points: rate.accepts_points,
            minor_per_point: rate.minor_per_point,
            max_share_bps: rate.max_share_bps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(minor_per_point: u64, max_share_bps: u64) -> PointsRate {
        PointsRate {
            merchant_id: "mer_1".into(),
            currency: "EUR".into(),
            accepts_points: minor_per_point > 0,
            minor_per_point,
            max_share_bps,
        }
    }

    #[test]
    fn the_split_follows_the_server_rules() {
        let r = rate(2, 5_000);
        let s = points_split(&r, 1_000, 100).unwrap();
        assert_eq!((s.points_value_minor, s.money_minor), (200, 800));
        assert!(points_split(&r, 1_000, 251).is_none());
        assert!(points_split(&rate(0, 10_000), 1_000, 1).is_none());
        assert!(points_split(&rate(1, 10_000), 100, 101).is_none());
        assert_eq!(
            points_split(&rate(0, 10_000), 100, 0).unwrap().money_minor,
            100
        );
        assert_eq!(max_points_for(&r, 1_000, 10_000), 250);
        assert_eq!(max_points_for(&r, 1_000, 30), 30);
        assert_eq!(max_points_for(&rate(0, 10_000), 1_000, 30), 0);
    }
}
