//! The `wayfare` command: a desktop wallet on the same core the phone apps
//! embed, operator shortcuts for a sandbox control center, and the demo that
//! runs the whole system on one machine.

pub mod admin;
pub mod admin_cmd;
pub mod demo;
pub mod demo_guardian;
pub mod demo_merchant;
pub mod demo_top_up;
pub mod demo_tram;
pub mod guardian_cmd;
pub mod keystore_file;
pub mod local;
pub mod local_transit;
pub mod merchant_cmd;
pub mod top_up_cmd;
pub mod wallet_cmd;

/// Installs rustls' ring crypto provider once per process (reqwest is built
/// without a default provider so the whole stack uses one crypto library).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
