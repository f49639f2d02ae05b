//! What a refund does with points: the earned points it takes back and the
//! spent points it returns, in proportion to the refunded amount (see
//! [`super::split::share_of_refund`]).

use sqlx::AnyConnection;
use wayfare_protocol::money::Currency;

use super::ledger::{loyalty_account, transfer, Transfer};
use crate::error::ApiError;

/// The points side of one refund.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RefundPoints {
    /// Earned points taken back from the rider (may leave them below zero
    /// when already spent, as before points could be spent).
    pub clawback: i64,
    /// Spent points returned to the rider.
    pub returned: i64,
    /// The money value of the returned points, which goes back from the
    /// merchant to the loyalty account instead of to the rider.
    pub value_minor: i64,
}

impl RefundPoints {
    /// Posts the refund's points movements inside its transaction (after
    /// its money movement). The loyalty account exists once any points
    /// were earned or spent; it is created here otherwise.
    pub(crate) async fn post(
        &self,
        conn: &mut AnyConnection,
        refund_id: &str,
        payment_id: &str,
        payer: &str,
        currency: &Currency,
        at_ms: i64,
    ) -> Result<(), ApiError> {
        if self.value_minor > 0 {
            loyalty_account(conn, currency, at_ms).await?;
        }
        let movement = |kind, points| Transfer {
            kind,
            movement_id: refund_id,
            payment_id: Some(payment_id),
            account_id: payer,
            points,
            require_cover: false,
            currency,
            at_ms,
        };
        transfer(conn, movement("refund_clawback", -self.clawback)).await?;
        transfer(conn, movement("refund_return", self.returned)).await
    }
}
