//! Transit context carried in requests, receipts and reports (P1, P3.6).

use serde::{Deserialize, Serialize};

/// Where a transit payment happened: line, vehicle, direction and station,
/// plus where the trip began when the fare is charged on exit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FareContext {
    /// How the fare was derived.
    pub mode: FareMode,
    /// Line name, e.g. "T1".
    pub line: String,
    /// Vehicle identifier, e.g. "tram 1207".
    pub vehicle: String,
    /// Direction of travel: "from B towards C".
    pub direction: FareDirection,
    /// The station where the payment happened.
    pub station: String,
    /// Position of the station on the line (for distance fares).
    pub station_index: u32,
    /// Boarding station and time, when charged on exit (tap-out).
    pub entry: Option<TripEntry>,
}

/// How a transit fare was derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FareMode {
    /// A flat fare charged on boarding (P1).
    Flat,
    /// The exit charge of a tap-in/tap-out trip (P3.6).
    TapOut,
    /// The maximum fare, charged when the tap-in token was missing or invalid.
    MaximumFare,
    /// The entry of a tap-in/tap-out trip: a token was issued, nothing was
    /// charged yet (terminal reports only; never in a payment).
    TapIn,
}

/// The direction of travel of a vehicle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FareDirection {
    /// Terminus the vehicle comes from.
    pub from: String,
    /// Terminus the vehicle heads to.
    pub towards: String,
}

/// Where and when a trip began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripEntry {
    /// Boarding station.
    pub station: String,
    /// Position of the boarding station on the line.
    pub station_index: u32,
    /// Boarding time (Unix ms).
    pub at_ms: u64,
    /// The id of the tap-in token that proved the entry. The control center
    /// accepts one payment per token id.
    pub token_id: String,
}

pub use crate::fare_table::{FareBand, FareQuote, FareTable, FareTableError};
