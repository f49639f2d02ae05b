//! `[express]`: offline express taps. The settings live with the rest of
//! the configuration, so reading a configuration file needs nothing of the
//! gate's code ([`crate::express`]).

use serde::{Deserialize, Serialize};

/// `[express]`: offline express taps at a flat-fare gate or tram reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpressConfig {
    /// Take express taps (tram mode only). Default: on.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refuse express taps when the deny list is older than this (ms): a
    /// lost phone must not ride on a list the gate never refreshed.
    /// Default: 24 h.
    #[serde(default = "default_max_age")]
    pub max_deny_list_age_ms: u64,
    /// How often the deny list is fetched (ms). Default: 60 s.
    #[serde(default = "default_sync")]
    pub deny_list_sync_ms: u64,
}

fn yes() -> bool {
    true
}

fn default_max_age() -> u64 {
    24 * 60 * 60 * 1000
}

fn default_sync() -> u64 {
    60_000
}

impl Default for ExpressConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_deny_list_age_ms: default_max_age(),
            deny_list_sync_ms: default_sync(),
        }
    }
}
