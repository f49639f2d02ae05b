//! The background subscribers: device event streams held open by raw HTTP/1.1
//! clients (one TCP connection each, a signed `GET /v1/devices/me/events`,
//! the body drained and discarded), so ten thousand of them cost the load
//! generator little. Also the server-side readings: the open-stream gauge
//! of `GET /metrics` and the server process's resident memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use wayfare_protocol::request_auth::sign_request;

use crate::client::Api;
use crate::setup::Device;

/// The path of the device event stream.
pub const EVENTS_PATH: &str = "/v1/devices/me/events";

/// The raw streams of a run, kept open until [`RawStreams::close`].
pub struct RawStreams {
    close: watch::Sender<bool>,
    /// Streams whose connection ended before the run closed them.
    pub ended_early: Arc<AtomicUsize>,
    tasks: tokio::task::JoinSet<()>,
}

impl RawStreams {
    /// Opens one stream per device, `concurrency` handshakes at a time.
    pub async fn open(
        server: &str,
        devices: Vec<Device>,
        concurrency: usize,
    ) -> Result<RawStreams> {
        let (addr, host) = address(server)?;
        let (close, closed) = watch::channel(false);
        let ended_early = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let mut opening = tokio::task::JoinSet::new();
        let total = devices.len();
        let mut opened = 0usize;
        for device in devices {
            let host = host.clone();
            opening.spawn(async move { connect(addr, &host, &device).await });
            if opening.len() >= concurrency {
                if let Some(done) = opening.join_next().await {
                    hold(&mut tasks, done??, &closed, &ended_early);
                    opened += 1;
                    progress(opened, total);
                }
            }
        }
        while let Some(done) = opening.join_next().await {
            hold(&mut tasks, done??, &closed, &ended_early);
            opened += 1;
            progress(opened, total);
        }
        eprintln!();
        Ok(RawStreams {
            close,
            ended_early,
            tasks,
        })
    }

    /// Closes every stream and waits until their tasks are gone.
    pub async fn close(mut self) {
        let _ = self.close.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn progress(opened: usize, total: usize) {
    if opened.is_multiple_of(500) || opened == total {
        eprint!("\r  raw streams open: {opened}/{total}   ");
    }
}

/// Keeps `stream` open, draining what the server sends (keep-alives),
/// until the run closes it; counts it in `ended_early` if the server ends
/// it first.
fn hold(
    tasks: &mut tokio::task::JoinSet<()>,
    mut stream: TcpStream,
    closed: &watch::Receiver<bool>,
    ended_early: &Arc<AtomicUsize>,
) {
    let mut closed = closed.clone();
    let ended_early = ended_early.clone();
    tasks.spawn(async move {
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                _ = closed.wait_for(|c| *c) => return,
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => {
                        ended_early.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(_) => {}
                },
            }
        }
    });
}

/// The socket address and `Host` header of an `http://` base URL.
fn address(server: &str) -> Result<(SocketAddr, String)> {
    let url = reqwest::Url::parse(server).with_context(|| format!("server URL {server:?}"))?;
    if url.scheme() != "http" {
        bail!("the streams mode's raw clients speak plain http:// only (loopback benches)");
    }
    let host = url.host_str().context("the server URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
        .next()
        .with_context(|| format!("cannot resolve {host}"))?;
    Ok((addr, format!("{host}:{port}")))
}

/// Opens `device`'s event stream: a signed GET, and the answer's head read
/// up to the empty line (it must be 200).
async fn connect(addr: SocketAddr, host: &str, device: &Device) -> Result<TcpStream> {
    let signature = sign_request(
        &device.key,
        &device.device_id,
        "GET",
        EVENTS_PATH,
        b"",
        crate::client::now_ms(),
    )?;
    let mut request =
        format!("GET {EVENTS_PATH} HTTP/1.1\r\nhost: {host}\r\naccept: text/event-stream\r\n");
    for (name, value) in signature.headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr)
        .await
        .context("connecting a raw event stream")?;
    stream.set_nodelay(true)?;
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .context("no answer to a raw event stream request within 30 s")??;
        if n == 0 || head.len() > 16 * 1024 {
            bail!("the server closed a raw event stream before answering");
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    if !status_line.starts_with("HTTP/1.1 200") {
        bail!("opening an event stream answered {status_line:?}");
    }
    Ok(stream)
}

/// `wayfare_event_stream_subscribers{stream="device"}` from `GET /metrics`.
pub async fn device_subscribers(api: &Api) -> Result<u64> {
    let text = api.admin_text(Method::GET, "/metrics").await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("wayfare_event_stream_subscribers") && l.contains("\"device\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum())
}

/// Waits until the server counts at least `n` open device streams (at most
/// `timeout`); returns the last count.
pub async fn wait_for_subscribers(api: &Api, n: u64, timeout: Duration) -> Result<u64> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let open = device_subscribers(api).await?;
        if open >= n || tokio::time::Instant::now() >= deadline {
            return Ok(open);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The resident memory (`VmRSS`) of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS has no value")?
        .parse()?;
    Ok(kib * 1024)
}

/// A guardian's stream read by a raw client: the chunked body decoded and
/// every `guardian.alert` event's `payment_id` and `at_ms` handed to
/// `on_alert` as soon as its last line arrives.
pub async fn follow_alerts(
    server: &str,
    device: Device,
    mut closed: watch::Receiver<bool>,
    on_alert: Arc<dyn Fn(String, i64) + Send + Sync>,
) -> Result<()> {
    let (addr, host) = address(server)?;
    let mut stream = connect(addr, &host, &device).await?;
    let mut raw: Vec<u8> = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::select! {
            _ = closed.wait_for(|c| *c) => return Ok(()),
            read = stream.read(&mut buf) => read?,
        };
        if n == 0 {
            bail!("the server ended a guardian's stream");
        }
        raw.extend_from_slice(&buf[..n]);
        // Chunked transfer coding: "<hex size>\r\n<data>\r\n" repeated.
        while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&raw[..eol]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("bad chunk size {size_text:?}"))?;
            if raw.len() < eol + 2 + size + 2 {
                break;
            }
            body.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
            raw.drain(..eol + 2 + size + 2);
        }
        // Server-sent events end with an empty line.
        while let Some(end) = body.windows(2).position(|w| w == b"\n\n") {
            let event = String::from_utf8_lossy(&body[..end]).to_string();
            body.drain(..end + 2);
            if !event.lines().any(|l| l == "event: guardian.alert") {
                continue;
            }
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            let value: serde_json::Value = serde_json::from_str(&data)?;
            if let (Some(id), Some(at)) = (value["payment_id"].as_str(), value["at_ms"].as_i64()) {
                on_alert(id.to_string(), at);
            }
        }
    }
}
