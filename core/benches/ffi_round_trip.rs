//! The Rust baseline of the FFI round-trip benchmark: the same calls the
//! Python benchmark (`bindings/bench/ffi_round_trip.py`) makes through the
//! generated bindings, made here as plain Rust calls.
//!
//! - `events_pending_count`: Rust → core → Rust (no callback);
//! - `events_notify_listener`: Rust → core → the app's listener
//!   (`WalletEventListener::on_events_available`) → back.
//!
//! Run: `cargo bench -p wayfare-core --bench ffi_round_trip`.

#![allow(clippy::expect_used, missing_docs)] // a benchmark: failing loudly is right

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use wayfare_core::{
    InMemoryKeyStore, ListenerError, MdnsScope, Wallet, WalletConfig, WalletEventListener,
};

struct Counter(AtomicU64);

impl WalletEventListener for Counter {
    fn on_events_available(&self, _pending: u32) -> Result<(), ListenerError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = WalletConfig {
        data_dir: dir.path().join("wallet").to_string_lossy().into_owned(),
        // Never contacted: an unregistered wallet opens offline.
        server_url: "http://127.0.0.1:9".into(),
        operator_key: None,
        receipt_key: None,
        mdns_scope: MdnsScope::Loopback,
    };
    let wallet = Wallet::new(config, InMemoryKeyStore::new()).expect("wallet");
    runtime.block_on(wallet.open()).expect("open");
    let events = wallet.events();
    let counter = Arc::new(Counter(AtomicU64::new(0)));
    events.set_listener(counter.clone());

    c.bench_function("events_pending_count", |b| {
        b.iter(|| std::hint::black_box(events.pending_count().expect("count")))
    });
    c.bench_function("events_notify_listener", |b| {
        b.iter(|| std::hint::black_box(events.notify_listener().expect("notify")))
    });
    assert!(counter.0.load(Ordering::Relaxed) > 0);
    runtime.block_on(wallet.close());
}

criterion_group!(benches, bench);
criterion_main!(benches);
