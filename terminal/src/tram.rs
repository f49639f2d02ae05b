//! Tram mode: a flat fare charged on boarding, with the vehicle's line,
//! direction and current station in every request and report (P1). The
//! station and direction are the live position at the moment of the tap
//! (see [`crate::position`]), not the configured start.

use wayfare_protocol::fare::{FareContext, FareDirection, FareMode};
use wayfare_protocol::ids::new_id;

use crate::config::TramConfig;
use crate::error::Result;
use crate::position::PositionStatus;
use crate::sale::Sale;

/// Put in a fare's description when the position feed was stale at the
/// tap: the stop named is the last known one, not a confirmed one.
pub const POSITION_UNCONFIRMED: &str = "position unconfirmed";

/// Where the vehicle is, as carried in requests, receipts and reports.
pub fn fare_context(config: &TramConfig, at: &PositionStatus) -> FareContext {
    let p = &at.position;
    FareContext {
        mode: FareMode::Flat,
        line: config.line.clone(),
        vehicle: config.vehicle.clone(),
        direction: FareDirection {
            from: p.direction_from.clone(),
            towards: p.direction_towards.clone(),
        },
        station: p.station.clone(),
        station_index: p.station_index,
        entry: None,
    }
}

/// A new fare order for a rider boarding at `at`.
pub fn fare_sale(config: &TramConfig, at: &PositionStatus) -> Result<Sale> {
    let p = &at.position;
    let mut description = format!(
        "Fare {} at {} (from {} towards {})",
        config.line, p.station, p.direction_from, p.direction_towards
    );
    if at.stale {
        description.push_str(&format!(
            "; {POSITION_UNCONFIRMED}: last known stop, {} s old",
            at.age_ms / 1000
        ));
    }
    Ok(Sale {
        order_id: new_id("ord")?,
        amount_minor: config.fare_minor,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::LivePosition;
    use wayfare_protocol::money::Currency;

    fn config() -> TramConfig {
        TramConfig {
            fare_minor: 200,
            currency: Currency::parse("CNY").unwrap(),
            line: "T1".into(),
            vehicle: "tram 1207".into(),
            direction_from: "Airport".into(),
            direction_towards: "Harbour".into(),
            station: "Central".into(),
            station_index: 4,
            request_ttl_ms: 60_000,
            stops: Vec::new(),
        }
    }

    #[test]
    fn fare_context_and_sale_come_from_the_position() {
        let c = config();
        let at = LivePosition::new(&c, None, 0).snapshot(0);
        let f = fare_context(&c, &at);
        assert_eq!(f.mode, FareMode::Flat);
        assert_eq!(f.direction.towards, "Harbour");
        assert_eq!(f.station_index, 4);
        let a = fare_sale(&c, &at).unwrap();
        let b = fare_sale(&c, &at).unwrap();
        assert_ne!(a.order_id, b.order_id);
        assert_eq!(a.amount_minor, 200);
        assert!(a.description.contains("Central"));
        assert!(!a.description.contains(POSITION_UNCONFIRMED));

        let mut moved = at.clone();
        moved.position.station = "Museum".into();
        moved.position.station_index = 5;
        moved.stale = true;
        moved.age_ms = 120_000;
        assert_eq!(fare_context(&c, &moved).station, "Museum");
        let s = fare_sale(&c, &moved).unwrap();
        assert!(s.description.contains("Museum"), "{}", s.description);
        assert!(
            s.description.contains(POSITION_UNCONFIRMED),
            "{}",
            s.description
        );
    }
}
