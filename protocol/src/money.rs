//! Money: integer minor units and a validated currency code. Never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};

/// Largest amount accepted in one payment or top-up, in minor units
/// (10 million major units). Keeps every sum far inside `i64`.
pub const MAX_AMOUNT_MINOR: u64 = 1_000_000_000;

/// Checks that an amount is positive and within [`MAX_AMOUNT_MINOR`].
pub fn validate_amount(amount_minor: i128) -> Result<u64> {
    if amount_minor <= 0 {
        return Err(ProtocolError::InvalidAmount(format!(
            "{amount_minor} is not positive; amounts are positive integers of minor units"
        )));
    }
    if amount_minor > MAX_AMOUNT_MINOR as i128 {
        return Err(ProtocolError::InvalidAmount(format!(
            "{amount_minor} exceeds the maximum of {MAX_AMOUNT_MINOR} minor units"
        )));
    }
    Ok(amount_minor as u64)
}

/// The currencies Wayfare settles, with their symbol and minor-unit exponent.
const CURRENCIES: &[(&str, &str, u32)] = &[
    ("CNY", "¥", 2),
    ("EUR", "€", 2),
    ("USD", "$", 2),
    ("GBP", "£", 2),
    ("JPY", "JP¥", 0),
    ("HKD", "HK$", 2),
    ("CHF", "CHF ", 2),
];

/// An ISO 4217 currency code that Wayfare supports.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Parses and validates a currency code (upper-case, supported).
    pub fn parse(code: &str) -> Result<Self> {
        if CURRENCIES.iter().any(|(c, _, _)| *c == code) {
            Ok(Self(code.to_string()))
        } else {
            Err(ProtocolError::InvalidCurrency(code.to_string()))
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        &self.0
    }

    fn entry(&self) -> (&'static str, u32) {
        CURRENCIES
            .iter()
            .find(|(c, _, _)| *c == self.0)
            .map(|(_, s, e)| (*s, *e))
            .unwrap_or(("", 2))
    }

    /// Formats an amount for people, e.g. `¥2.00`.
    pub fn format(&self, amount_minor: i64) -> String {
        let (symbol, exp) = self.entry();
        let sign = if amount_minor < 0 { "-" } else { "" };
        let abs = amount_minor.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{symbol}{abs}");
        }
        let unit = 10u64.pow(exp);
        format!(
            "{sign}{symbol}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = exp as usize
        )
    }
}

impl TryFrom<String> for Currency {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_validated() {
        assert!(validate_amount(0).is_err());
        assert!(validate_amount(-5).is_err());
        assert!(validate_amount(i128::from(u64::MAX)).is_err());
        assert_eq!(validate_amount(200).unwrap(), 200);
    }

    #[test]
    fn currencies_are_validated_and_formatted() {
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("cny").is_err());
        let cny = Currency::parse("CNY").unwrap();
        assert_eq!(cny.format(200), "¥2.00");
        assert_eq!(cny.format(1250), "¥12.50");
        assert_eq!(cny.format(-5), "-¥0.05");
        assert_eq!(Currency::parse("JPY").unwrap().format(300), "JP¥300");
    }
}
