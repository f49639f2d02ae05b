//! Driving the load: closed loop (fixed concurrency) or open loop (fixed
//! rate, latency counted from when each payment was due), with a progress
//! line each second. Every payment is a fresh order, so every answer is a
//! new payment or a refusal, never a replay.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;
use tokio::time::Instant;
use wayfare_protocol::ids::payment_idempotency_key;
use wayfare_protocol::instruction::{InstructionBody, PaymentInstruction};

use crate::client::Api;
use crate::setup::Scene;
use crate::Args;

/// What the run measured.
pub struct Results {
    /// Latency of answered payments in the measured window (µs).
    pub latency_us: Histogram<u64>,
    /// Payments acknowledged (2xx) in the measured window.
    pub measured_ok: u64,
    /// Length of the measured window.
    pub window: Duration,
    /// Refused with a 4xx (should be none).
    pub refused: u64,
    /// 5xx answers or lost answers (their outcome was then asked again).
    pub failed: u64,
    /// Open loop: payments not sent because too many were in flight.
    pub dropped: u64,
    /// Per rider: payments acknowledged over the whole run (warm-up too),
    /// including those whose lost answers were recovered by re-sending.
    pub acked_per_rider: Vec<u64>,
    /// One example of each kind of failure, for the report.
    pub first_error: Option<String>,
}

struct Shared {
    api: Api,
    scene: Arc<Scene>,
    amount_minor: u64,
    measure_from: Instant,
    measure_until: Instant,
    next_rider: AtomicUsize,
    next_order: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    measured_ok: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    acked: Vec<AtomicU64>,
    in_flight: AtomicUsize,
    lost: Mutex<Vec<(usize, String, Vec<u8>)>>,
    first_error: Mutex<Option<String>>,
}

enum Outcome {
    Ok,
    Refused(String),
    Unknown(String),
}

impl Shared {
    fn lock_hist(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        self.latency.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs and posts one payment; `due` is when it should have started.
    async fn pay_one(&self, due: Instant) {
        let rider_index = self.next_rider.fetch_add(1, Ordering::Relaxed) % self.scene.riders.len();
        let order = self.next_order.fetch_add(1, Ordering::Relaxed);
        let built = self.build(rider_index, order);
        let (idem, body) = match built {
            Ok(b) => b,
            Err(e) => {
                self.note_error(format!("cannot sign a payment: {e}"));
                self.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let outcome = self.send(rider_index, &idem, &body).await;
        let done = Instant::now();
        let measured = due >= self.measure_from && due < self.measure_until;
        match outcome {
            Outcome::Ok => {
                self.acked[rider_index].fetch_add(1, Ordering::Relaxed);
                if measured {
                    let us = done.saturating_duration_since(due).as_micros() as u64;
                    let _ = self.lock_hist().record(us.max(1));
                    self.measured_ok.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Refused(e) => {
                self.note_error(e);
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Unknown(e) => {
                self.note_error(e);
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.lost
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((rider_index, idem, body));
            }
        }
    }

    fn build(&self, rider_index: usize, order: u64) -> Result<(String, Vec<u8>)> {
        signed_payment(&self.scene, rider_index, order, self.amount_minor)
    }

    async fn send(&self, rider_index: usize, idem: &str, body: &[u8]) -> Outcome {
        let rider = &self.scene.riders[rider_index];
        match self
            .api
            .device(
                &rider.key,
                &rider.device_id,
                "/v1/payments",
                body,
                Some(idem),
            )
            .await
        {
            Ok((status, _)) if status.is_success() => Outcome::Ok,
            Ok((status, answer)) if status.is_client_error() => {
                Outcome::Refused(format!("{status}: {answer}"))
            }
            Ok((status, answer)) => Outcome::Unknown(format!("{status}: {answer}")),
            Err(e) => Outcome::Unknown(format!("no answer: {e}")),
        }
    }

    fn note_error(&self, e: String) {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(e);
        }
    }
}

/// Signs payment number `order` of rider `rider_index` at the scene's
/// terminal for that number: returns its idempotency key and the `POST /v1/payments` body.
pub fn signed_payment(
    scene: &Scene,
    rider_index: usize,
    order: u64,
    amount_minor: u64,
) -> Result<(String, Vec<u8>)> {
    let rider = &scene.riders[rider_index];
    let order_id = format!("lg-{order}");
    let terminal_id = scene.terminal_for(order);
    let idem = payment_idempotency_key(&rider.account_id, terminal_id, &order_id);
    let now = crate::client::now_ms();
    let body = InstructionBody {
        version: 1,
        account_id: rider.account_id.clone(),
        device_id: rider.device_id.clone(),
        idempotency_key: idem.clone(),
        order_id,
        merchant_id: scene.merchant_id.clone(),
        terminal_id: terminal_id.to_string(),
        amount_minor,
        currency: scene.currency.clone(),
        description: "Load test".into(),
        fare: None,
        expires_at_ms: now + 120_000,
        signed_at_ms: now,
        points_spent: 0,
    };
    let instruction = PaymentInstruction::sign(&rider.key, &body)?;
    let json = serde_json::json!({ "instruction": instruction.to_base64() }).to_string();
    Ok((idem, json.into_bytes()))
}

/// Runs the warm-up and the measured window; then re-sends every payment
/// whose answer was lost until the server answers it (the same signed
/// instruction and idempotency key: never a second payment).
pub async fn drive(api: &Api, scene: &Arc<Scene>, args: &Args) -> Result<Results> {
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let measure_until = measure_from + args.duration;
    let shared = Arc::new(Shared {
        api: api.clone(),
        acked: (0..scene.riders.len()).map(|_| AtomicU64::new(0)).collect(),
        scene: scene.clone(),
        amount_minor: args.amount_minor,
        measure_from,
        measure_until,
        next_rider: AtomicUsize::new(0),
        next_order: AtomicU64::new(0),
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        measured_ok: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        lost: Mutex::new(Vec::new()),
        first_error: Mutex::new(None),
    });
    let progress = tokio::spawn(progress(shared.clone(), start, args.warmup));
    let dropped = match args.rate {
        None => closed_loop(&shared, args.concurrency, measure_until).await,
        Some(rate) => open_loop(&shared, rate, args.max_in_flight, measure_until).await,
    };
    progress.abort();
    eprintln!();
    recover_lost(&shared).await;
    let latency = shared.lock_hist().clone();
    let first_error = shared
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(Results {
        latency_us: latency,
        measured_ok: shared.measured_ok.load(Ordering::Relaxed),
        window: args.duration,
        refused: shared.refused.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        dropped,
        acked_per_rider: shared
            .acked
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect(),
        first_error,
    })
}

async fn closed_loop(shared: &Arc<Shared>, concurrency: usize, until: Instant) -> u64 {
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let shared = shared.clone();
        clients.spawn(async move {
            while Instant::now() < until {
                shared.pay_one(Instant::now()).await;
            }
        });
    }
    while clients.join_next().await.is_some() {}
    0
}

async fn open_loop(shared: &Arc<Shared>, rate: u64, max_in_flight: usize, until: Instant) -> u64 {
    let start = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut sent: u64 = 0;
    let mut dropped = 0;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        // Everything due by now starts now; latency counts from its due time.
        loop {
            let due = start + interval * (sent as u32);
            if due > now || due >= until {
                break;
            }
            sent += 1;
            if shared.in_flight.load(Ordering::Relaxed) >= max_in_flight {
                dropped += 1;
                continue;
            }
            shared.in_flight.fetch_add(1, Ordering::Relaxed);
            let shared = shared.clone();
            tasks.spawn(async move {
                shared.pay_one(due).await;
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while tasks.join_next().await.is_some() {}
    dropped
}

/// Asks again, with the same bytes, about every payment whose answer was
/// lost, until it is answered (at most a minute each).
async fn recover_lost(shared: &Arc<Shared>) {
    let lost = std::mem::take(&mut *shared.lost.lock().unwrap_or_else(|p| p.into_inner()));
    if lost.is_empty() {
        return;
    }
    eprintln!(
        "re-sending {} payments whose answers were lost…",
        lost.len()
    );
    for (rider_index, idem, body) in lost {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match shared.send(rider_index, &idem, &body).await {
                Outcome::Ok => {
                    shared.acked[rider_index].fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Outcome::Refused(_) => break,
                Outcome::Unknown(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Outcome::Unknown(e) => {
                    eprintln!("payment {idem} still unanswered after a minute: {e}");
                    break;
                }
            }
        }
    }
}

async fn progress(shared: Arc<Shared>, start: Instant, warmup: Duration) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let acked: u64 = shared.acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        let p99 = shared.lock_hist().value_at_quantile(0.99);
        let phase = if start.elapsed() < warmup {
            "warm-up"
        } else {
            "measuring"
        };
        eprint!(
            "\r  {:>4.0}s {phase:<9}  acknowledged {acked:>9}  {:>7}/s  p99 {:>7.2} ms  refused {}  failed {}   ",
            start.elapsed().as_secs_f64(),
            acked - last,
            p99 as f64 / 1000.0,
            shared.refused.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed),
        );
        last = acked;
    }
}
