//! The measured part of a streams run: bound riders pay at a fixed rate
//! (open loop), every payment's answer and every alert are matched by
//! payment id, and each alert's delay is recorded twice:
//!
//! * **from the answer**: the payment's commit happened before the server
//!   answered, so "alert received − answer received" is a lower bound on
//!   commit → delivery, off by at most the answer's trip back (sub-ms on
//!   loopback). The server puts no commit-time stamp in the event; an alert
//!   that arrives before its payment's answer counts as ~0 (and is counted
//!   as such).
//! * **from the event's `at_ms`**: the server's clock when it began
//!   processing the payment (ms resolution, same machine): an upper bound
//!   that includes the payment's own validation and commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::client::Api;
use crate::drive::signed_payment;
use crate::setup::Scene;

#[derive(Default)]
struct Track {
    rider: usize,
    answered: Option<Instant>,
    received: Option<Instant>,
    alerts: u32,
    wrong_guardian: bool,
}

/// The shared bookkeeping of payments and alerts.
pub struct Tally {
    tracks: Mutex<HashMap<String, Track>>,
    from_answer_us: Mutex<Histogram<u64>>,
    from_at_us: Mutex<Histogram<u64>>,
    /// Payments acknowledged (each must produce exactly one alert).
    pub acked: AtomicU64,
    /// Payments refused (4xx): no alert expected.
    pub refused: AtomicU64,
    /// Payments whose answer was lost even after re-sending.
    pub unanswered: AtomicU64,
    /// Alerts that arrived before their payment's answer.
    pub before_answer: AtomicU64,
    /// Alerts in all.
    pub alerts: AtomicU64,
    /// Connection errors of the guardians' streams (each then resumed).
    pub stream_errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Microseconds since the Unix epoch.
fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

impl Tally {
    /// Empty.
    pub fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            tracks: Mutex::new(HashMap::new()),
            from_answer_us: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
            from_at_us: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
            acked: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            before_answer: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            stream_errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
        }))
    }

    /// Notes an error for the report (the first one is kept).
    pub fn note_error(&self, e: String) {
        let mut first = lock(&self.first_error);
        if first.is_none() {
            *first = Some(e);
        }
    }

    /// The first error noted.
    pub fn first_error(&self) -> Option<String> {
        lock(&self.first_error).clone()
    }

    fn record_from_answer(&self, answered: Instant, received: Instant) {
        let us = received.saturating_duration_since(answered).as_micros() as u64;
        let _ = lock(&self.from_answer_us).record(us.max(1));
    }

    /// Guardian `guardian` received the alert of `payment_id` made at
    /// `at_ms` (call as soon as it is received).
    pub fn on_alert(&self, guardian: usize, payment_id: &str, at_ms: i64) {
        let now = Instant::now();
        let wall = wall_us();
        self.alerts.fetch_add(1, Ordering::Relaxed);
        let mut tracks = lock(&self.tracks);
        let track = tracks.entry(payment_id.to_string()).or_default();
        track.alerts += 1;
        if track.alerts > 1 {
            return;
        }
        let at_us = u64::try_from(at_ms).unwrap_or_default() * 1000;
        let _ = lock(&self.from_at_us).record(wall.saturating_sub(at_us).max(1));
        track.received = Some(now);
        match track.answered {
            Some(answered) => {
                if track.rider != guardian {
                    track.wrong_guardian = true;
                }
                self.record_from_answer(answered, now);
            }
            None => {
                // Matched (and checked) when the answer arrives.
                track.rider = guardian;
                self.before_answer.fetch_add(1, Ordering::Relaxed);
                let _ = lock(&self.from_answer_us).record(1);
            }
        }
    }

    fn on_answer(&self, rider: usize, payment_id: String) {
        let now = Instant::now();
        self.acked.fetch_add(1, Ordering::Relaxed);
        let mut tracks = lock(&self.tracks);
        let track = tracks.entry(payment_id).or_default();
        if track.received.is_some() && track.rider != rider {
            track.wrong_guardian = true;
        }
        track.rider = rider;
        track.answered = Some(now);
    }

    /// Alerts still missing (acknowledged payments without one).
    pub fn missing(&self) -> u64 {
        lock(&self.tracks)
            .values()
            .filter(|t| t.answered.is_some() && t.alerts == 0)
            .count() as u64
    }

    /// The verdict on delivery: (missing, duplicated, unexpected, misrouted).
    pub fn check(&self) -> Delivery {
        let tracks = lock(&self.tracks);
        let mut d = Delivery::default();
        for t in tracks.values() {
            match (t.answered.is_some(), t.alerts) {
                (true, 0) => d.missing += 1,
                (false, n) if n > 0 => d.unexpected += 1,
                _ => {}
            }
            if t.alerts > 1 {
                d.duplicated += 1;
            }
            if t.wrong_guardian {
                d.misrouted += 1;
            }
        }
        d
    }

    /// The two delay histograms (µs): from the answer, from `at_ms`.
    pub fn histograms(&self) -> (Histogram<u64>, Histogram<u64>) {
        (
            lock(&self.from_answer_us).clone(),
            lock(&self.from_at_us).clone(),
        )
    }
}

/// Whether every expected alert arrived exactly once, to its guardian.
#[derive(Default, Debug, Clone, Copy)]
pub struct Delivery {
    /// Acknowledged payments whose alert never came.
    pub missing: u64,
    /// Payments alerted more than once.
    pub duplicated: u64,
    /// Alerts for payments never acknowledged.
    pub unexpected: u64,
    /// Alerts that reached a guardian not bound to the payer.
    pub misrouted: u64,
}

impl Delivery {
    /// True when nothing is missing, doubled, unexpected or misrouted.
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.unexpected == 0 && self.misrouted == 0
    }
}

/// Pays at `rate`/s for `duration`, payment `k` by rider `k % riders`;
/// answers lost on the way are asked again with the same bytes (the same
/// idempotency key: never a second payment) for up to a minute.
pub async fn pay(api: &Api, scene: &Arc<Scene>, tally: &Arc<Tally>, rate: u64, duration: Duration) {
    let start = Instant::now();
    let until = start + duration;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut sent: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        loop {
            let due = start + interval * (sent as u32);
            if due > now || due >= until {
                break;
            }
            let (api, scene, tally) = (api.clone(), scene.clone(), tally.clone());
            let order = sent;
            tasks.spawn(async move { pay_one(&api, &scene, &tally, order).await });
            sent += 1;
        }
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while tasks.join_next().await.is_some() {}
}

async fn pay_one(api: &Api, scene: &Scene, tally: &Tally, order: u64) {
    let rider_index = (order % scene.riders.len() as u64) as usize;
    let rider = &scene.riders[rider_index];
    let (idem, body) = match signed_payment(scene, rider_index, order, scene.amount_minor) {
        Ok(b) => b,
        Err(e) => {
            tally.note_error(format!("cannot sign a payment: {e}"));
            tally.unanswered.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = api
            .device(
                &rider.key,
                &rider.device_id,
                "/v1/payments",
                &body,
                Some(&idem),
            )
            .await;
        match answer {
            Ok((status, value)) if status.is_success() => {
                match value["payment_id"].as_str() {
                    Some(id) => tally.on_answer(rider_index, id.to_string()),
                    None => tally.note_error(format!("an answer without payment_id: {value}")),
                }
                return;
            }
            Ok((status, value)) if status.is_client_error() => {
                tally.note_error(format!("payment refused: {status}: {value}"));
                tally.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            other => {
                let e = match other {
                    Ok((status, value)) => format!("{status}: {value}"),
                    Err(e) => format!("no answer: {e}"),
                };
                if Instant::now() >= deadline {
                    tally.note_error(format!("payment {idem} unanswered after a minute: {e}"));
                    tally.unanswered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
