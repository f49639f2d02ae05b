//! Settings of a tap-in/tap-out terminal (P3.6): where it stands, which
//! role it plays and the operator's fare table.
//!
//! ```toml
//! [mode]
//! kind = "tap_in_out"
//! role = "both"            # "entry", "exit", or "both" (decided by the token)
//! currency = "CNY"
//! line = "T1"
//! vehicle = "tram 1207"    # or the station gate's name
//! direction_from = "Airport"
//! direction_towards = "Harbour"
//! station = "Central"
//! station_index = 4
//! token_ttl_ms = 14400000  # how long a tap-in token is honoured (default 4 h)
//! [mode.fare_table]
//! by = "stations"          # or "duration" (minutes, parking-style)
//! maximum_minor = 500
//! bands = [{ up_to = 2, fare_minor = 200 }, { up_to = 5, fare_minor = 300 }]
//! ```

use serde::{Deserialize, Serialize};
use wayfare_protocol::fare::FareTable;
use wayfare_protocol::money::Currency;

use crate::error::{Result, TerminalError};

/// Which taps a terminal handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapRole {
    /// Entry only: every phone gets a tap-in token; nothing is charged.
    Entry,
    /// Exit only: the trip is priced from the phone's token; without a valid
    /// one the maximum fare is charged.
    Exit,
    /// Both: a phone presenting a token of this line is exiting, any other
    /// phone is entering.
    Both,
}

fn default_token_ttl() -> u64 {
    4 * 60 * 60 * 1000
}

fn default_ttl() -> u64 {
    60_000
}

fn default_token_wait() -> u64 {
    3_000
}

/// Tap-in/tap-out settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapConfig {
    /// Entry, exit or both.
    pub role: TapRole,
    /// Currency of the fares.
    pub currency: Currency,
    /// Line name; tokens of other lines are not honoured here.
    pub line: String,
    /// Vehicle (or gate) identifier.
    pub vehicle: String,
    /// Terminus the vehicle comes from.
    pub direction_from: String,
    /// Terminus the vehicle heads to.
    pub direction_towards: String,
    /// The station the terminal is at.
    pub station: String,
    /// Position of that station on the line (for station fares).
    pub station_index: u32,
    /// The operator's fare table.
    pub fare_table: FareTable,
    /// How long an issued tap-in token is honoured (ms).
    #[serde(default = "default_token_ttl")]
    pub token_ttl_ms: u64,
    /// How long the terminal waits for the phone's `TapIn` message after
    /// the handshake before treating the phone as holding no token (ms).
    #[serde(default = "default_token_wait")]
    pub token_wait_ms: u64,
    /// How long a payment request stays payable (ms).
    #[serde(default = "default_ttl")]
    pub request_ttl_ms: u64,
}

impl TapConfig {
    /// Checks what serde cannot: names, the fare table, durations.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TerminalError::Config(m));
        for (name, value) in [
            ("line", &self.line),
            ("vehicle", &self.vehicle),
            ("direction_from", &self.direction_from),
            ("direction_towards", &self.direction_towards),
            ("station", &self.station),
        ] {
            if value.trim().is_empty() {
                return bad(format!("mode.{name} is empty"));
            }
        }
        self.fare_table
            .validate()
            .map_err(|e| TerminalError::Config(format!("mode.fare_table: {e}")))?;
        if !(60_000..=7 * 24 * 3_600_000).contains(&self.token_ttl_ms) {
            return bad("mode.token_ttl_ms must be between one minute and seven days".into());
        }
        if !(100..=30_000).contains(&self.token_wait_ms) {
            return bad("mode.token_wait_ms must be between 100 and 30000".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let text = r#"
role = "both"
currency = "CNY"
line = "T1"
vehicle = "gate 3"
direction_from = "Airport"
direction_towards = "Harbour"
station = "Central"
station_index = 4
[fare_table]
by = "stations"
maximum_minor = 500
bands = [{ up_to = 2, fare_minor = 200 }, { up_to = 5, fare_minor = 300 }]
"#;
        let c: TapConfig = toml::from_str(text).unwrap();
        c.validate().unwrap();
        assert_eq!(c.role, TapRole::Both);
        assert_eq!(c.token_ttl_ms, 4 * 3_600_000);
        assert_eq!(c.fare_table.maximum_minor(), 500);

        let bad: TapConfig =
            toml::from_str(&text.replace("fare_minor = 200", "fare_minor = 0")).unwrap();
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("fare_table"));
        assert!(toml::from_str::<TapConfig>(&text.replace("\"both\"", "\"sideways\"")).is_err());
    }
}
