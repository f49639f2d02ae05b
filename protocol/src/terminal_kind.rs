//! The kinds of access terminal (P3): what a beacon, a certificate and a
//! top-up offer say a terminal is. A module of its own because the
//! certificate, the top-up offer and the messages all name it.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};

/// What kind of access terminal a beacon or certificate describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    /// A point-of-sale terminal: the amount is entered per sale.
    Pos,
    /// A tram's on-board reader: flat or distance fares.
    Tram,
    /// A station or parking gate.
    Gate,
    /// A counter or station kiosk where cash becomes wallet money (P1, P5).
    TopUp,
}

impl TerminalKind {
    /// The lower-case name used in TXT records, JSON and configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            TerminalKind::Pos => "pos",
            TerminalKind::Tram => "tram",
            TerminalKind::Gate => "gate",
            TerminalKind::TopUp => "top_up",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "pos" => Ok(TerminalKind::Pos),
            "tram" => Ok(TerminalKind::Tram),
            "gate" => Ok(TerminalKind::Gate),
            "top_up" => Ok(TerminalKind::TopUp),
            other => Err(ProtocolError::InvalidField {
                field: "kind",
                reason: format!("{other:?} is not one of pos, tram, gate, top_up"),
            }),
        }
    }
}
