//! The on-site prompt device (P4): the terminal subscribes as one of its
//! merchant's devices (a staff device holding its own device key, joined
//! with an invitation code from the owner, with the scopes the owner chose)
//! and speaks or displays every merchant prompt through a command hook
//! (e.g. `espeak-ng`), announcing each order once, across restarts too.
//!
//! Configured by an `[announcer]` section in the terminal's TOML file:
//!
//! ```toml
//! [announcer]
//! invitation = "ABCD-EFGH"                 # accepted once, on first start
//! command = ["espeak-ng", "-v", "{locale}", "{speech}"]
//! ```
//!
//! `{speech}`, `{display}` and `{locale}` in the command are replaced; the
//! command also gets `WAYFARE_PROMPT_SPEECH`, `WAYFARE_PROMPT_DISPLAY` and
//! `WAYFARE_PROMPT_LOCALE`. Without a command, prompts are logged.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::future::BoxFuture;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wayfare_protocol::ids::redact;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::prompt::{render, PromptData};
use wayfare_protocol::request_auth::sign_request;

use crate::config::TerminalConfig;
use crate::error::{Result, TerminalError};
use crate::linkage::LinkageError;

/// The `[announcer]` section.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncerConfig {
    /// The owner's staff invitation (code or QR payload), accepted on the
    /// first start; later starts reuse the membership.
    #[serde(default)]
    pub invitation: Option<String>,
    /// The command that announces a prompt; empty: log only.
    #[serde(default)]
    pub command: Vec<String>,
    /// How long the command may run.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The name the announcer's device registers with.
    #[serde(default = "default_name")]
    pub name: String,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_name() -> String {
    "On-site announcer".into()
}

/// Reads a terminal configuration file that may hold an `[announcer]`
/// section; paths are resolved like [`TerminalConfig::from_file`].
pub async fn load_config(path: &Path) -> Result<(TerminalConfig, Option<AnnouncerConfig>)> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(TerminalError::file("cannot read configuration file", path))?;
    let (rest, announcer) = split_config(&text)?;
    let mut config = TerminalConfig::from_toml_str(&rest)?;
    config.resolve_paths(path.parent().unwrap_or_else(|| Path::new(".")));
    Ok((config, announcer))
}

/// Splits the `[announcer]` section off a terminal configuration.
pub fn split_config(text: &str) -> Result<(String, Option<AnnouncerConfig>)> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| TerminalError::Config(format!("configuration: {e}")))?;
    let announcer = match table.remove("announcer") {
        None => None,
        Some(value) => Some(
            value
                .try_into::<AnnouncerConfig>()
                .map_err(|e| TerminalError::Config(format!("[announcer]: {e}")))?,
        ),
    };
    let rest = toml::to_string(&table)
        .map_err(|e| TerminalError::Config(format!("configuration: {e}")))?;
    Ok((rest, announcer))
}

/// A prompt to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The server's event id.
    pub event_id: u64,
    /// What the device received (only its scope's attributes).
    pub data: PromptData,
    /// One line for a display.
    pub display: String,
    /// What to say.
    pub speech: String,
}

/// Whatever speaks or shows prompts (the linkage device's announcer role).
pub trait PromptSpeaker: Send + Sync {
    /// Announces one prompt.
    fn announce<'a>(&'a self, a: &'a Announcement) -> BoxFuture<'a, Result<(), LinkageError>>;
}

/// Logs that a prompt arrived (no command configured). The prompt's text
/// is not logged: it names the payer.
#[derive(Debug, Default)]
pub struct LogSpeaker;

impl PromptSpeaker for LogSpeaker {
    fn announce<'a>(&'a self, a: &'a Announcement) -> BoxFuture<'a, Result<(), LinkageError>> {
        Box::pin(async move {
            tracing::info!(
                event = a.event_id,
                order = %a.data.order_id.as_deref().map(redact).unwrap_or_default(),
                amount_minor = a.data.amount_minor,
                currency = a.data.currency.as_deref().unwrap_or(""),
                "merchant prompt announced (text not logged: it names the payer)"
            );
            Ok(())
        })
    }
}

/// Runs a command per prompt (e.g. `espeak-ng`).
#[derive(Debug, Clone)]
pub struct CommandSpeaker {
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandSpeaker {
    /// A speaker running `argv` with `{speech}`, `{display}`, `{locale}`
    /// replaced.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Self {
        Self { argv, timeout }
    }
}

impl PromptSpeaker for CommandSpeaker {
    fn announce<'a>(&'a self, a: &'a Announcement) -> BoxFuture<'a, Result<(), LinkageError>> {
        Box::pin(async move {
            let fill = |s: &String| {
                s.replace("{speech}", &a.speech)
                    .replace("{display}", &a.display)
                    .replace("{locale}", &a.data.locale)
            };
            let argv: Vec<String> = self.argv.iter().map(fill).collect();
            let Some((program, args)) = argv.split_first() else {
                return Ok(());
            };
            let mut command = tokio::process::Command::new(program);
            command
                .args(args)
                .env("WAYFARE_PROMPT_SPEECH", &a.speech)
                .env("WAYFARE_PROMPT_DISPLAY", &a.display)
                .env("WAYFARE_PROMPT_LOCALE", &a.data.locale)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            match tokio::time::timeout(self.timeout, command.status()).await {
                Err(_) => Err(LinkageError(format!("announcer {program:?} timed out"))),
                Ok(Err(e)) => Err(LinkageError(format!(
                    "cannot run announcer {program:?}: {e}"
                ))),
                Ok(Ok(s)) if s.success() => Ok(()),
                Ok(Ok(s)) => Err(LinkageError(format!("announcer {program:?} failed: {s}"))),
            }
        })
    }
}

/// The speaker a configuration names.
pub fn speaker_for(config: &AnnouncerConfig) -> Arc<dyn PromptSpeaker> {
    if config.command.is_empty() {
        Arc::new(LogSpeaker)
    } else {
        Arc::new(CommandSpeaker::new(
            config.command.clone(),
            Duration::from_millis(config.timeout_ms),
        ))
    }
}

fn store_err(e: impl std::fmt::Display) -> TerminalError {
    TerminalError::Store(format!("announcer store: {e}"))
}

fn platform(status: Option<u16>, retryable: bool, message: String) -> TerminalError {
    TerminalError::Platform {
        status,
        retryable,
        message,
    }
}

/// The announcer's device identity and progress, in `announcer.sled`.
struct State {
    tree: sled::Tree,
    db: sled::Db,
}

impl State {
    async fn open(path: &Path) -> Result<Self> {
        let db = crate::reports::open_db(path).await?;
        Ok(Self {
            tree: db.open_tree("announcer").map_err(store_err)?,
            db,
        })
    }

    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tree
            .get(key)
            .map_err(store_err)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    async fn set(&self, key: &str, value: &str) -> Result<()> {
        self.tree.insert(key, value.as_bytes()).map_err(store_err)?;
        crate::durable::flush(&self.db).await.map_err(store_err)?;
        Ok(())
    }

    /// True the first time a merchant's order key is seen.
    fn first_sighting(&self, merchant: &str, key: &str) -> Result<bool> {
        let k = format!("seen/{merchant}/{key}");
        let outcome = self
            .tree
            .compare_and_swap(k, None as Option<&[u8]>, Some(&b"1"[..]))
            .map_err(store_err)?;
        Ok(outcome.is_ok())
    }
}

/// A device-signed client of the control center.
struct Client {
    http: reqwest::Client,
    base: String,
    key: SigningKey,
}

impl Client {
    async fn send(
        &self,
        key_id: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let sig = sign_request(&self.key, key_id, method, path, bytes.as_bytes(), now_ms())?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| TerminalError::Config(e.to_string()))?;
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| platform(None, true, format!("{path}: {e}")))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(platform(
                Some(status.as_u16()),
                status.is_server_error(),
                format!(
                    "{path}: {}",
                    value["error"]["code"].as_str().unwrap_or("error")
                ),
            ))
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A running announcer. [`RunningAnnouncer::shutdown`] stops it.
pub struct RunningAnnouncer {
    device_id: String,
    announced: Arc<AtomicU64>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningAnnouncer {
    /// The announcer's device id (a staff device of the merchant).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Prompts announced since start.
    pub fn announced(&self) -> u64 {
        self.announced.load(Ordering::SeqCst)
    }

    /// Stops listening.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningAnnouncer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Starts the announcer: registers its device key (`announcer.key` in
/// `data_dir`) on first start, accepts the invitation once, then follows
/// the device's prompts until shutdown, reconnecting with `Last-Event-ID`.
pub async fn start(
    config: &AnnouncerConfig,
    data_dir: &Path,
    server_url: &str,
    speaker: Arc<dyn PromptSpeaker>,
) -> Result<RunningAnnouncer> {
    crate::platform::install_crypto_provider();
    tokio::fs::create_dir_all(data_dir)
        .await
        .map_err(TerminalError::file(
            "cannot create data directory",
            data_dir,
        ))?;
    let key = crate::keys::load_or_create_key(&data_dir.join("announcer.key")).await?;
    let state = State::open(&data_dir.join("announcer.sled")).await?;
    let client = Client {
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| platform(None, false, e.to_string()))?,
        base: server_url.trim_end_matches('/').to_string(),
        key,
    };
    let device_id = match state.get("device_id")? {
        Some(id) => id,
        None => {
            let body = json!({"display_name": config.name, "device_key": client.key.public_key().to_base64()});
            let answer = client
                .send("register", "POST", "/v1/devices", Some(&body))
                .await?;
            let id = answer["device_id"].as_str().unwrap_or_default().to_string();
            if id.is_empty() {
                return Err(platform(
                    None,
                    false,
                    "registration gave no device id".into(),
                ));
            }
            state.set("device_id", &id).await?;
            id
        }
    };
    if let Some(code) = &config.invitation {
        let marker = format!("joined/{}", code.trim());
        if state.get(&marker)?.is_none() {
            let body = json!({ "code": code });
            client
                .send(
                    &device_id,
                    "POST",
                    "/v1/merchants/invitations/accept",
                    Some(&body),
                )
                .await?;
            state.set(&marker, "1").await?;
            tracing::info!(device = %redact(&device_id), "announcer joined its merchant");
        }
    }
    let (shutdown, stop) = watch::channel(false);
    let announced = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(follow(
        client,
        state,
        device_id.clone(),
        speaker,
        announced.clone(),
        stop,
    ));
    Ok(RunningAnnouncer {
        device_id,
        announced,
        shutdown,
        task: Some(task),
    })
}

async fn follow(
    client: Client,
    state: State,
    device_id: String,
    speaker: Arc<dyn PromptSpeaker>,
    announced: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let run = listen(&client, &state, &device_id, speaker.as_ref(), &announced);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            result = run => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "announcer stream ended; reconnecting");
                } else {
                    backoff = Duration::from_millis(200);
                }
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn listen(
    client: &Client,
    state: &State,
    device_id: &str,
    speaker: &dyn PromptSpeaker,
    announced: &AtomicU64,
) -> Result<()> {
    let path = "/v1/devices/me/events";
    let sig = sign_request(&client.key, device_id, "GET", path, b"", now_ms())?;
    let mut req = client.http.get(format!("{}{path}", client.base));
    for (name, value) in sig.headers() {
        req = req.header(name, value);
    }
    if let Some(cursor) = state.get("cursor")? {
        req = req.header("last-event-id", cursor);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| platform(None, true, format!("{path}: {e}")))?;
    if !resp.status().is_success() {
        return Err(platform(
            Some(resp.status().as_u16()),
            true,
            format!("{path} refused"),
        ));
    }
    let mut events = resp.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| platform(None, true, format!("{path}: {e}")))?;
        let Ok(event_id) = event.id.trim().parse::<u64>() else {
            continue;
        };
        if event.event == "merchant.prompt" {
            match serde_json::from_str::<PromptData>(&event.data) {
                Ok(data) if state.first_sighting(&data.merchant_id, &data.dedupe_key)? => {
                    let rendered = render(&data, &data.locale);
                    let a = Announcement {
                        event_id,
                        data,
                        display: rendered.display,
                        speech: rendered.speech,
                    };
                    if let Err(e) = speaker.announce(&a).await {
                        tracing::warn!(error = %e, "announcing a prompt failed");
                    }
                    announced.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => tracing::debug!(event = event_id, "duplicate prompt dropped"),
                // Not the error's text: serde quotes the offending value,
                // which may be the payer's name.
                Err(e) => tracing::warn!(
                    event = event_id,
                    kind = ?e.classify(),
                    line = e.line(),
                    column = e.column(),
                    "unreadable prompt skipped"
                ),
            }
        }
        state.set("cursor", &event_id.to_string()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcer_section_is_split_off() {
        let text = "server_url = \"http://x\"\n[announcer]\ninvitation = \"ABCD-EFGH\"\ncommand = [\"espeak-ng\", \"{speech}\"]\n";
        let (rest, a) = split_config(text).unwrap();
        assert!(!rest.contains("announcer"));
        assert!(rest.contains("server_url"));
        let a = a.unwrap();
        assert_eq!(a.invitation.as_deref(), Some("ABCD-EFGH"));
        assert_eq!(a.command, vec!["espeak-ng", "{speech}"]);
        assert!(split_config("[announcer]\nbogus = 1\n").is_err());
        assert!(split_config("server_url = \"x\"\n").unwrap().1.is_none());
    }

    #[tokio::test]
    async fn a_terminal_file_with_an_announcer_section_loads() {
        let key = || SigningKey::generate().unwrap().public_key().to_base64();
        let text = format!(
            "server_url = \"http://127.0.0.1:8080\"\ndata_dir = \"data\"\noperator_key = \"{}\"\n\
             receipt_key = \"{}\"\nterminal_id = \"term_1\"\n\n[mode]\nkind = \"pos\"\n\
             currency = \"CNY\"\n\n[announcer]\ninvitation = \"ABCD-EFGH\"\n\
             command = [\"espeak-ng\", \"-v\", \"{{locale}}\", \"{{speech}}\"]\n",
            key(),
            key()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("terminal.toml");
        tokio::fs::write(&path, text).await.unwrap();
        let (config, announcer) = load_config(&path).await.unwrap();
        assert_eq!(config.data_dir, dir.path().join("data"));
        let announcer = announcer.unwrap();
        assert_eq!(announcer.command[2], "{locale}");
        assert_eq!(announcer.timeout_ms, 10_000);
    }
}
