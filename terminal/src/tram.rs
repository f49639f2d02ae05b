//! Tram mode: a flat fare charged on boarding, with the vehicle's line,
//! direction and current station in every request and report (P1).

use wayfare_protocol::fare::{FareContext, FareDirection, FareMode};
use wayfare_protocol::ids::new_id;

use crate::config::TramConfig;
use crate::error::Result;
use crate::sale::Sale;

/// Where the vehicle is, as carried in requests, receipts and reports.
pub fn fare_context(config: &TramConfig) -> FareContext {
    FareContext {
        mode: FareMode::Flat,
        line: config.line.clone(),
        vehicle: config.vehicle.clone(),
        direction: FareDirection {
            from: config.direction_from.clone(),
            towards: config.direction_towards.clone(),
        },
        station: config.station.clone(),
        station_index: config.station_index,
        entry: None,
    }
}

/// A new fare order for a boarding rider.
pub fn fare_sale(config: &TramConfig) -> Result<Sale> {
    Ok(Sale {
        order_id: new_id("ord")?,
        amount_minor: config.fare_minor,
        description: format!(
            "Fare {} at {} (from {} towards {})",
            config.line, config.station, config.direction_from, config.direction_towards
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfare_protocol::money::Currency;

    #[test]
    fn fare_context_and_sale_come_from_configuration() {
        let c = TramConfig {
            fare_minor: 200,
            currency: Currency::parse("CNY").unwrap(),
            line: "T1".into(),
            vehicle: "tram 1207".into(),
            direction_from: "Airport".into(),
            direction_towards: "Harbour".into(),
            station: "Central".into(),
            station_index: 4,
            request_ttl_ms: 60_000,
        };
        let f = fare_context(&c);
        assert_eq!(f.mode, FareMode::Flat);
        assert_eq!(f.direction.towards, "Harbour");
        assert_eq!(f.station_index, 4);
        let a = fare_sale(&c).unwrap();
        let b = fare_sale(&c).unwrap();
        assert_ne!(a.order_id, b.order_id);
        assert_eq!(a.amount_minor, 200);
        assert!(a.description.contains("Central"));
    }
}
