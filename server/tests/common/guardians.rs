//! Helpers for guardian, transit and billing tests: bindings, tram
//! terminals, fare contexts, and a small SSE reader.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wayfare_protocol::fare::{FareContext, FareDirection, FareMode, TripEntry};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::request_auth::sign_request;

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
        self.signed(
            &phone.key,
            &phone.device_id,
            method,
            path,
            bytes.as_bytes(),
            &[],
        )
        .await
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
        let key = SigningKey::generate().unwrap();
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/terminals",
                Some(json!({"merchant_id": merchant.merchant_id, "kind": "tram",
                    "terminal_key": key.public_key().to_base64(),
                    "location": {"line": "T1", "vehicle": "tram 1207", "station": station,
                        "direction_from": "Airport", "direction_towards": "Harbour",
                        "utc_offset_minutes": offset}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Terminal {
            terminal_id: body["terminal_id"].as_str().unwrap().into(),
            merchant_id: merchant.merchant_id.clone(),
            certificate: body["certificate"].as_str().unwrap().into(),
            key,
        }
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
    pub async fn device_stream(&self, phone: &Phone, last_event_id: Option<i64>) -> EventReader {
        let path = "/v1/devices/me/events";
        let sig = sign_request(&phone.key, &phone.device_id, "GET", path, b"", now_ms()).unwrap();
        let mut req = self.http.get(self.url(path));
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        EventReader {
            stream: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
        }
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

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

pub struct EventReader {
    stream: ByteStream,
    buffer: String,
}

impl EventReader {
    /// The next event (comments and keep-alives skipped); panics after 20 s.
    pub async fn next(&mut self) -> Sse {
        tokio::time::timeout(Duration::from_secs(20), self.next_inner())
            .await
            .expect("no server-sent event within 20 s")
    }

    async fn next_inner(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if let Some(id) = id {
                    return Sse {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                continue;
            }
            let chunk = self.stream.next().await.expect("stream ended").unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
