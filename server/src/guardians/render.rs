//! The alert a guardian receives (P1): its JSON fields and its sentence in
//! English and Chinese. Pure: everything comes in as [`AlertFacts`].
//!
//! Times are rendered in the local time of the terminal where the payment
//! happened, from the UTC offset registered with the terminal
//! (`location.utc_offset_minutes`). A terminal registered without one gets
//! UTC, and the sentence says so ("at 00:12 UTC"), so a time is never
//! silently shown in the wrong zone.

use serde_json::{json, Value};
use wayfare_protocol::fare::{FareContext, FareMode};
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::money::Currency;

use super::ShownAs;
use crate::civil::{local_time, offset_label};

/// What an alert is made of.
#[derive(Clone, Debug)]
pub struct AlertFacts {
    /// How the rider is named.
    pub rider: ShownAs,
    /// The payment.
    pub payment_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency.
    pub currency: Currency,
    /// Merchant (or transit operator) name.
    pub merchant_name: String,
    /// The terminal's kind.
    pub terminal_kind: TerminalKind,
    /// Commit time (Unix ms).
    pub at_ms: i64,
    /// The terminal's UTC offset, if registered.
    pub utc_offset_minutes: Option<i64>,
    /// Transit context, if any.
    pub fare: Option<FareContext>,
}

impl AlertFacts {
    /// Whether this is a transit payment.
    pub fn is_transit(&self) -> bool {
        self.fare.is_some() || self.terminal_kind != TerminalKind::Pos
    }

    fn clock(&self, at_ms: i64) -> String {
        let local = local_time(at_ms, self.utc_offset_minutes.unwrap_or(0));
        match self.utc_offset_minutes {
            Some(_) => local.time,
            None => format!("{} UTC", local.time),
        }
    }

    fn vehicle_en(&self, line: &str) -> String {
        match self.terminal_kind {
            TerminalKind::Tram => format!("the {line} tram"),
            _ => format!("line {line}"),
        }
    }

    fn vehicle_zh(&self, line: &str) -> String {
        match self.terminal_kind {
            TerminalKind::Tram => format!("{line}有轨电车"),
            _ => format!("{line}线"),
        }
    }

    /// The English sentence.
    pub fn english(&self) -> String {
        let who = self.rider.english();
        let amount = self.currency.format(self.amount_minor as i64);
        let at = self.clock(self.at_ms);
        let Some(f) = &self.fare else {
            return format!("{who} paid {amount} at {at} at {}.", self.merchant_name);
        };
        let vehicle = self.vehicle_en(&f.line);
        let (from, towards) = (&f.direction.from, &f.direction.towards);
        match (&f.mode, &f.entry) {
            (FareMode::TapOut, Some(entry)) => format!(
                "{who} paid {amount} at {at} for a ride on {vehicle} from {from} towards {towards}, \
                 boarding at {} at {} and leaving at {}.",
                entry.station,
                self.clock(entry.at_ms as i64),
                f.station
            ),
            (FareMode::MaximumFare, _) => format!(
                "{who} paid the maximum fare of {amount} at {at}, leaving at {} on {vehicle} \
                 from {from} towards {towards} (no valid tap-in).",
                f.station
            ),
            _ => format!(
                "{who} paid {amount} at {at}, boarding at {} on {vehicle} from {from} towards {towards}.",
                f.station
            ),
        }
    }

    /// The Chinese sentence.
    pub fn chinese(&self) -> String {
        let who = self.rider.chinese();
        let amount = self.currency.format(self.amount_minor as i64);
        let at = self.clock(self.at_ms);
        let Some(f) = &self.fare else {
            return format!("{who}于{at}在{}支付了{amount}。", self.merchant_name);
        };
        let vehicle = self.vehicle_zh(&f.line);
        let (from, towards) = (&f.direction.from, &f.direction.towards);
        match (&f.mode, &f.entry) {
            (FareMode::TapOut, Some(entry)) => format!(
                "{who}于{at}支付了{amount}：乘坐由{from}开往{towards}的{vehicle}，{}在{}上车，在{}下车。",
                self.clock(entry.at_ms as i64),
                entry.station,
                f.station
            ),
            (FareMode::MaximumFare, _) => format!(
                "{who}于{at}在{}下车，乘坐由{from}开往{towards}的{vehicle}，因无有效进站记录支付了最高票价{amount}。",
                f.station
            ),
            _ => format!(
                "{who}于{at}支付了{amount}，在{}登上由{from}开往{towards}的{vehicle}。",
                f.station
            ),
        }
    }

    /// The alert's JSON fields (without ids, added by the caller).
    pub fn fields(&self) -> Value {
        let offset = self.utc_offset_minutes.unwrap_or(0);
        let local = local_time(self.at_ms, offset);
        let transit = self.fare.as_ref().map(|f| {
            let entry = f.entry.as_ref().map(|e| {
                let l = local_time(e.at_ms as i64, offset);
                json!({
                    "station": e.station,
                    "station_index": e.station_index,
                    "at_ms": e.at_ms,
                    "local_time": l.time,
                })
            });
            json!({
                "mode": f.mode,
                "line": f.line,
                "vehicle": f.vehicle,
                "station": f.station,
                "station_index": f.station_index,
                "direction_from": f.direction.from,
                "direction_towards": f.direction.towards,
                "entry": entry,
            })
        });
        json!({
            "rider_name": self.rider.english(),
            "rider_name_zh": self.rider.chinese(),
            "payment_id": self.payment_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency.code(),
            "amount_text": self.currency.format(self.amount_minor as i64),
            "merchant_name": self.merchant_name,
            "terminal_kind": self.terminal_kind.as_str(),
            "at_ms": self.at_ms,
            "local_date": local.date,
            "local_time": local.time,
            "utc_offset": offset_label(offset),
            "transit": transit,
            "text_en": self.english(),
            "text_zh": self.chinese(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfare_protocol::fare::{FareDirection, TripEntry};

    // 2026-11-21T00:12:00Z: 08:12 in UTC+8.
    const AT: i64 = 1_795_219_920_000;

    fn facts(fare: Option<FareContext>, offset: Option<i64>) -> AlertFacts {
        AlertFacts {
            rider: ShownAs::PhoneTail("1234".into()),
            payment_id: "pay_1".into(),
            amount_minor: 200,
            currency: Currency::parse("CNY").unwrap(),
            merchant_name: "City Tram".into(),
            terminal_kind: TerminalKind::Tram,
            at_ms: AT,
            utc_offset_minutes: offset,
            fare,
        }
    }

    fn fare(mode: FareMode, entry: Option<TripEntry>) -> FareContext {
        FareContext {
            mode,
            line: "T1".into(),
            vehicle: "tram 1207".into(),
            direction: FareDirection {
                from: "B".into(),
                towards: "C".into(),
            },
            station: "Station A".into(),
            station_index: 3,
            entry,
        }
    }

    #[test]
    fn boarding_alert_reads_like_the_source() {
        let f = facts(Some(fare(FareMode::Flat, None)), Some(480));
        assert_eq!(
            f.english(),
            "The phone ending 1234 paid ¥2.00 at 08:12, boarding at Station A on the T1 tram \
             from B towards C."
        );
        assert_eq!(
            f.chinese(),
            "尾号1234的手机于08:12支付了¥2.00，在Station A登上由B开往C的T1有轨电车。"
        );
        let v = f.fields();
        assert_eq!(v["local_time"], "08:12");
        assert_eq!(v["utc_offset"], "+08:00");
        assert_eq!(v["transit"]["direction_towards"], "C");
        assert_eq!(v["amount_text"], "¥2.00");
    }

    #[test]
    fn tap_out_alert_names_both_ends_and_times() {
        let entry = TripEntry {
            station: "Station A".into(),
            station_index: 3,
            at_ms: (AT - 20 * 60_000) as u64,
            token_id: "tap_1".into(),
        };
        let mut fc = fare(FareMode::TapOut, Some(entry));
        fc.station = "Station D".into();
        let f = facts(Some(fc), Some(480));
        let en = f.english();
        assert!(
            en.contains("boarding at Station A at 07:52 and leaving at Station D"),
            "{en}"
        );
        assert!(f
            .chinese()
            .contains("07:52在Station A上车，在Station D下车"));
        assert_eq!(f.fields()["transit"]["entry"]["local_time"], "07:52");
    }

    #[test]
    fn without_an_offset_the_time_says_utc_and_shops_are_named() {
        let mut f = facts(None, None);
        f.terminal_kind = TerminalKind::Pos;
        f.merchant_name = "Corner Café".into();
        f.rider = ShownAs::Nickname("Mia".into());
        assert_eq!(f.english(), "Mia paid ¥2.00 at 00:12 UTC at Corner Café.");
        assert_eq!(f.chinese(), "Mia于00:12 UTC在Corner Café支付了¥2.00。");
        assert!(!f.is_transit());
    }

    #[test]
    fn maximum_fare_says_why() {
        let f = facts(Some(fare(FareMode::MaximumFare, None)), Some(480));
        assert!(f.english().contains("maximum fare"));
        assert!(f.chinese().contains("最高票价"));
    }
}
