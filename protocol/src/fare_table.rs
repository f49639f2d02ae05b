//! The operator's fare table for tap-in/tap-out trips (P3.6): a fare by the
//! number of stations travelled (trams, metro gates) or by the time between
//! entry and exit (parking-style gates), capped by a maximum fare that is
//! also what a rider without a valid tap-in token pays.
//!
//! ```
//! use wayfare_protocol::fare::{FareBand, FareTable};
//! let table = FareTable::Stations {
//!     bands: vec![FareBand { up_to: 2, fare_minor: 200 }, FareBand { up_to: 5, fare_minor: 300 }],
//!     maximum_minor: 500,
//! };
//! table.validate().unwrap();
//! assert_eq!(table.price_stations(4, 6).amount_minor, 200);
//! assert_eq!(table.price_stations(1, 9).amount_minor, 500);
//! ```

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One row of a fare table: trips up to `up_to` stations (or minutes) cost
/// `fare_minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FareBand {
    /// Inclusive upper bound: stations travelled, or minutes (started
    /// minutes count as whole minutes).
    pub up_to: u32,
    /// The fare of such a trip, in minor units.
    pub fare_minor: u64,
}

/// How an operator prices a trip from its entry and exit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum FareTable {
    /// By the number of stations between entry and exit (either direction).
    Stations {
        /// Bands in increasing `up_to` order.
        bands: Vec<FareBand>,
        /// Charged beyond the last band and when the entry is unknown.
        maximum_minor: u64,
    },
    /// By the time between entry and exit (parking-style gates).
    Duration {
        /// Bands in increasing `up_to` (minutes) order.
        bands: Vec<FareBand>,
        /// Charged beyond the last band and when the entry is unknown.
        maximum_minor: u64,
    },
}

/// A priced trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FareQuote {
    /// What to charge, in minor units (always positive).
    pub amount_minor: u64,
    /// Stations or minutes travelled.
    pub measured: u32,
    /// True when the trip fell beyond the last band and the maximum applies.
    pub capped: bool,
}

/// Why a fare table is unusable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FareTableError {
    /// No bands at all.
    #[error("the fare table has no bands")]
    Empty,
    /// A fare is zero (a ride is never free) or above the maximum.
    #[error("band {index}: fare {fare_minor} must be positive and at most the maximum fare {maximum_minor}")]
    BadFare {
        /// Position of the band.
        index: usize,
        /// Its fare.
        fare_minor: u64,
        /// The table's maximum.
        maximum_minor: u64,
    },
    /// Bands are not in strictly increasing `up_to` order.
    #[error("band {index}: up_to must be greater than the previous band's")]
    Unordered {
        /// Position of the band.
        index: usize,
    },
    /// The maximum fare is zero or beyond the protocol's amount limit.
    #[error("maximum fare {0} must be positive and within the amount limit")]
    BadMaximum(u64),
}

impl FareTable {
    /// The bands and maximum of either kind.
    fn parts(&self) -> (&[FareBand], u64) {
        match self {
            FareTable::Stations {
                bands,
                maximum_minor,
            }
            | FareTable::Duration {
                bands,
                maximum_minor,
            } => (bands, *maximum_minor),
        }
    }

    /// The maximum fare: beyond the table, and for a missing, forged,
    /// expired or reused tap-in token.
    pub fn maximum_minor(&self) -> u64 {
        self.parts().1
    }

    /// Checks the table: non-empty, ordered bands, every fare positive and
    /// at most the maximum.
    pub fn validate(&self) -> Result<(), FareTableError> {
        let (bands, maximum) = self.parts();
        if maximum == 0 || maximum > crate::money::MAX_AMOUNT_MINOR {
            return Err(FareTableError::BadMaximum(maximum));
        }
        if bands.is_empty() {
            return Err(FareTableError::Empty);
        }
        for (index, band) in bands.iter().enumerate() {
            if band.fare_minor == 0 || band.fare_minor > maximum {
                return Err(FareTableError::BadFare {
                    index,
                    fare_minor: band.fare_minor,
                    maximum_minor: maximum,
                });
            }
            if index > 0 && band.up_to <= bands[index - 1].up_to {
                return Err(FareTableError::Unordered { index });
            }
        }
        Ok(())
    }

    fn quote(&self, measured: u32) -> FareQuote {
        let (bands, maximum) = self.parts();
        match bands.iter().find(|b| measured <= b.up_to) {
            Some(band) => FareQuote {
                amount_minor: band.fare_minor,
                measured,
                capped: false,
            },
            None => FareQuote {
                amount_minor: maximum,
                measured,
                capped: true,
            },
        }
    }

    /// Prices a trip between two station positions on the line. A duration
    /// table charges the maximum: it cannot price by stations.
    pub fn price_stations(&self, entry_index: u32, exit_index: u32) -> FareQuote {
        let measured = entry_index.abs_diff(exit_index);
        match self {
            FareTable::Stations { .. } => self.quote(measured),
            FareTable::Duration { maximum_minor, .. } => FareQuote {
                amount_minor: *maximum_minor,
                measured,
                capped: true,
            },
        }
    }

    /// Prices a stay between two times (Unix ms); started minutes count.
    /// A station table charges the maximum: it cannot price by time.
    pub fn price_duration(&self, entry_at_ms: u64, exit_at_ms: u64) -> FareQuote {
        let elapsed = exit_at_ms.saturating_sub(entry_at_ms);
        let minutes = u32::try_from(elapsed.div_ceil(60_000)).unwrap_or(u32::MAX);
        match self {
            FareTable::Duration { .. } => self.quote(minutes),
            FareTable::Stations { maximum_minor, .. } => FareQuote {
                amount_minor: *maximum_minor,
                measured: minutes,
                capped: true,
            },
        }
    }

    /// Prices a trip with whichever measure this table uses.
    pub fn price(
        &self,
        entry_index: u32,
        exit_index: u32,
        entry_at_ms: u64,
        exit_at_ms: u64,
    ) -> FareQuote {
        match self {
            FareTable::Stations { .. } => self.price_stations(entry_index, exit_index),
            FareTable::Duration { .. } => self.price_duration(entry_at_ms, exit_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(up_to: u32, fare_minor: u64) -> FareBand {
        FareBand { up_to, fare_minor }
    }

    fn stations() -> FareTable {
        FareTable::Stations {
            bands: vec![band(2, 200), band(5, 300), band(9, 400)],
            maximum_minor: 500,
        }
    }

    #[test]
    fn stations_are_priced_by_band_in_either_direction() {
        let t = stations();
        t.validate().unwrap();
        for (a, b, fare) in [
            (4, 4, 200),
            (4, 6, 200),
            (6, 4, 200),
            (1, 4, 300),
            (0, 5, 300),
            (0, 6, 400),
            (9, 0, 400),
        ] {
            let q = t.price_stations(a, b);
            assert_eq!(q.amount_minor, fare, "{a} -> {b}");
            assert!(!q.capped);
            assert_eq!(q.measured, a.abs_diff(b));
        }
        let far = t.price_stations(0, 10);
        assert_eq!((far.amount_minor, far.capped), (500, true));
        assert_eq!(t.maximum_minor(), 500);
        assert_eq!(t.price(1, 3, 0, 1).amount_minor, 200);
    }

    #[test]
    fn durations_count_started_minutes() {
        let t = FareTable::Duration {
            bands: vec![band(30, 100), band(120, 400)],
            maximum_minor: 1_000,
        };
        t.validate().unwrap();
        let min = 60_000;
        assert_eq!(t.price_duration(0, 0).amount_minor, 100);
        assert_eq!(t.price_duration(0, 30 * min).amount_minor, 100);
        assert_eq!(t.price_duration(0, 30 * min + 1).amount_minor, 400);
        assert_eq!(t.price_duration(0, 120 * min).amount_minor, 400);
        let long = t.price_duration(0, 121 * min);
        assert_eq!(
            (long.amount_minor, long.capped, long.measured),
            (1_000, true, 121)
        );
        // A clock that went backwards is a zero-length stay, not a panic.
        assert_eq!(t.price_duration(10 * min, 0).amount_minor, 100);
        assert_eq!(t.price(0, 9, 0, 31 * min).amount_minor, 400);
    }

    #[test]
    fn a_table_cannot_price_by_the_other_measure() {
        assert!(stations().price_duration(0, 1).capped);
        let d = FareTable::Duration {
            bands: vec![band(30, 100)],
            maximum_minor: 900,
        };
        assert_eq!(d.price_stations(0, 1).amount_minor, 900);
    }

    #[test]
    fn bad_tables_are_refused() {
        let empty = FareTable::Stations {
            bands: vec![],
            maximum_minor: 500,
        };
        assert_eq!(empty.validate(), Err(FareTableError::Empty));
        let free = FareTable::Stations {
            bands: vec![band(2, 0)],
            maximum_minor: 500,
        };
        assert!(matches!(
            free.validate(),
            Err(FareTableError::BadFare { .. })
        ));
        let above = FareTable::Stations {
            bands: vec![band(2, 600)],
            maximum_minor: 500,
        };
        assert!(matches!(
            above.validate(),
            Err(FareTableError::BadFare { .. })
        ));
        let unordered = FareTable::Duration {
            bands: vec![band(5, 100), band(5, 200)],
            maximum_minor: 500,
        };
        assert_eq!(
            unordered.validate(),
            Err(FareTableError::Unordered { index: 1 })
        );
        let no_max = FareTable::Duration {
            bands: vec![band(5, 100)],
            maximum_minor: 0,
        };
        assert_eq!(no_max.validate(), Err(FareTableError::BadMaximum(0)));
    }

    #[test]
    fn tables_round_trip_through_cbor() {
        let t = stations();
        let bytes = crate::codec::to_cbor(&t).unwrap();
        assert_eq!(crate::codec::from_cbor::<FareTable>(&bytes).unwrap(), t);
    }
}
