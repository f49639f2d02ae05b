//! The Wayfare wire protocol, shared by the wallet core, the access terminal
//! and the control center.
//!
//! This crate does no I/O and reads no clock: every function that depends on
//! time takes `now_ms` (Unix milliseconds) so that the same code is exercised
//! identically by phones, terminals, servers and tests.
//!
//! - [`framing`]: length-prefixed frames with a hard maximum size.
//! - [`gatt`]: those frames cut into Bluetooth LE GATT fragments and put
//!   back together (the async pump is `gatt::link`, feature `tokio`).
//! - [`messages`]: the CBOR messages exchanged over a terminal session.
//! - [`handshake`] and [`channel`]: the SIGMA-style session handshake
//!   (ephemeral X25519, terminal Ed25519 signature, operator-issued
//!   certificate) and the AES-256-GCM channel that follows it.
//! - [`certificate`], [`receipt`], [`instruction`], [`tap_in`]: signed
//!   objects (COSE_Sign1 over CBOR) issued by the operator, the payment
//!   server, the device and the entry terminal.
//! - [`consent`]: the rider's device-signed consent to be registered with
//!   a merchant's platform (P3.5), and the per-merchant pseudonym's form.
//! - [`request_auth`]: how devices and terminals sign their HTTP requests.
//! - [`money`], [`ids`], [`fare`]: amounts, currencies, identifiers and fare rules.

pub mod apdu;
pub mod certificate;
mod certified;
pub mod channel;
pub mod codec;
pub mod consent;
pub mod entry_consent;
pub mod error;
pub mod express;
pub mod fare;
mod fare_table;
pub mod framing;
pub mod gatt;
pub mod handshake;
pub mod ids;
pub mod instruction;
pub mod keys;
pub mod messages;
pub mod money;
mod payment_request;
pub mod prompt;
mod random;
pub mod receipt;
pub mod request_auth;
mod signed;
pub mod tap_in;
mod terminal_kind;
pub mod top_up;
pub mod transport;

pub use error::ProtocolError;

/// The protocol version spoken by this crate. Peers with another major
/// version are refused during the handshake.
pub const PROTOCOL_VERSION: u16 = 1;

/// The DNS-SD service type terminals advertise on the LAN.
pub const MDNS_SERVICE_TYPE: &str = "_wayfare._tcp.local.";
