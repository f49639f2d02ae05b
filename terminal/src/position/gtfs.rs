//! GTFS-Realtime vehicle positions, the transit industry's standard feed,
//! read so the tram terminal knows which stop it is at (P1).
//!
//! The messages are hand-written prost structs carrying only the fields
//! used here, with the field numbers of the official
//! `terminal/proto/gtfs-realtime.proto` (vendored, Apache-2.0). Why not
//! generated code: `protoc` is not installed on the build hosts, and both
//! prost-build and the `gtfs-realtime` crate (whose build script runs
//! prost-build) need it. Protobuf skips fields a message does not declare,
//! so whole feeds (trip updates, alerts, positions) decode into these.

use prost::Message;

use super::StopStatus;

/// A feed message: a header and entities (`transit_realtime.FeedMessage`).
#[derive(Clone, PartialEq, Message)]
pub struct FeedMessage {
    /// Metadata, including when the feed was produced.
    #[prost(message, required, tag = "1")]
    pub header: FeedHeader,
    /// Trip updates, vehicle positions and alerts.
    #[prost(message, repeated, tag = "2")]
    pub entity: Vec<FeedEntity>,
}

/// The feed's metadata (`transit_realtime.FeedHeader`).
#[derive(Clone, PartialEq, Message)]
pub struct FeedHeader {
    /// The specification version, e.g. "2.0".
    #[prost(string, required, tag = "1")]
    pub gtfs_realtime_version: String,
    /// When the feed's content was created (POSIX seconds).
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
}

/// One entity of the feed (`transit_realtime.FeedEntity`).
#[derive(Clone, PartialEq, Message)]
pub struct FeedEntity {
    /// The entity's id, unique within the feed.
    #[prost(string, required, tag = "1")]
    pub id: String,
    /// Whether the entity is to be deleted (differential feeds).
    #[prost(bool, optional, tag = "2")]
    pub is_deleted: Option<bool>,
    /// A vehicle's position, when the entity is one.
    #[prost(message, optional, tag = "4")]
    pub vehicle: Option<VehiclePosition>,
}

/// Where a vehicle is (`transit_realtime.VehiclePosition`).
#[derive(Clone, PartialEq, Message)]
pub struct VehiclePosition {
    /// The trip the vehicle serves.
    #[prost(message, optional, tag = "1")]
    pub trip: Option<TripDescriptor>,
    /// The vehicle.
    #[prost(message, optional, tag = "8")]
    pub vehicle: Option<VehicleDescriptor>,
    /// The stop sequence index of the current stop.
    #[prost(uint32, optional, tag = "3")]
    pub current_stop_sequence: Option<u32>,
    /// The current stop: the one stopped at or the one travelled to.
    #[prost(string, optional, tag = "7")]
    pub stop_id: Option<String>,
    /// Stopped at, incoming at or in transit to `stop_id` (absent: in
    /// transit to).
    #[prost(enumeration = "VehicleStopStatus", optional, tag = "4")]
    pub current_status: Option<i32>,
    /// When the position was measured (POSIX seconds).
    #[prost(uint64, optional, tag = "5")]
    pub timestamp: Option<u64>,
}

/// The vehicle's relation to its current stop
/// (`transit_realtime.VehiclePosition.VehicleStopStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
pub enum VehicleStopStatus {
    /// About to arrive at the stop.
    IncomingAt = 0,
    /// Standing at the stop.
    StoppedAt = 1,
    /// Left the previous stop, travelling to this one.
    InTransitTo = 2,
}

/// A trip (`transit_realtime.TripDescriptor`).
#[derive(Clone, PartialEq, Message)]
pub struct TripDescriptor {
    /// The trip's id in the GTFS feed.
    #[prost(string, optional, tag = "1")]
    pub trip_id: Option<String>,
    /// The route's id in the GTFS feed.
    #[prost(string, optional, tag = "5")]
    pub route_id: Option<String>,
    /// The direction of travel (0 or 1, as in trips.txt).
    #[prost(uint32, optional, tag = "6")]
    pub direction_id: Option<u32>,
}

/// A vehicle (`transit_realtime.VehicleDescriptor`).
#[derive(Clone, PartialEq, Message)]
pub struct VehicleDescriptor {
    /// The system's internal id of the vehicle.
    #[prost(string, optional, tag = "1")]
    pub id: Option<String>,
    /// The label shown to riders.
    #[prost(string, optional, tag = "2")]
    pub label: Option<String>,
}

impl FeedMessage {
    /// Decodes a feed from its protobuf bytes.
    /// prost does not enforce proto2's `required`: a message without the
    /// header's version is refused here (an empty body decodes to one).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FeedError> {
        let feed = Self::decode(bytes).map_err(|e| FeedError::Malformed(e.to_string()))?;
        if feed.header.gtfs_realtime_version.trim().is_empty() {
            return Err(FeedError::Malformed(
                "no header.gtfs_realtime_version (a required field)".into(),
            ));
        }
        Ok(feed)
    }

    /// Encodes the feed (a feed producer, tests and simulators).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

/// Why a feed gave no usable position: each is reported in `GET /status`
/// and the position is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The feed could not be fetched or read.
    #[error("cannot read the feed: {0}")]
    Unreachable(String),
    /// The bytes are not a GTFS-Realtime FeedMessage.
    #[error("not a GTFS-Realtime feed: {0}")]
    Malformed(String),
    /// No vehicle position in the feed names this vehicle (and trip/route).
    #[error("no position for vehicle {0:?} in the feed")]
    NoVehicle(String),
    /// The vehicle's position names no stop.
    #[error("the vehicle's position names no stop_id")]
    NoStop,
    /// The position names a stop not in this line's stop list.
    #[error("stop {0:?} is not in the line's stop list (mode.stops)")]
    UnknownStop(String),
    /// Neither the position nor the header says when it was measured, so
    /// its age cannot be judged.
    #[error("neither the vehicle position nor the feed header has a timestamp")]
    NoTimestamp,
    /// The position is older than the configured maximum age: not applied.
    #[error(
        "the feed is stale: its position is {age_ms} ms old, more than max_age_ms {max_age_ms}"
    )]
    Stale {
        /// How old the position is.
        age_ms: u64,
        /// The configured limit.
        max_age_ms: u64,
    },
}

/// Which vehicle position is this terminal's.
#[derive(Clone, Debug)]
pub struct VehicleFilter {
    /// Matched against the position's `vehicle.id` or `vehicle.label`.
    pub vehicle: String,
    /// When set, the position's trip must have this route id.
    pub route_id: Option<String>,
    /// When set, the position's trip must have this trip id.
    pub trip_id: Option<String>,
}

/// This vehicle's stop as the feed reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The GTFS stop id.
    pub stop_id: String,
    /// Stopped at, incoming at or in transit to that stop.
    pub status: StopStatus,
    /// When it was measured (Unix ms).
    pub at_ms: u64,
}

impl VehicleFilter {
    fn matches(&self, v: &VehiclePosition) -> bool {
        let named = v.vehicle.as_ref().is_some_and(|d| {
            d.id.as_deref() == Some(self.vehicle.as_str())
                || d.label.as_deref() == Some(self.vehicle.as_str())
        });
        let trip = v.trip.as_ref();
        let route_ok = self.route_id.as_ref().is_none_or(|want| {
            trip.and_then(|t| t.route_id.as_ref())
                .is_some_and(|r| r == want)
        });
        let trip_ok = self.trip_id.as_ref().is_none_or(|want| {
            trip.and_then(|t| t.trip_id.as_ref())
                .is_some_and(|r| r == want)
        });
        named && route_ok && trip_ok
    }
}

/// Finds this vehicle's position in `feed` and checks its age against
/// `max_age_ms` at `now_ms`. The newest matching position wins.
pub fn observe(
    feed: &FeedMessage,
    filter: &VehicleFilter,
    max_age_ms: u64,
    now_ms: u64,
) -> Result<Observation, FeedError> {
    let position = feed
        .entity
        .iter()
        .filter(|e| e.is_deleted != Some(true))
        .filter_map(|e| e.vehicle.as_ref())
        .filter(|v| filter.matches(v))
        .max_by_key(|v| v.timestamp.unwrap_or(0))
        .ok_or_else(|| FeedError::NoVehicle(filter.vehicle.clone()))?;
    let seconds = position
        .timestamp
        .or(feed.header.timestamp)
        .ok_or(FeedError::NoTimestamp)?;
    let at_ms = seconds.saturating_mul(1000);
    let age_ms = now_ms.saturating_sub(at_ms);
    if age_ms > max_age_ms {
        return Err(FeedError::Stale { age_ms, max_age_ms });
    }
    let stop_id = position
        .stop_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or(FeedError::NoStop)?;
    let status = match position
        .current_status
        .and_then(|s| VehicleStopStatus::try_from(s).ok())
        .unwrap_or(VehicleStopStatus::InTransitTo)
    {
        VehicleStopStatus::StoppedAt => StopStatus::StoppedAt,
        VehicleStopStatus::IncomingAt => StopStatus::IncomingAt,
        VehicleStopStatus::InTransitTo => StopStatus::InTransitTo,
    };
    Ok(Observation {
        stop_id,
        status,
        at_ms: at_ms.min(now_ms),
    })
}

/// A one-vehicle feed (a feed producer, tests and simulators): `vehicle`
/// at `stop_id` with `status`, measured at `at_secs`.
pub fn single_vehicle_feed(
    vehicle: &str,
    stop_id: &str,
    status: VehicleStopStatus,
    at_secs: u64,
) -> FeedMessage {
    FeedMessage {
        header: FeedHeader {
            gtfs_realtime_version: "2.0".into(),
            timestamp: Some(at_secs),
        },
        entity: vec![FeedEntity {
            id: format!("vehicle-{vehicle}"),
            is_deleted: None,
            vehicle: Some(VehiclePosition {
                trip: None,
                vehicle: Some(VehicleDescriptor {
                    id: Some(vehicle.to_string()),
                    label: None,
                }),
                current_stop_sequence: None,
                stop_id: Some(stop_id.to_string()),
                current_status: Some(status as i32),
                timestamp: Some(at_secs),
            }),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> VehicleFilter {
        VehicleFilter {
            vehicle: "1207".into(),
            route_id: None,
            trip_id: None,
        }
    }

    #[test]
    fn a_feed_round_trips_and_names_the_vehicles_stop() {
        let feed = single_vehicle_feed("1207", "S2", VehicleStopStatus::StoppedAt, 1_000);
        let decoded = FeedMessage::from_bytes(&feed.to_bytes()).unwrap();
        let o = observe(&decoded, &filter(), 60_000, 1_010_000).unwrap();
        assert_eq!(o.stop_id, "S2");
        assert_eq!(o.status, StopStatus::StoppedAt);
        assert_eq!(o.at_ms, 1_000_000);
    }

    #[test]
    fn other_vehicles_routes_and_deleted_entities_do_not_match() {
        let mut feed = single_vehicle_feed("9999", "S2", VehicleStopStatus::StoppedAt, 1_000);
        assert_eq!(
            observe(&feed, &filter(), 60_000, 1_000_000),
            Err(FeedError::NoVehicle("1207".into()))
        );
        // Matched by label too; a route filter needs the route.
        if let Some(v) = feed.entity[0].vehicle.as_mut() {
            v.vehicle = Some(VehicleDescriptor {
                id: None,
                label: Some("1207".into()),
            });
        }
        assert!(observe(&feed, &filter(), 60_000, 1_000_000).is_ok());
        let on_route = VehicleFilter {
            route_id: Some("T1".into()),
            ..filter()
        };
        assert!(matches!(
            observe(&feed, &on_route, 60_000, 1_000_000),
            Err(FeedError::NoVehicle(_))
        ));
        feed.entity[0].is_deleted = Some(true);
        assert!(matches!(
            observe(&feed, &filter(), 60_000, 1_000_000),
            Err(FeedError::NoVehicle(_))
        ));
    }

    #[test]
    fn old_untimed_stopless_and_garbage_feeds_are_typed_errors() {
        let feed = single_vehicle_feed("1207", "S2", VehicleStopStatus::StoppedAt, 1_000);
        assert_eq!(
            observe(&feed, &filter(), 60_000, 1_000_000 + 60_001),
            Err(FeedError::Stale {
                age_ms: 60_001,
                max_age_ms: 60_000
            })
        );
        let mut untimed = feed.clone();
        untimed.header.timestamp = None;
        if let Some(v) = untimed.entity[0].vehicle.as_mut() {
            v.timestamp = None;
        }
        assert_eq!(
            observe(&untimed, &filter(), 60_000, 1_000_000),
            Err(FeedError::NoTimestamp)
        );
        let mut stopless = feed.clone();
        if let Some(v) = stopless.entity[0].vehicle.as_mut() {
            v.stop_id = None;
        }
        assert_eq!(
            observe(&stopless, &filter(), 60_000, 1_000_000),
            Err(FeedError::NoStop)
        );
        assert!(matches!(
            FeedMessage::from_bytes(b"\xff\xff not protobuf"),
            Err(FeedError::Malformed(_))
        ));
        // A message without its required header is refused too.
        assert!(matches!(
            FeedMessage::from_bytes(&[]),
            Err(FeedError::Malformed(_))
        ));
    }

    #[test]
    fn an_absent_status_means_in_transit() {
        let mut feed = single_vehicle_feed("1207", "S3", VehicleStopStatus::StoppedAt, 1_000);
        if let Some(v) = feed.entity[0].vehicle.as_mut() {
            v.current_status = None;
        }
        let o = observe(&feed, &filter(), 60_000, 1_000_000).unwrap();
        assert_eq!(o.status, StopStatus::InTransitTo);
    }
}
