//! The tram's live position (P1): which stop it is at, which way it goes
//! and the next stop, read at the moment of each tap so every request,
//! report, guardian alert and express offer names the stop where the rider
//! boarded, not the one in the configuration file.
//!
//! The position starts at the configured `mode.station` and moves by the
//! local control interface (`PUT /position`) or a GTFS-Realtime vehicle
//! position feed ([`feed`]). A feed older than `position.max_age_ms` is
//! never applied; while no fresh feed has arrived the last known stop is
//! kept and flagged stale (see docs/decisions/0012-tram-position.md).

pub mod feed;
pub mod gtfs;

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub use crate::config::position::{PositionConfig, StopConfig};
pub use crate::config::validate_stops;
use crate::config::TramConfig;
use gtfs::{FeedError, Observation};

/// Where the current position came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSource {
    /// The configuration file (no move yet).
    Config,
    /// The local control interface (`PUT /position`).
    Control,
    /// The GTFS-Realtime feed.
    Feed,
}

/// The vehicle's relation to its current stop, as GTFS-Realtime says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopStatus {
    /// Standing at the stop.
    StoppedAt,
    /// About to arrive at the next stop.
    IncomingAt,
    /// Travelling to the next stop.
    InTransitTo,
}

/// Where the tram is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The stop where riders boarding now got on: the stop stood at, or
    /// the last one left.
    pub station: String,
    /// Its position on the line.
    pub station_index: u32,
    /// Its id in the stop list (absent before the first move without one).
    pub stop_id: Option<String>,
    /// The terminus the tram comes from.
    pub direction_from: String,
    /// The terminus the tram heads to.
    pub direction_towards: String,
    /// The next stop's name (absent at the terminus or without a stop list).
    pub next_stop: Option<String>,
    /// Stopped at the station, or travelling on to the next stop.
    pub status: StopStatus,
    /// Where this position came from.
    pub source: PositionSource,
    /// When it was measured or set (Unix ms).
    pub at_ms: u64,
}

/// The position as `GET /status` and a tap see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionStatus {
    /// Where the tram is.
    #[serde(flatten)]
    pub position: Position,
    /// How old the position is (ms).
    pub age_ms: u64,
    /// A feed is configured but no position from it has been applied for
    /// longer than `max_age_ms`: the stop may be wrong.
    pub stale: bool,
    /// The last feed problem, when the last read failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_error: Option<String>,
}

/// Why a move through the control interface was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// The configuration has no stop list to validate against.
    #[error("this tram has no stop list (mode.stops), so its station cannot change")]
    NoStopList,
    /// Neither or both of `station` and `stop_id` were given.
    #[error("name the stop by exactly one of \"station\" or \"stop_id\"")]
    Ambiguous,
    /// The stop is not on the line.
    #[error("{0:?} is not a stop of this line")]
    UnknownStop(String),
    /// The direction is neither terminus.
    #[error("direction_towards {0:?} is neither terminus of this line ({1:?} or {2:?})")]
    UnknownDirection(String, String, String),
}

/// A move asked through the control interface (`PUT /position`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The stop's name.
    #[serde(default)]
    pub station: Option<String>,
    /// Or its id.
    #[serde(default)]
    pub stop_id: Option<String>,
    /// A new direction: one of the two termini.
    #[serde(default)]
    pub direction_towards: Option<String>,
}

struct State {
    position: Position,
    /// When the last feed position applied was measured.
    last_feed_ms: Option<u64>,
    feed_error: Option<String>,
}

/// The live position shared by the sessions, the express gate, the
/// control interface and the feed reader.
pub struct LivePosition {
    /// The stop list, sorted by index.
    stops: Vec<StopConfig>,
    /// The two termini as configured: (from, towards).
    termini: (String, String),
    /// The feed's maximum age, when a feed is configured.
    max_age_ms: Option<u64>,
    state: Mutex<State>,
}

impl LivePosition {
    /// The configured position, moved later by control or feed.
    pub fn new(tram: &TramConfig, feed: Option<&PositionConfig>, now_ms: u64) -> Self {
        let mut stops = tram.stops.clone();
        stops.sort_by_key(|s| s.index);
        let live = Self {
            stops,
            termini: (tram.direction_from.clone(), tram.direction_towards.clone()),
            max_age_ms: feed.map(|f| f.max_age_ms),
            state: Mutex::new(State {
                position: Position {
                    station: tram.station.clone(),
                    station_index: tram.station_index,
                    stop_id: None,
                    direction_from: tram.direction_from.clone(),
                    direction_towards: tram.direction_towards.clone(),
                    next_stop: None,
                    status: StopStatus::StoppedAt,
                    source: PositionSource::Config,
                    at_ms: now_ms,
                },
                last_feed_ms: None,
                feed_error: None,
            }),
        };
        if let Some(i) = live.stops.iter().position(|s| s.name == tram.station) {
            let position = live.at_stop(
                i,
                StopStatus::StoppedAt,
                &tram.direction_towards,
                PositionSource::Config,
                now_ms,
            );
            live.lock().position = position;
        }
        live
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The position now, with its age and staleness.
    pub fn snapshot(&self, now_ms: u64) -> PositionStatus {
        let state = self.lock();
        let position = state.position.clone();
        let stale = match self.max_age_ms {
            None => false,
            // The operator's word stands until the feed speaks again.
            Some(_) if position.source == PositionSource::Control => false,
            Some(max) => state
                .last_feed_ms
                .is_none_or(|t| now_ms.saturating_sub(t) > max),
        };
        PositionStatus {
            age_ms: now_ms.saturating_sub(position.at_ms),
            stale,
            feed_error: state.feed_error.clone(),
            position,
        }
    }

    /// Whether the line runs towards the stop with the higher index.
    fn ascending(&self, towards: &str) -> bool {
        self.stops.first().is_none_or(|s| s.name != towards)
            || self.stops.last().is_some_and(|s| s.name == towards)
    }

    /// The position at stop `i` (of the sorted list).
    fn at_stop(
        &self,
        i: usize,
        status: StopStatus,
        towards: &str,
        source: PositionSource,
        at_ms: u64,
    ) -> Position {
        let stop = &self.stops[i];
        let next = if self.ascending(towards) {
            self.stops.get(i + 1)
        } else {
            i.checked_sub(1).and_then(|j| self.stops.get(j))
        };
        let from = if towards == self.termini.0 {
            self.termini.1.clone()
        } else {
            self.termini.0.clone()
        };
        Position {
            station: stop.name.clone(),
            station_index: stop.index,
            stop_id: Some(stop.id.clone()),
            direction_from: from,
            direction_towards: towards.to_string(),
            next_stop: next.map(|s| s.name.clone()),
            status,
            source,
            at_ms,
        }
    }

    /// Moves the tram as the control interface asks.
    pub fn set_by_control(&self, req: &MoveRequest, now_ms: u64) -> Result<Position, MoveError> {
        if self.stops.is_empty() {
            return Err(MoveError::NoStopList);
        }
        let i = match (&req.station, &req.stop_id) {
            (Some(name), None) => self.stops.iter().position(|s| &s.name == name),
            (None, Some(id)) => self.stops.iter().position(|s| &s.id == id),
            _ => return Err(MoveError::Ambiguous),
        }
        .ok_or_else(|| {
            MoveError::UnknownStop(
                req.station
                    .clone()
                    .or(req.stop_id.clone())
                    .unwrap_or_default(),
            )
        })?;
        let mut state = self.lock();
        let towards = match &req.direction_towards {
            None => state.position.direction_towards.clone(),
            Some(t) if *t == self.termini.0 || *t == self.termini.1 => t.clone(),
            Some(t) => {
                return Err(MoveError::UnknownDirection(
                    t.clone(),
                    self.termini.0.clone(),
                    self.termini.1.clone(),
                ))
            }
        };
        let position = self.at_stop(
            i,
            StopStatus::StoppedAt,
            &towards,
            PositionSource::Control,
            now_ms,
        );
        state.position = position.clone();
        Ok(position)
    }

    /// Applies a fresh feed observation: stopped at (or arriving at) its
    /// stop, or still at the previous stop while in transit to it.
    pub fn apply_feed(&self, o: &Observation) -> Result<Position, FeedError> {
        let i = self
            .stops
            .iter()
            .position(|s| s.id == o.stop_id)
            .ok_or_else(|| FeedError::UnknownStop(o.stop_id.clone()))?;
        let mut state = self.lock();
        if state.last_feed_ms.is_some_and(|t| o.at_ms < t) {
            // An older position than the one applied: a feed served out of
            // order does not move the tram back.
            state.feed_error = None;
            return Ok(state.position.clone());
        }
        let towards = state.position.direction_towards.clone();
        let ascending = self.ascending(&towards);
        let (at, status) = match o.status {
            StopStatus::StoppedAt => (i, StopStatus::StoppedAt),
            // Doors are shut: riders boarding now got on at the stop left.
            StopStatus::InTransitTo | StopStatus::IncomingAt => {
                let previous = if ascending {
                    i.checked_sub(1)
                } else {
                    Some(i + 1).filter(|j| *j < self.stops.len())
                };
                (previous.unwrap_or(i), o.status)
            }
        };
        let mut position = self.at_stop(at, status, &towards, PositionSource::Feed, o.at_ms);
        if at != i {
            position.next_stop = Some(self.stops[i].name.clone());
        }
        state.position = position.clone();
        state.last_feed_ms = Some(o.at_ms);
        state.feed_error = None;
        Ok(position)
    }

    /// Records why the last feed read gave nothing (shown in the status).
    pub fn note_feed_error(&self, e: &FeedError) {
        self.lock().feed_error = Some(e.to_string());
    }
}

#[cfg(test)]
mod tests;
