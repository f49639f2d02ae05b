//! What a terminal asks a phone to pay (P3.2): sent in a session message
//! and checked again against the receipt the payment server signs, so it
//! stands apart from both.

use serde::{Deserialize, Serialize};

use crate::fare::FareContext;
use crate::money::Currency;

/// What a terminal asks the phone to pay (P3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// Terminal-unique order identifier.
    pub order_id: String,
    /// Merchant collecting the payment.
    pub merchant_id: String,
    /// Terminal asking.
    pub terminal_id: String,
    /// Merchant name, for display.
    pub merchant_name: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency.
    pub currency: Currency,
    /// What is being paid for.
    pub description: String,
    /// Transit context, for tram and gate terminals.
    pub fare: Option<FareContext>,
    /// When the request was made (Unix ms).
    pub created_at_ms: u64,
    /// After this time the terminal will not accept the payment (Unix ms).
    pub expires_at_ms: u64,
}
