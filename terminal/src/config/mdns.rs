//! The `[mdns]` table: whether the terminal advertises itself, and on which
//! interfaces (loopback by default, so tests and the demo never send
//! multicast off the machine).

use serde::{Deserialize, Deserializer, Serialize};

/// mDNS advertisement settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdnsConfig {
    /// Whether to advertise at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Which interfaces carry the advertisement. Default: loopback only, so
    /// that tests and the demo never send multicast off the machine.
    #[serde(default)]
    pub interfaces: MdnsInterfaces,
}

impl Default for MdnsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interfaces: MdnsInterfaces::Loopback,
        }
    }
}

fn default_true() -> bool {
    true
}

/// The interfaces mDNS runs on: `"loopback"`, `"all"` or a list of names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MdnsInterfaces {
    /// IPv4 loopback only (the default).
    #[default]
    Loopback,
    /// Every interface of the machine.
    All,
    /// The named interfaces, e.g. `["eth0"]`.
    Named(Vec<String>),
}

impl Serialize for MdnsInterfaces {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            MdnsInterfaces::Loopback => s.serialize_str("loopback"),
            MdnsInterfaces::All => s.serialize_str("all"),
            MdnsInterfaces::Named(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for MdnsInterfaces {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                r#"interfaces must be "loopback", "all" or a list of names such as ["eth0"]"#,
            )
        })? {
            Raw::Word(w) if w == "loopback" => Ok(MdnsInterfaces::Loopback),
            Raw::Word(w) if w == "all" => Ok(MdnsInterfaces::All),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                r#"interfaces = {w:?} is not "loopback" or "all"; name interfaces as a list: ["{w}"]"#
            ))),
            Raw::List(names) if names.is_empty() => Err(serde::de::Error::custom(
                "interfaces list is empty; disable mDNS with enabled = false instead",
            )),
            Raw::List(names) => Ok(MdnsInterfaces::Named(names)),
        }
    }
}
