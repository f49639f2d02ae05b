//! The linkage device's configuration (P3.4).

use serde::{Deserialize, Serialize};

/// The linkage device (P3.4): what happens when a payment is confirmed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkageConfig {
    /// Only log the switch (demo, tests).
    #[default]
    Log,
    /// Run a command to switch on and another to switch off. The order id,
    /// payment id, amount and currency are passed in `WAYFARE_*` variables.
    Command(CommandLinkageConfig),
}

/// Commands driving a real device.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandLinkageConfig {
    /// Program and arguments run to switch the device on.
    pub open: Vec<String>,
    /// Program and arguments run to switch it off again (may be empty).
    #[serde(default)]
    pub close: Vec<String>,
    /// How long the device stays on before `close` runs (ms).
    #[serde(default = "default_hold")]
    pub hold_ms: u64,
    /// Longest time a command may run (ms) before it is killed.
    #[serde(default = "default_command_timeout")]
    pub timeout_ms: u64,
}

fn default_hold() -> u64 {
    3_000
}

fn default_command_timeout() -> u64 {
    10_000
}
