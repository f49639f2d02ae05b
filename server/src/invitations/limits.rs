//! The limits of failed invitation accept attempts: a setting of the
//! server ([`crate::ServerConfig`]), kept in a file of its own so that the
//! server's state can hold it without depending on the invitation logic.

use std::time::Duration;

/// How many failed accept attempts are allowed within a window. The
/// attempt after the limit is refused with `429` until enough failures
/// have left the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Failed attempts of one account.
    pub per_account: u32,
    /// Failed attempts of one device.
    pub per_device: u32,
    /// Failed attempts of everybody together (bounds guessing by many
    /// accounts at once).
    pub global: u32,
    /// The sliding window the counts are taken over.
    pub window: Duration,
}

impl Default for AttemptLimits {
    /// 10 per account and per device, 1 000 overall, per 15 minutes: with
    /// 31⁸ codes, a guesser using the whole global budget for a day finds
    /// a given live code with a probability of about 1 in 9 million.
    fn default() -> Self {
        Self {
            per_account: 10,
            per_device: 10,
            global: 1_000,
            window: Duration::from_secs(15 * 60),
        }
    }
}
