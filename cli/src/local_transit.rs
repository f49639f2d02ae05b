//! Transit helpers for [`LocalSystem`]: tap-in/tap-out gates with the
//! operator's fare table, for the demo and the whole-system tests.

use anyhow::Result;
use wayfare_protocol::fare::{FareBand, FareTable};
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::Currency;
use wayfare_terminal::config::{ModeConfig, TapConfig, TapRole};
use wayfare_terminal::{RunningTerminal, TerminalLocation};

use crate::admin::Merchant;
use crate::local::{LocalSystem, TerminalOptions};

/// Where a tap-in/tap-out gate stands and how it prices trips.
#[derive(Clone, Debug)]
pub struct GateSetup {
    /// Entry, exit or both.
    pub role: TapRole,
    /// Line name.
    pub line: String,
    /// Vehicle (or gate) name.
    pub vehicle: String,
    /// Terminus the line comes from.
    pub direction_from: String,
    /// Terminus the line heads to.
    pub direction_towards: String,
    /// The gate's station.
    pub station: String,
    /// Its position on the line.
    pub station_index: u32,
    /// The operator's fare table.
    pub fare_table: FareTable,
}

/// The sample fare table: ¥2.00 up to 2 stations, ¥3.00 up to 5, ¥4.00 up
/// to 8, maximum ¥5.00.
pub fn sample_fare_table() -> FareTable {
    FareTable::Stations {
        bands: vec![
            FareBand {
                up_to: 2,
                fare_minor: 200,
            },
            FareBand {
                up_to: 5,
                fare_minor: 300,
            },
            FareBand {
                up_to: 8,
                fare_minor: 400,
            },
        ],
        maximum_minor: 500,
    }
}

impl GateSetup {
    /// A gate on line T1 (Harbour → University) at `station` (`index`).
    pub fn new(role: TapRole, station: &str, index: u32) -> Self {
        Self {
            role,
            line: "T1".into(),
            vehicle: format!("{station} gate"),
            direction_from: "Harbour".into(),
            direction_towards: "University".into(),
            station: station.into(),
            station_index: index,
            fare_table: sample_fare_table(),
        }
    }
}

impl LocalSystem {
    /// Enrolls and starts a tap-in/tap-out gate for `merchant`.
    pub async fn tap_gate(
        &self,
        merchant: &Merchant,
        currency: &str,
        gate: &GateSetup,
        options: TerminalOptions,
    ) -> Result<RunningTerminal> {
        let location = TerminalLocation {
            line: gate.line.clone(),
            vehicle: gate.vehicle.clone(),
            station: gate.station.clone(),
            station_index: Some(gate.station_index),
            tap_role: Some(gate.role),
            direction_from: gate.direction_from.clone(),
            direction_towards: gate.direction_towards.clone(),
            utc_offset_minutes: Some(crate::local::LOCAL_UTC_OFFSET_MINUTES),
        };
        let mode = ModeConfig::TapInOut(TapConfig {
            role: gate.role,
            currency: Currency::parse(currency)?,
            line: gate.line.clone(),
            vehicle: gate.vehicle.clone(),
            direction_from: gate.direction_from.clone(),
            direction_towards: gate.direction_towards.clone(),
            station: gate.station.clone(),
            station_index: gate.station_index,
            fare_table: gate.fare_table.clone(),
            token_ttl_ms: 4 * 3_600_000,
            token_wait_ms: 3_000,
            request_ttl_ms: options.request_ttl_ms,
        });
        self.terminal(merchant, TerminalKind::Gate, mode, Some(location), options)
            .await
    }
}
