//! Helpers for guardian, transit and billing tests: bindings, tram
//! terminals, fare contexts, and device event streams (read with the
//! test kit's SSE reader).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::fare::{FareContext, FareDirection, FareMode, TripEntry};
use wayfare_testkit::sse::SseReader;

use super::{now_ms, Merchant, Phone, Terminal, TestServer};

impl TestServer {
    /// A device-signed JSON request.
    pub async fn device(
        &self,
        phone: &Phone,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.api()
            .send(
                &phone.key,
                &phone.device_id,
                method,
                path,
                bytes.as_bytes(),
                &[],
            )
            .await
    }

    /// An invitation by `rider` (transit only, naming it `nickname`) that
    /// lived one second and has expired.
    pub async fn expired_invitation(&self, rider: &Phone, nickname: &str) -> Value {
        let inv = self
            .invite(
                rider,
                "transit_only",
                json!({"shown_as": "nickname", "nickname": nickname, "expires_in_s": 1}),
            )
            .await;
        let expires = inv["expires_at_ms"].as_u64().unwrap();
        // Nothing to poll: the clock itself must pass the expiry.
        while now_ms() <= expires + 5 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        inv
    }

    /// Rider invites; returns the invitation JSON.
    pub async fn invite(&self, rider: &Phone, scope: &str, shown_as: Value) -> Value {
        let mut body = json!({ "scope": scope });
        for (k, v) in shown_as.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, inv) = self
            .device(rider, Method::POST, "/v1/guardians/invitations", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        inv
    }

    pub async fn accept(&self, guardian: &Phone, code: &str) -> (StatusCode, Value) {
        self.device(
            guardian,
            Method::POST,
            "/v1/guardians/invitations/accept",
            Some(json!({ "code": code })),
        )
        .await
    }

    /// A binding with the rider shown by phone tail; returns its id.
    pub async fn bind(&self, rider: &Phone, guardian: &Phone, scope: &str) -> String {
        let inv = self
            .invite(rider, scope, json!({ "shown_as": "phone_tail" }))
            .await;
        let (status, b) = self.accept(guardian, inv["code"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        b["binding_id"].as_str().unwrap().to_string()
    }

    pub async fn alerts(&self, guardian: &Phone) -> Vec<Value> {
        let (status, body) = self
            .device(
                guardian,
                Method::GET,
                "/v1/guardians/alerts?limit=500",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["alerts"].as_array().unwrap().clone()
    }

    /// A tram or gate terminal at a station, with a UTC offset.
    pub async fn tram_terminal(&self, merchant: &Merchant, station: &str, offset: i64) -> Terminal {
        let fields = json!({"kind": "tram",
            "location": {"line": "T1", "vehicle": "tram 1207", "station": station,
                "direction_from": "Airport", "direction_towards": "Harbour",
                "utc_offset_minutes": offset}});
        self.register_terminal(merchant, fields).await
    }

    /// Pays `amount` at `terminal` with a fare context; returns status and body.
    pub async fn pay_fare(
        &self,
        phone: &Phone,
        terminal: &Terminal,
        order: &str,
        amount: u64,
        fare: Option<FareContext>,
    ) -> (StatusCode, Value) {
        let (ins, idem) =
            phone.instruction_with_fare(terminal, order, amount, now_ms() + 60_000, fare);
        self.pay(phone, &ins, &idem).await
    }

    /// Opens the caller's device event stream.
    pub async fn device_stream(&self, phone: &Phone, last_event_id: Option<i64>) -> SseReader {
        let last = last_event_id.map(|id| id.to_string());
        self.api()
            .events(
                &phone.key,
                &phone.device_id,
                "/v1/devices/me/events",
                last.as_deref(),
            )
            .await
    }
}

/// A flat fare boarding at `station` (index `index`).
pub fn flat_fare(station: &str, index: u32) -> FareContext {
    FareContext {
        mode: FareMode::Flat,
        line: "T1".into(),
        vehicle: "tram 1207".into(),
        direction: FareDirection {
            from: "Airport".into(),
            towards: "Harbour".into(),
        },
        station: station.into(),
        station_index: index,
        entry: None,
    }
}

/// A tap-out fare from `entry` to `exit`.
pub fn tap_out_fare(entry: &str, exit: &str, token_id: &str, entry_at_ms: u64) -> FareContext {
    FareContext {
        mode: FareMode::TapOut,
        entry: Some(TripEntry {
            station: entry.into(),
            station_index: 1,
            at_ms: entry_at_ms,
            token_id: token_id.into(),
        }),
        ..flat_fare(exit, 4)
    }
}
