//! Forwarding the core's `tracing` events to the app's logger (Logcat,
//! os_log) through a foreign trait, filtered per target before anything
//! crosses the FFI, so dependencies can't leak secrets into app logs.
//!
//! Two safeguards keep secrets and full identifiers out of app logs: the
//! core logs identifiers only through `ids::redact`, and every line is
//! scrubbed again before it crosses the FFI ([`scrub`]): full Wayfare ids,
//! long base64url values (keys, signatures, tokens) and phone-number-like
//! digit runs are shortened or masked.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::error::WalletError;
use crate::listener::ListenerError;

/// The default filter: the core and protocol at `info`, everything else
/// (HTTP, TLS, mDNS libraries) at `warn`.
pub const DEFAULT_LOG_FILTER: &str = "warn,wayfare_core=info,wayfare_protocol=info";

/// The per-target filter for `level`: the core and protocol at `level`,
/// dependencies (HTTP, TLS, mDNS, sled) at `warn` at most.
pub(crate) fn filter_for(level: LogLevel) -> String {
    let (core, deps) = match level {
        LogLevel::Error => ("error", "error"),
        LogLevel::Warn => ("warn", "warn"),
        LogLevel::Info => ("info", "warn"),
        LogLevel::Debug => ("debug", "warn"),
        LogLevel::Trace => ("trace", "warn"),
    };
    format!("{deps},wayfare_core={core},wayfare_protocol={core}")
}

/// Shortens full Wayfare ids (`pay_5f1c0e9a…` → `pay_5f1c…`), masks long
/// base64url values (keys, signatures, tokens) and digit runs of 7 or more
/// (phone numbers) in a log line.
pub(crate) fn scrub(line: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+';
    let mut out = String::with_capacity(line.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(&scrub_word(word));
        word.clear();
    };
    for c in line.chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn scrub_word(word: &str) -> String {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    // A Wayfare id: lower-case prefix, `_`, 16+ hex characters.
    if let Some((prefix, rest)) = word.split_once('_') {
        if !prefix.is_empty()
            && prefix.chars().all(|c| c.is_ascii_lowercase())
            && rest.len() >= 16
            && rest.chars().all(|c| c.is_ascii_hexdigit())
        {
            return wayfare_protocol::ids::redact(word);
        }
    }
    // Keys, signatures, sealed data, tokens: long base64url.
    let mixed = word.chars().any(|c| c.is_ascii_uppercase()) && digits > 0;
    if word.len() >= 32 && (mixed || digits >= 8) {
        return "[redacted]".to_string();
    }
    // Phone numbers: 7+ digits (a leading + allowed).
    let bare = word.strip_prefix('+').unwrap_or(word);
    if bare.len() >= 7 && bare.chars().all(|c| c.is_ascii_digit()) {
        return "[number]".to_string();
    }
    word.to_string()
}

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
            scrub(&format!("{}{}", line.message, line.fields)),
        );
    }
}

/// Installs the process-wide logger: the core's log lines at `level` and
/// above go to `logger`; dependencies (HTTP, TLS, mDNS, storage libraries)
/// are filtered to warnings before anything crosses into the app. Lines
/// never carry keys, secrets, phone numbers or full identifiers.
///
/// Call once per process, before creating wallets; a second call fails with
/// `InvalidInput` and leaves the first logger in place. The logger lives
/// as long as the process. The library an app ships (built with the
/// `mobile` feature) has no `debug` or `trace` lines: asking for them there
/// gives `info` and above.
#[uniffi::export]
pub fn init_logging(level: LogLevel, logger: Arc<dyn LogSink>) -> Result<(), WalletError> {
    install(&filter_for(level), logger)
}

/// Installs the subscriber with a per-target directive
/// (`warn,wayfare_core=info`, the `RUST_LOG` syntax without regexes).
pub(crate) fn install(directive: &str, sink: Arc<dyn LogSink>) -> Result<(), WalletError> {
    let filter: Targets = directive
        .parse()
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
        let filter = DEFAULT_LOG_FILTER.parse::<Targets>().unwrap();
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
        assert!(install("wayfare_core=loudest", capture.clone()).is_err());
    }

    #[test]
    fn level_filters_the_core_and_caps_dependencies_at_warn() {
        let capture = Arc::new(Capture(Mutex::new(Vec::new())));
        let filter = filter_for(LogLevel::Debug).parse::<Targets>().unwrap();
        let subscriber = tracing_subscriber::registry().with(
            SinkLayer {
                sink: capture.clone(),
            }
            .with_filter(filter),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "wayfare_core::events", "queued");
            tracing::trace!(target: "wayfare_core::events", "too verbose");
            tracing::info!(target: "reqwest::connect", "dependency info");
            tracing::warn!(target: "sled::pagecache", "dependency warning");
        });
        let targets: Vec<String> = capture
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.1.clone())
            .collect();
        assert_eq!(targets, vec!["wayfare_core::events", "sled::pagecache"]);
        assert!(filter_for(LogLevel::Error).starts_with("error,"));
    }

    #[test]
    fn lines_are_scrubbed_of_identifiers_keys_and_numbers() {
        let line = scrub(
            "paid pay_5f1c0e9a2b7d4c3e8a6f1b2c for acc_0123456789abcdef0123 key=MCowBQYDK2VwAyEAx1ZbN9q0c3RkY2t5dGVzdGtleQ phone=+8613800138000 code=insufficient_funds at wayfare_core::payments amount 250",
        );
        assert_eq!(
            line,
            "paid pay_5f1c… for acc_0123… key=[redacted] phone=[number] code=insufficient_funds at wayfare_core::payments amount 250"
        );
        // Already redacted ids pass unchanged.
        assert_eq!(scrub("key=idem_ab12…"), "key=idem_ab12…");
    }
}
