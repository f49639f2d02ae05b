//! A TCP proxy on loopback that injects network faults between a wallet and
//! the control center: forward normally, refuse connections (server
//! unreachable), or forward requests but lose the responses (the server
//! commits, the phone never hears back).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does with the next connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FaultMode {
    /// Pass bytes both ways.
    Forward = 0,
    /// Close each connection at once, as an unreachable server would.
    /// Switching to it also cuts the connections already forwarding (a
    /// long-lived event stream breaks as it would in a real outage).
    Refuse = 1,
    /// Send the request upstream, swallow the response, then close.
    LoseResponses = 2,
}

/// A running proxy. Dropping it stops accepting connections.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    changes: tokio::sync::watch::Sender<u8>,
    lost_responses: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(AtomicU8::new(FaultMode::Forward as u8));
        let lost_responses = Arc::new(AtomicUsize::new(0));
        let changes = tokio::sync::watch::Sender::new(FaultMode::Forward as u8);
        let (m, lost, c) = (mode.clone(), lost_responses.clone(), changes.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = m.load(Ordering::SeqCst);
                let lost = lost.clone();
                let cut = c.subscribe();
                tokio::spawn(async move {
                    let _ = serve(client, upstream, mode, lost, cut).await;
                });
            }
        });
        Ok(Self {
            addr,
            mode,
            changes,
            lost_responses,
            task,
        })
    }

    /// `http://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the behaviour for new connections.
    pub fn set_mode(&self, mode: FaultMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.changes.send_replace(mode as u8);
    }

    /// How many responses were swallowed so far.
    pub fn lost_responses(&self) -> usize {
        self.lost_responses.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    mode: u8,
    lost: Arc<AtomicUsize>,
    mut cut: tokio::sync::watch::Receiver<u8>,
) -> std::io::Result<()> {
    if mode == FaultMode::Refuse as u8 {
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream).await?;
    if mode == FaultMode::Forward as u8 {
        tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut client, &mut server) => {
                copied?;
            }
            _ = cut.wait_for(|m| *m == FaultMode::Refuse as u8) => {}
        }
        return Ok(());
    }
    // LoseResponses: relay the request bytes; when the server starts
    // answering, read its answer fully, drop it, and close the client.
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut buf = vec![0u8; 16 * 1024];
    let mut answer = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = cr.read(&mut buf) => {
                let n = n?;
                if n == 0 { return Ok(()); }
                sw.write_all(&buf[..n]).await?;
            }
            n = sr.read(&mut answer) => {
                if n? > 0 {
                    lost.fetch_add(1, Ordering::SeqCst);
                }
                cw.shutdown().await.ok();
                return Ok(());
            }
        }
    }
}
