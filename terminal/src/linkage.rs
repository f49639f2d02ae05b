//! The linkage device (P3.4): a gate, ticket printer or announcer switched
//! on when a payment is confirmed, and never otherwise.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use thiserror::Error;
use tokio::sync::watch;
use wayfare_protocol::ids::redact;

use crate::config::{CommandLinkageConfig, LinkageConfig};

/// A linkage device failure.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("linkage device: {0}")]
pub struct LinkageError(pub String);

/// What the device is switched on for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkageEvent {
    /// The terminal.
    pub terminal_id: String,
    /// The paid order.
    pub order_id: String,
    /// The payment server's payment id.
    pub payment_id: String,
    /// Amount paid, in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// Text to print (a top-up receipt at a kiosk); `None` for a payment,
    /// whose device is a gate or a ticket printer of its own.
    pub receipt: Option<String>,
}

/// A device the terminal switches on after a confirmed payment and off
/// again after the configured hold time.
pub trait LinkageDevice: Send + Sync {
    /// Switches the device on (opens the gate, prints the ticket).
    fn activate<'a>(&'a self, event: &'a LinkageEvent) -> BoxFuture<'a, Result<(), LinkageError>>;
    /// Switches the device off again.
    fn deactivate<'a>(&'a self, event: &'a LinkageEvent)
        -> BoxFuture<'a, Result<(), LinkageError>>;
}

/// A device that only writes log lines (demo and tests).
#[derive(Debug, Default)]
pub struct LogLinkage;

impl LinkageDevice for LogLinkage {
    fn activate<'a>(&'a self, event: &'a LinkageEvent) -> BoxFuture<'a, Result<(), LinkageError>> {
        Box::pin(async move {
            tracing::info!(order = %redact(&event.order_id), amount_minor = event.amount_minor, "linkage device ON");
            Ok(())
        })
    }

    fn deactivate<'a>(
        &'a self,
        event: &'a LinkageEvent,
    ) -> BoxFuture<'a, Result<(), LinkageError>> {
        Box::pin(async move {
            tracing::info!(order = %redact(&event.order_id), "linkage device OFF");
            Ok(())
        })
    }
}

/// A device driven by external commands. The command gets the event in
/// `WAYFARE_EVENT` (`open`/`close`), `WAYFARE_TERMINAL_ID`,
/// `WAYFARE_ORDER_ID`, `WAYFARE_PAYMENT_ID`, `WAYFARE_AMOUNT_MINOR` and
/// `WAYFARE_CURRENCY`, and the text to print in `WAYFARE_RECEIPT` when
/// there is one (a kiosk top-up); a non-zero exit status is a failure.
#[derive(Debug, Clone)]
pub struct CommandLinkage {
    config: CommandLinkageConfig,
}

impl CommandLinkage {
    /// A device running the configured commands.
    pub fn new(config: CommandLinkageConfig) -> Self {
        Self { config }
    }

    async fn run(
        &self,
        argv: &[String],
        what: &str,
        event: &LinkageEvent,
    ) -> Result<(), LinkageError> {
        let Some((program, args)) = argv.split_first() else {
            return Ok(());
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env("WAYFARE_EVENT", what)
            .env("WAYFARE_TERMINAL_ID", &event.terminal_id)
            .env("WAYFARE_ORDER_ID", &event.order_id)
            .env("WAYFARE_PAYMENT_ID", &event.payment_id)
            .env("WAYFARE_AMOUNT_MINOR", event.amount_minor.to_string())
            .env("WAYFARE_CURRENCY", &event.currency)
            .env(
                "WAYFARE_RECEIPT",
                event.receipt.as_deref().unwrap_or_default(),
            )
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let status = match tokio::time::timeout(timeout, command.status()).await {
            Err(_) => {
                return Err(LinkageError(format!(
                    "{what} command {program:?} timed out"
                )))
            }
            Ok(Err(e)) => {
                return Err(LinkageError(format!(
                    "cannot run {what} command {program:?}: {e}"
                )))
            }
            Ok(Ok(status)) => status,
        };
        if status.success() {
            Ok(())
        } else {
            Err(LinkageError(format!(
                "{what} command {program:?} failed: {status}"
            )))
        }
    }
}

impl LinkageDevice for CommandLinkage {
    fn activate<'a>(&'a self, event: &'a LinkageEvent) -> BoxFuture<'a, Result<(), LinkageError>> {
        Box::pin(self.run(&self.config.open, "open", event))
    }

    fn deactivate<'a>(
        &'a self,
        event: &'a LinkageEvent,
    ) -> BoxFuture<'a, Result<(), LinkageError>> {
        Box::pin(self.run(&self.config.close, "close", event))
    }
}

/// How many recently activated orders are remembered to refuse a second
/// activation for the same order.
const ORDERS_KEPT: usize = 4_096;

/// Drives a [`LinkageDevice`]: at most one activation per order, a counter
/// of activations, and the switch-off after the hold time.
pub struct Linkage {
    device: Arc<dyn LinkageDevice>,
    hold: Duration,
    activations: AtomicU64,
    activated: Mutex<(HashSet<String>, VecDeque<String>)>,
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Linkage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linkage")
            .field("activations", &self.activations())
            .finish()
    }
}

/// Builds the device named by the configuration.
pub fn device_from_config(config: &LinkageConfig) -> Arc<dyn LinkageDevice> {
    match config {
        LinkageConfig::Log => Arc::new(LogLinkage),
        LinkageConfig::Command(c) => Arc::new(CommandLinkage::new(c.clone())),
    }
}

/// The hold time named by the configuration.
pub fn hold_from_config(config: &LinkageConfig) -> Duration {
    match config {
        LinkageConfig::Log => Duration::from_millis(3_000),
        LinkageConfig::Command(c) => Duration::from_millis(c.hold_ms),
    }
}

impl Linkage {
    /// Wraps a device; `shutdown` cuts the hold short when the terminal stops.
    pub fn new(
        device: Arc<dyn LinkageDevice>,
        hold: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            device,
            hold,
            activations: AtomicU64::new(0),
            activated: Mutex::new((HashSet::new(), VecDeque::new())),
            shutdown,
        }
    }

    /// How many times the device was switched on.
    pub fn activations(&self) -> u64 {
        self.activations.load(Ordering::SeqCst)
    }

    /// Switches the device on for a confirmed payment, exactly once per
    /// order, and schedules the switch-off.
    pub async fn activate(&self, event: LinkageEvent) -> Result<(), LinkageError> {
        {
            let mut guard = self.activated.lock().unwrap_or_else(|p| p.into_inner());
            let (set, order) = &mut *guard;
            if !set.insert(event.order_id.clone()) {
                return Err(LinkageError(format!(
                    "order {} already switched the device on",
                    redact(&event.order_id)
                )));
            }
            order.push_back(event.order_id.clone());
            while order.len() > ORDERS_KEPT {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
        self.device.activate(&event).await?;
        self.activations.fetch_add(1, Ordering::SeqCst);
        let device = self.device.clone();
        let hold = self.hold;
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(hold) => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
            if let Err(e) = device.deactivate(&event).await {
                tracing::error!(order = %redact(&event.order_id), error = %e, "could not switch the linkage device off");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(order: &str) -> LinkageEvent {
        LinkageEvent {
            terminal_id: "term_1".into(),
            order_id: order.into(),
            payment_id: "pay_1".into(),
            amount_minor: 200,
            currency: "CNY".into(),
            receipt: None,
        }
    }

    #[tokio::test]
    async fn activates_once_per_order() {
        let (_tx, rx) = watch::channel(false);
        let l = Linkage::new(Arc::new(LogLinkage), Duration::from_millis(1), rx);
        l.activate(event("ord_1")).await.unwrap();
        assert!(l.activate(event("ord_1")).await.is_err());
        l.activate(event("ord_2")).await.unwrap();
        assert_eq!(l.activations(), 2);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn command_linkage_passes_the_order_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let script = format!(
            "echo \"$WAYFARE_EVENT $WAYFARE_ORDER_ID $WAYFARE_AMOUNT_MINOR $WAYFARE_CURRENCY\" >> {}",
            out.display()
        );
        let device = CommandLinkage::new(CommandLinkageConfig {
            open: vec!["sh".into(), "-c".into(), script.clone()],
            close: vec!["sh".into(), "-c".into(), script],
            hold_ms: 0,
            timeout_ms: 10_000,
        });
        device.activate(&event("ord_9")).await.unwrap();
        device.deactivate(&event("ord_9")).await.unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text, "open ord_9 200 CNY\nclose ord_9 200 CNY\n");

        let failing = CommandLinkage::new(CommandLinkageConfig {
            open: vec!["false".into()],
            close: vec![],
            hold_ms: 0,
            timeout_ms: 10_000,
        });
        assert!(failing.activate(&event("ord_9")).await.is_err());
        assert!(failing.deactivate(&event("ord_9")).await.is_ok());
    }
}
