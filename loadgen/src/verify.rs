//! After the run: nothing acknowledged is lost and nothing is doubled.
//! The ledger sums to zero with every balance equal to its entries, each
//! rider's balance is exactly its funding minus its acknowledged payments,
//! and the merchant holds exactly the acknowledged total.

use anyhow::{Context, Result};
use reqwest::Method;

use crate::client::Api;
use crate::drive::Results;
use crate::setup::Scene;

/// What the checks found.
pub struct Verdict {
    /// `GET /v1/ledger/check`'s sum (0 when every movement balanced).
    pub ledger_sum: i64,
    /// Accounts whose balance differs from their entries.
    pub balance_mismatches: i64,
    /// Riders whose balance is not funding minus acknowledged payments.
    pub rider_mismatches: Vec<String>,
    /// The merchant's balance and what the acknowledged payments add to.
    pub merchant: (i64, i64),
    /// Payments acknowledged over the whole run.
    pub acknowledged: u64,
}

impl Verdict {
    /// True when nothing was lost or doubled.
    pub fn ok(&self) -> bool {
        self.ledger_sum == 0
            && self.balance_mismatches == 0
            && self.rider_mismatches.is_empty()
            && self.merchant.0 == self.merchant.1
    }
}

/// Runs the checks.
pub async fn verify(api: &Api, scene: &Scene, results: &Results) -> Result<Verdict> {
    let check = api.admin(Method::GET, "/v1/ledger/check", None).await?;
    let ledger_sum = check["sum_minor"]
        .as_i64()
        .context("ledger check has no sum_minor")?;
    let balance_mismatches = check["balance_mismatches"]
        .as_i64()
        .context("ledger check has no balance_mismatches")?;
    let amount = i64::try_from(scene.amount_minor).unwrap_or(i64::MAX);
    let mut rider_mismatches = Vec::new();
    let mut acknowledged = 0u64;
    for (rider, acked) in scene.riders.iter().zip(&results.acked_per_rider) {
        acknowledged += acked;
        let account = api
            .admin(
                Method::GET,
                &format!("/v1/accounts/{}", rider.account_id),
                None,
            )
            .await?;
        let balance = account["balance_minor"].as_i64().unwrap_or(i64::MIN);
        let expected = rider.funded_minor as i64 - *acked as i64 * amount;
        if balance != expected {
            rider_mismatches.push(format!(
                "{}: balance {balance}, expected {expected} ({acked} payments acknowledged)",
                rider.account_id
            ));
        }
    }
    let merchant = api
        .admin(
            Method::GET,
            &format!("/v1/accounts/{}", scene.merchant_account_id),
            None,
        )
        .await?;
    let merchant_balance = merchant["balance_minor"].as_i64().unwrap_or(i64::MIN);
    Ok(Verdict {
        ledger_sum,
        balance_mismatches,
        rider_mismatches,
        merchant: (merchant_balance, acknowledged as i64 * amount),
        acknowledged,
    })
}
