//! The tram's stop list (`[[mode.stops]]`) and its vehicle position feed
//! (`[position]`). The settings live with the rest of the configuration,
//! so reading a configuration file needs nothing of the position code
//! ([`crate::position`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One stop of the tram's line (`[[mode.stops]]`), in line order by index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopConfig {
    /// The stop's id, as the GTFS feed names it (`stop_id`).
    pub id: String,
    /// The stop's name, as riders and guardians read it.
    pub name: String,
    /// The stop's position on the line.
    pub index: u32,
}

/// Where the vehicle position feed comes from (`[position]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionConfig {
    /// An http(s) URL serving a GTFS-Realtime FeedMessage.
    #[serde(default)]
    pub feed_url: Option<String>,
    /// Or a file holding one (rewritten by another program).
    #[serde(default)]
    pub feed_file: Option<PathBuf>,
    /// How often the feed is read (ms).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// A position older than this (ms) is not applied, and the last known
    /// stop is flagged stale once the last applied one is this old.
    #[serde(default = "default_max_age_ms")]
    pub max_age_ms: u64,
    /// The feed's id or label of this vehicle; default: `mode.vehicle`.
    #[serde(default)]
    pub vehicle_id: Option<String>,
    /// When set, only positions on this GTFS route count.
    #[serde(default)]
    pub route_id: Option<String>,
    /// When set, only positions on this GTFS trip count.
    #[serde(default)]
    pub trip_id: Option<String>,
}

fn default_poll_ms() -> u64 {
    5_000
}

fn default_max_age_ms() -> u64 {
    90_000
}

impl PositionConfig {
    /// A feed read from `url` with the default poll interval and age.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            feed_url: Some(url.into()),
            feed_file: None,
            poll_ms: default_poll_ms(),
            max_age_ms: default_max_age_ms(),
            vehicle_id: None,
            route_id: None,
            trip_id: None,
        }
    }

    /// Checks what serde cannot; `stops` is the line's stop list.
    pub fn validate(&self, stops: &[StopConfig]) -> Result<(), String> {
        if stops.is_empty() {
            return Err(
                "[position] needs the line's stop list (mode.stops) to map the feed's stop ids"
                    .into(),
            );
        }
        match (&self.feed_url, &self.feed_file) {
            (Some(url), None) => {
                let ok = reqwest::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(format!("position.feed_url {url:?} is not an http(s) URL"));
                }
            }
            (None, Some(path)) if !path.as_os_str().is_empty() => {}
            _ => return Err("[position] needs exactly one of feed_url or feed_file".into()),
        }
        if !(50..=3_600_000).contains(&self.poll_ms) {
            return Err(format!(
                "position.poll_ms = {} must be between 50 and 3600000",
                self.poll_ms
            ));
        }
        if !(1_000..=86_400_000).contains(&self.max_age_ms) {
            return Err(format!(
                "position.max_age_ms = {} must be between 1000 and 86400000",
                self.max_age_ms
            ));
        }
        for (name, value) in [
            ("vehicle_id", &self.vehicle_id),
            ("route_id", &self.route_id),
            ("trip_id", &self.trip_id),
        ] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                return Err(format!("position.{name} is empty"));
            }
        }
        Ok(())
    }
}
