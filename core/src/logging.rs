//! Forwarding the core's `tracing` events to the app's logger (Logcat,
//! os_log) through a foreign trait, filtered per target before anything
//! crosses the FFI, so dependencies can't leak secrets into app logs.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::error::WalletError;
use crate::listener::ListenerError;

/// The default filter: the core and protocol at `info`, everything else
/// (HTTP, TLS, mDNS libraries) at `warn`.
pub const DEFAULT_LOG_FILTER: &str = "warn,wayfare_core=info,wayfare_protocol=info";

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal operation.
    Info,
    /// Details for developers.
    Debug,
    /// Very verbose details.
    Trace,
}

impl From<&Level> for LogLevel {
    fn from(level: &Level) -> Self {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// The app's logger. Log lines never contain keys, secrets, phone numbers
/// or full account identifiers.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// Writes one line; `target` is the Rust module (e.g.
    /// `wayfare_core::payments`).
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), ListenerError>;
}

struct SinkLayer {
    sink: Arc<dyn LogSink>,
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        let _ = self.sink.log(
            meta.level().into(),
            meta.target().to_string(),
            format!("{}{}", line.message, line.fields),
        );
    }
}

/// Installs the process-wide logger: events that pass `filter` (an
/// `EnvFilter` directive such as [`DEFAULT_LOG_FILTER`]; empty = default)
/// go to `sink`. Call once per process, before creating wallets; a second
/// call fails with `InvalidInput` and leaves the first logger in place.
#[uniffi::export]
pub fn init_logging(sink: Arc<dyn LogSink>, filter: String) -> Result<(), WalletError> {
    let directive = if filter.trim().is_empty() {
        DEFAULT_LOG_FILTER
    } else {
        filter.trim()
    };
    let filter = EnvFilter::try_new(directive)
        .map_err(|e| WalletError::invalid(format!("bad log filter {directive:?}: {e}")))?;
    tracing_subscriber::registry()
        .with(SinkLayer { sink }.with_filter(filter))
        .try_init()
        .map_err(|e| WalletError::invalid(format!("logging is already initialised: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Capture(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Capture {
        fn log(
            &self,
            level: LogLevel,
            target: String,
            message: String,
        ) -> Result<(), ListenerError> {
            self.0.lock().unwrap().push((level, target, message));
            Ok(())
        }
    }

    #[test]
    fn events_are_filtered_per_target_and_forwarded() {
        let capture = Arc::new(Capture(Mutex::new(Vec::new())));
        let filter = EnvFilter::try_new(DEFAULT_LOG_FILTER).unwrap();
        let subscriber = tracing_subscriber::registry().with(
            SinkLayer {
                sink: capture.clone(),
            }
            .with_filter(filter),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "wayfare_core::payments", key = "idem_ab…", "payment completed");
            tracing::info!(target: "hyper::proto", "noisy dependency line");
            tracing::warn!(target: "rustls::conn", "dependency warning");
        });
        let lines = capture.0.lock().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, LogLevel::Info);
        assert_eq!(lines[0].1, "wayfare_core::payments");
        assert_eq!(lines[0].2, "payment completed key=idem_ab…");
        assert_eq!(lines[1].0, LogLevel::Warn);
        assert!(init_logging(capture.clone(), "[not a filter".into()).is_err());
    }
}
