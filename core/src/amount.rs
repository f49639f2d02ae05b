//! Amounts as people read them. A leaf, so that the records every feature
//! shows (receipts, requests, top-ups) can format amounts without importing
//! the account module.

use wayfare_protocol::money::Currency;

/// An amount in minor units as people read it (`€2.50`), or the bare
/// number and code when the currency is unknown, so that a display never
/// fails.
pub(crate) fn format_amount(currency: &str, amount_minor: i64) -> String {
    match Currency::parse(currency) {
        Ok(c) => c.format(amount_minor),
        Err(_) => format!("{amount_minor} {currency}"),
    }
}
