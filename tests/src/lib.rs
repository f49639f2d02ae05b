//! Shared fixtures of the whole-system tests: a real control center,
//! real access terminals and real wallets on loopback (see
//! `wayfare_cli::local`), plus fault injection and a hand-made phone.

pub mod fault_proxy;
pub mod raw_phone;

/// Installs the ring provider for rustls (once per process) and a test
/// log subscriber honouring `RUST_LOG`.
pub fn init() {
    wayfare_cli::install_crypto_provider();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}
