//! The Wayfare wallet core, embedded by the Android and iOS apps through
//! uniffi (Kotlin `app.wayfare.core`, Swift `WayfareCore`) and used directly
//! by the desktop CLI.
//!
//! Start with [`Wallet`]: `Wallet::new(config, key_store)`, then `open()`,
//! then the sub-objects `account()` (with over-the-air `top_up` and the
//! push token, `register_push_token`),
//! `terminals()`, `payments()`, `guardians()` and `express()`.
//!
//! # Runtime
//! Every async method is exported with `async_runtime = "tokio"`: called
//! from Kotlin, Swift or Python it runs inside a tokio context owned by the
//! core (uniffi's bundled runtime), so timers and sockets work. Called from
//! Rust inside a tokio runtime (`#[tokio::main]`, `#[tokio::test]`, either
//! flavour), just `.await` it: it runs on the caller's runtime. The core
//! spawns no tokio tasks; continuous discovery uses its own threads
//! (`start_discovery`'s browser; `watch_nearby`'s merge thread, and a BLE
//! thread running btleplug on a runtime of its own).
//! Every future is safe to drop; long waits also offer `cancel()`.

uniffi::setup_scaffolding!();

mod account;
mod amount;
#[cfg(all(target_os = "android", feature = "ble"))]
mod android;
mod clock;
mod config;
mod device_events;
mod discovery;
mod error;
mod events;
mod express;
mod guardians;
mod http;
mod keystore;
mod listener;
mod logging;
mod merchant;
mod nfc;
mod payments;
mod push;
mod registrations;
mod session;
mod store;
mod top_ups;
mod wallet;

#[cfg(test)]
mod testing;

pub use account::{AccountApi, AccountInfo, Balance, HistoryEntry, HistoryKind};
pub use config::{MdnsScope, WalletConfig};
pub use discovery::{
    DiscoveredTerminal, DiscoveryHandle, DiscoverySource, NearbyHandle, NearbyListener,
    NearbyOptions, NearbySource, NearbyTerminal, PlatformDiscovery, PlatformDiscoverySink,
    PlatformService, TerminalKind, TerminalsApi,
};
pub use error::{wallet_error_message, WalletError};
pub use events::{EventsApi, WalletEvent, WalletEventBody, WalletEventListener};
pub use express::{
    ExpressAccount, ExpressAllowanceInfo, ExpressApi, ExpressSettings, ExpressStatus,
    PendingExpressTap, SettledExpressTap,
};
pub use guardians::{
    AlertTransit, BindingRole, BindingStatus, GuardianAlert, GuardianAlertStream, GuardianBinding,
    GuardianBindings, GuardianInvitation, GuardianScope, GuardiansApi, RiderName, RiderNameKind,
};
pub use keystore::{InMemoryKeyStore, KeyStore, KeyStoreError};
pub use listener::{DiscoveryListener, ListenerError, WalletListener};
pub use logging::{init_logging, LogLevel, LogSink, DEFAULT_LOG_FILTER};
pub use merchant::{
    ExternalNotice, ForwardOutcome, MerchantApi, MerchantMembership, MerchantOperation,
    MerchantPayment, MerchantPrompt, MerchantPromptEvent, MerchantRefund, MerchantRole,
    PromptAttribute, PromptSettings, PromptStream, StaffInvitation,
};
pub use nfc::{NfcCard, NfcListener};
pub use payments::points::{max_points_for, points_split, PointsRate, PointsSplit};
pub use payments::{PaymentFailure, PaymentOutcome, PaymentsApi, StoredReceipt};
pub use push::PushPlatform;
pub use registrations::{PlatformRegistration, RegistrationsApi};
pub use session::tap_in::TapOutcome;
pub use session::{
    DoneKind, FareInfo, IdentityShared, PaymentRequestInfo, TerminalDone, TerminalInfo,
    TerminalSession,
};
pub use session::{TopUpOfferInfo, TopUpOutcome};
pub use top_ups::{TopUp, TopUpProvider, TopUpStarted, TopUpStatus, TopUpStream};
pub use wallet::object::Wallet;
pub use wallet::OpenReport;
